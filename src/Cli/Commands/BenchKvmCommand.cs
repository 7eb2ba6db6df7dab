using System.CommandLine;
using System.Globalization;
using Sim.Kvm;
using Sim.Machine.Kvm;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim bench kvm</c>: the real per-crossing and per-request costs on this machine's /dev/kvm
/// (docs/recording.md §7), printed beside the latency model's figures. First the bare paths
/// (<see cref="KvmPathBench"/>: userspace PIO and MMIO exits, ioeventfd-absorbed writes, no device model), then the
/// stress guest (one request in flight) against the virtio-demo device through the recorder's machine on three notify
/// paths (a userspace exit per notify, an ioeventfd to the userspace device, the vhost worker thread in this process
/// with its real irqfd), each with the recorder off (<c>--no-trace</c>) and on (a trace written to a temporary file):
/// the recording overhead. Every line gives wall and process CPU time; on a loaded host trust the CPU
/// figures.</summary>
internal static class BenchKvmCommand
{
    public static Command Build(CliApp app)
    {
        var operations = new Option<int>("--operations")
        {
            Description = "Crossings per bare path",
            DefaultValueFactory = _ => 100_000,
        };
        var rounds = new Option<int>("--requests")
        {
            Description = "Requests per machine path (the stress guest, one request in flight)",
            DefaultValueFactory = _ => 2000,
        };
        var cmd = new Command(
            "kvm",
            "Real KVM crossing costs on this machine (needs /dev/kvm and guest/build's guests), beside the latency "
                + "model"
        )
        {
            operations,
            rounds,
        };
        cmd.SetAction(pr => Execute(app, pr.GetValue(operations), pr.GetValue(rounds)));
        return cmd;
    }

    private static int Execute(CliApp app, int operations, int rounds)
    {
        if (operations is < 1 or > 10_000_000)
            throw new CliInputException("--operations must lie in [1, 10000000]");
        if (rounds is < 1 or > 1_000_000)
            throw new CliInputException("--requests must lie in [1, 1000000]");
        if (!KvmSystem.TryOpen(out KvmSystem? opened, out string reason))
        {
            app.Err.WriteLine($"virtsim bench kvm: {reason}");
            return ExitCodes.UsageOrInput;
        }
        using KvmSystem kvm = opened!;
        PrintHostAndModel(app, kvm);
        PrintBarePaths(app, kvm, operations);
        return MeasureMachinePaths(app, kvm, rounds);
    }

