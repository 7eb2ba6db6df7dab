using System.CommandLine;
using System.Globalization;
using Sim.Kvm;
using Sim.Machine.Scenarios;
using Sim.Scenarios.Recording;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim record</c>: runs a real guest program on the machine's /dev/kvm against a device model and
/// writes the trace (docs/recording.md). Prints the guest's console and a summary. Needs /dev/kvm; says so plainly
/// and exits 2 where it is missing or unusable.</summary>
internal static class RecordCommand
{
    public const string KvmDevice = KvmSystem.DevicePath;

    /// <summary>The device node the lab's kernel vhost-demo module creates.</summary>
    public const string KernelVhostDevice = "/dev/vhost-demo";

    public static Command Build(CliApp app)
    {
        var guest = new Option<string>("--guest")
        {
            Description =
                "Guest program: a name (guest/out/<name>.bin, built by guest/build) or a path to a flat binary",
            Required = true,
        };
        var device = new Option<string>("--device")
        {
            Description =
                "Device model serving the guest's exits: demo, virtio-demo, factorial, counter, blk "
                + "(vhost-demo = virtio-demo --backend vhost)",
            Required = true,
        };
        var backend = BackendOption();
        var opt = new Option<string[]>("--opt", "-O")
        {
            Description =
                "Scenario option key=value (repeatable): transport, irq, notify, flavour, requests, ...; "
                + "also written to the guest's parameter block",
            AllowMultipleArgumentsPerToken = false,
            DefaultValueFactory = _ => [],
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Trace file to write (required unless --no-trace)",
        };
        var noTrace = new Option<bool>("--no-trace")
        {
            Description =
                "Recorder off: run the same guest on the same machine (device models, threads, memory sync) "
                + "but write no trace; the baseline for measuring recording overhead",
        };
        var force = new Option<bool>("--force") { Description = "Replace an existing output file" };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Seconds the guest may run before the recording is abandoned",
            DefaultValueFactory = _ => 120,
        };
        var wiring = KernelVhostWiringOption();
        var cmd = new Command("record", "Record a trace from a real KVM run (needs /dev/kvm)")
        {
            guest,
            device,
            backend,
            opt,
            output,
            noTrace,
            force,
            timeout,
        };
        cmd.Options.Add(wiring);
        cmd.SetAction(pr =>
            Execute(
                app,
                pr.GetValue(guest)!,
                pr.GetValue(device)!,
                pr.GetValue(backend)!,
                pr.GetValue(opt) ?? [],
                pr.GetValue(output),
                pr.GetValue(noTrace),
                pr.GetValue(force),
                pr.GetValue(timeout),
                pr.GetValue(wiring)!
            )
        );
        return cmd;
    }

    private static Option<string> BackendOption()
    {
        var backend = new Option<string>("--backend")
        {
            Description =
                "virtio (userspace device), vhost (vhost worker in this process) or kernel-vhost "
                + "(the lab's kernel module)",
            DefaultValueFactory = _ => "virtio",
        };
        backend.AcceptOnlyFromAmong("virtio", "vhost", "kernel-vhost");
        return backend;
    }

    private static Option<string> KernelVhostWiringOption()
    {
        var wiring = new Option<string>("--kernel-vhost-wiring")
        {
            Description =
                "kernel-vhost only: relay (default; the recorder relays kick and call, every kernel "
                + "event at its own time) or direct (kick = the queue's KVM_IOEVENTFD, call = the vector's "
                + "KVM_IRQFD, as QEMU wires vhost; the module counts the kernel's events and the recorder stamps "
                + "them at the next exit; docs/recording.md §5)",
            DefaultValueFactory = _ => KernelVhostWiring.Relay,
        };
        wiring.AcceptOnlyFromAmong([.. KernelVhostWiring.All]);
        return wiring;
    }

    /// <summary>The scenario a device and backend name: the vhost backend of the virtio-demo device is the
    /// vhost-demo scenario.</summary>
    public static string ScenarioFor(string device, string backend)
    {
        if (backend == "virtio")
            return device;
        if (device is "virtio-demo" or "vhost-demo")
            return "vhost-demo";
        throw new CliInputException($"--backend {backend} serves only the virtio-demo device, not '{device}'");
    }

    /// <summary>A guest name resolves to guest/out/&lt;name&gt;.bin in the current directory or one above it, or
    /// above virtsim's own binaries; anything with a slash or a .bin suffix is a path.</summary>
    public static string ResolveGuest(string guest)
    {
        if (guest.Contains('/', StringComparison.Ordinal) || guest.EndsWith(".bin", StringComparison.Ordinal))
        {
            return File.Exists(guest) ? guest : throw new CliInputException($"guest image '{guest}' does not exist");
        }
        string relative = Path.Combine("guest", "out", guest + ".bin");
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, relative);
                if (File.Exists(candidate))
                    return candidate;
            }
        }
        throw new CliInputException(
            $"no guest named '{guest}': {relative} not found (build the guests with guest/build, or pass a path)"
        );
    }

    private static int Execute(
        CliApp app,
        string guestArg,
        string device,
        string backend,
        string[] pairs,
        string? output,
        bool noTrace,
        bool force,
        int timeoutSeconds,
        string wiring
    )
    {
        CheckArguments(backend, output, noTrace, timeoutSeconds, wiring);
        string scenario = ScenarioFor(device, backend);
        // KVM first: without it nothing else matters (and the message says so plainly).
        if (!KvmSystem.TryOpen(out KvmSystem? kvm, out string reason))
        {
            app.Err.WriteLine($"virtsim record: {reason}");
            return ExitCodes.UsageOrInput;
        }
        using KvmSystem kvmSystem = kvm!;
        // The host's devices next: a missing one makes every other argument moot.
        if (backend == "kernel-vhost" && !File.Exists(KernelVhostDevice))
        {
            app.Err.WriteLine(
                "virtsim record: the kernel-vhost backend is not available on this host "
                    + $"({KernelVhostDevice} is missing: the lab's vhost-demo module provides it, scripts/kvm-lab)"
            );
            return ExitCodes.UsageOrInput;
        }
        ScenarioOptions options = ParseScenarioOptions(pairs);
        string guestPath = ResolveGuest(guestArg);
        string guestName = Path.GetFileNameWithoutExtension(guestPath);
        byte[] image = File.ReadAllBytes(guestPath);
        if (output is not null && File.Exists(output) && !force)
            throw new CliInputException($"'{output}' exists; pass --force to replace it");
        var request = new RecordRequest(
            scenario,
            options.Named,
            guestName,
            image,
            backend,
            BuildInfo.Version,
            BuildInfo.Commit
        )
        {
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            Trace = !noTrace,
            KernelVhostWiring = wiring,
        };
        string? error = Record(kvmSystem, request, output, force, out RecordResult? result);
        if (error is not null)
        {
            app.Err.WriteLine($"virtsim record: {error}");
            return ExitCodes.UsageOrInput;
        }
        Print(app, scenario, guestName, backend, output, result!, options);
        return result!.GuestStatus == 0 ? ExitCodes.Ok : ExitCodes.Finding;
    }

    /// <summary>The --opt pairs, less the keys the recorder sets itself.</summary>
    private static ScenarioOptions ParseScenarioOptions(string[] pairs)
    {
        ScenarioOptions options = ScenarioOptionParser.Parse(0, pairs);
        foreach (string key in ExternalMachine.RecorderOptionKeys)
        {
            if (options.Named.ContainsKey(key))
                throw new CliInputException($"option '{key}' is set by the recorder");
        }
        return options;
    }

    /// <summary>Runs the recording into <paramref name="output"/> (written safely), or into nothing when the
    /// request has the recorder off; returns the error to print, or null with the result.</summary>
    private static string? Record(
        KvmSystem kvm,
        RecordRequest request,
        string? output,
        bool force,
        out RecordResult? result
    )
    {
        RecordResult? recorded = null;
        string? RecordInto(Stream stream)
        {
            try
            {
                recorded = KvmRecorder.Record(kvm, request, stream);
                return null;
            }
            catch (KvmException ex)
            {
                return "KVM: " + ex.Message;
            }
            catch (ArgumentException ex)
            {
                return $"{request.Scenario}: {ex.Message}";
            }
        }
        string? error = request.Trace ? SafeFile.Write(output!, force, RecordInto) : RecordInto(Stream.Null);
        result = recorded;
        return error;
    }

    /// <summary>The checks on the arguments alone, before any host device is opened.</summary>
    private static void CheckArguments(string backend, string? output, bool noTrace, int timeoutSeconds, string wiring)
    {
        if (wiring != KernelVhostWiring.Relay && backend != "kernel-vhost")
            throw new CliInputException("--kernel-vhost-wiring applies to --backend kernel-vhost only");
        if (timeoutSeconds is < 1 or > 3600)
            throw new CliInputException("--timeout must lie in [1, 3600] seconds");
        if (noTrace && output is not null)
            throw new CliInputException("--no-trace writes no trace: leave out --output");
        if (!noTrace && string.IsNullOrEmpty(output))
            throw new CliInputException("--output is required (or --no-trace to run without recording)");
    }

    private static void Print(
        CliApp app,
        string scenario,
        string guest,
        string backend,
        string? output,
        RecordResult r,
        ScenarioOptions options
    )
    {
        app.Out.WriteLine(
            $"record: guest={guest} scenario={scenario} backend={backend}"
                + string.Concat(options.Named.Select(kv => $" {kv.Key}={kv.Value}"))
        );
        foreach (string line in r.Report)
            app.Out.WriteLine(line);
        var inv = CultureInfo.InvariantCulture;
        app.Out.WriteLine(
            string.Create(
                inv,
                $"kvm: guest_status={r.GuestStatus} exits={r.Exits} kicks={r.Kicks} interrupts={r.Interrupts} "
                    + $"irqfds={r.IrqFdsAssigned} irqfd_signals={r.IrqFdSignals} guest_stores={r.GuestStores} "
                    + $"pages_compared={r.PagesCompared} ioeventfds_refused={r.IoEventFdsRefused}"
            )
        );
        string countKey = scenario switch
        {
            "counter" => "ticks",
            "blk" => "writes",
            _ => "requests",
        };
        string perRequest =
            options.Named.TryGetValue(countKey, out string? n)
            && long.TryParse(n, NumberStyles.Integer, inv, out long requests)
            && requests > 0
                ? string.Create(inv, $" requests={requests} us_per_request={r.GuestNs / 1000.0 / requests:F2}")
                : "";
        app.Out.WriteLine(
            string.Create(
                inv,
                $"time: wall_ms={r.GuestNs / 1e6:F2} cpu_ms={r.CpuNs / 1e6:F2} "
                    + $"memory_sync_ms={r.MemorySyncNs / 1e6:F2} "
                    + $"us_per_exit={(r.Exits == 0 ? 0 : r.GuestNs / 1000.0 / r.Exits):F2}{perRequest}"
            )
        );
        app.Out.WriteLine(
            r.Traced
                ? string.Create(
                    inv,
                    $"trace: {output} ({r.TraceBytes} bytes, {r.Events} events, "
                        + $"{(r.Events == 0 ? 0 : (double)r.TraceBytes / r.Events):F1} bytes/event)"
                )
                : string.Create(inv, $"trace: none (recorder off: --no-trace; the machine emitted {r.Events} events)")
        );
    }
}