    private static void PrintHostAndModel(CliApp app, KvmSystem kvm)
    {
        LatencyModel model = LatencyModel.Default;
        app.Out.WriteLine(
            $"bench kvm: host {HostInfo.KernelRelease()} {HostInfo.KvmFlavour()} ({HostInfo.CpuModel()}), "
                + $"{Environment.ProcessorCount} CPUs, KVM API {kvm.ApiVersion}"
        );
        app.Out.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"model: userspace_exit_ns={model.UserspaceExitNs} ioeventfd_ns={model.IoEventFdNs} "
                    + $"irqfd_inject_ns={model.IrqFdInjectNs} userspace_msi_ns={model.UserspaceMsiNs} "
                    + $"worker_wakeup_ns={model.WorkerWakeupNs}"
            )
        );
    }

    private static void PrintBarePaths(CliApp app, KvmSystem kvm, int operations)
    {
        foreach (KvmPathCost c in KvmPathBench.Run(kvm, operations))
        {
            app.Out.WriteLine(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"bare: {c.Path}: ops={c.Operations} wall_ns_per_op={c.WallNsPerOperation:F0} "
                        + $"cpu_ns_per_op={c.CpuNsPerOperation:F0}"
                )
            );
        }
    }

    /// <summary>One notify path of the machine bench: its name, the scenario and backend it records, and the
    /// notify option (null where the backend has only one).</summary>
    private readonly record struct MachinePath(string Name, string Scenario, string Backend, string? Notify);

    private static int MeasureMachinePaths(CliApp app, KvmSystem kvm, int rounds)
    {
        // The stress guest with one request in flight and neither EVENT_IDX nor INDIRECT: each request is one notify
        // and one MSI-X completion interrupt, and the guest prints nothing in between.
        MachinePath[] paths =
        [
            new("warm-up (not a figure)", "virtio-demo", "virtio", "exit"),
            new("userspace exit", "virtio-demo", "virtio", "exit"),
            new("ioeventfd to userspace device", "virtio-demo", "virtio", "ioeventfd"),
            new("vhost worker thread + irqfd", "vhost-demo", "vhost", null),
        ];
        byte[] image = File.ReadAllBytes(RecordCommand.ResolveGuest("stress"));
        foreach (var p in paths)
        {
            foreach (bool trace in new[] { false, true })
            {
                RecordResult? r = RecordOnePath(app, kvm, p, image, rounds, trace, out int failure);
                if (r is null)
                    return failure;
                if (p.Notify == "exit" && p.Name.StartsWith("warm", StringComparison.Ordinal))
                    continue;
                PrintMachinePath(app, p, trace, rounds, r);
            }
        }
        return ExitCodes.Ok;
    }

    /// <summary>Records the stress guest once on <paramref name="p"/>: its result, or null (and the exit code in
    /// <paramref name="failure"/>) when the path failed.</summary>
    private static RecordResult? RecordOnePath(
        CliApp app,
        KvmSystem kvm,
        MachinePath p,
        byte[] image,
        int rounds,
        bool trace,
        out int failure
    )
    {
        var options = new Dictionary<string, string> { ["requests"] = rounds.ToString(CultureInfo.InvariantCulture) };
        if (p.Notify is not null)
            options["notify"] = p.Notify;
        var request = new RecordRequest(
            p.Scenario,
            options,
            "stress",
            image,
            p.Backend,
            BuildInfo.Version,
            BuildInfo.Commit
        )
        {
            Trace = trace,
            Timeout = TimeSpan.FromSeconds(600),
            GuestArgs = [16, 1, 1],
        };
        string file = Path.Combine(Path.GetTempPath(), $"virtsim-bench-kvm-{Environment.ProcessId}.vtrace");
        RecordResult r;
        failure = ExitCodes.Ok;
        try
        {
            using Stream output = trace ? File.Create(file) : Stream.Null;
            r = KvmRecorder.Record(kvm, request, output);
        }
        catch (Exception ex) when (ex is KvmException or ArgumentException)
        {
            app.Err.WriteLine($"virtsim bench kvm: {p.Name}: {ex.Message}");
            failure = ExitCodes.UsageOrInput;
            return null;
        }
        finally
        {
            File.Delete(file);
        }
        if (r.GuestStatus != 0)
        {
            app.Err.WriteLine($"virtsim bench kvm: {p.Name}: guest status {r.GuestStatus}");
            failure = ExitCodes.Finding;
            return null;
        }
        return r;
    }

    private static void PrintMachinePath(CliApp app, MachinePath p, bool trace, long requests, RecordResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        string traceBytes = trace
            ? string.Create(inv, $" trace_bytes_per_event={(double)r.TraceBytes / Math.Max(1UL, r.Events):F1}")
            : "";
        app.Out.WriteLine(
            string.Create(
                inv,
                $"machine: {p.Name}: recorder={(trace ? "on" : "off")} requests={requests} interrupts={r.Interrupts} "
                    + $"kicks={r.Kicks} exits_per_request={(double)r.Exits / requests:F1} "
                    + $"wall_us_per_request={r.GuestNs / 1e3 / requests:F1} "
                    + $"cpu_us_per_request={r.CpuNs / 1e3 / requests:F1} "
                    + $"memory_sync_us_per_request={r.MemorySyncNs / 1e3 / requests:F1}{traceBytes}"
            )
        );
    }
}
