using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Sim.Scenarios.Bench;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim bench ring</c>: N requests through the driver-side and device-side split-ring code
/// in one thread, B chains per kick; prints one line with the wall and process CPU time of the timed part
/// (<c>wall_s</c>, <c>cpu_s</c>, <c>cpu_ns_per_req</c>), ending in the wall-clock
/// <c>ns_per_request=&lt;value&gt;</c>.</summary>
internal static class BenchCommand
{
    public static Command Build(CliApp app)
    {
        var requests = new Option<long>("--requests", "-n")
        {
            Description = "Requests to run (after a warm-up)",
            DefaultValueFactory = _ => 10_000_000,
        };
        var batch = new Option<int>("--batch", "-b")
        {
            Description = "Chains the driver publishes per kick",
            DefaultValueFactory = _ => 32,
        };
        var queueSize = new Option<int>("--queue-size")
        {
            Description = "Queue size (power of two)",
            DefaultValueFactory = _ => 256,
        };
        var eventIdx = new Option<bool>("--event-idx") { Description = "Negotiate VIRTIO_F_EVENT_IDX" };
        var ring = new Command(
            "ring",
            "Split-ring throughput: 2-descriptor requests (8-byte readable, 8-byte writable). Runs under virtsim's "
                + "JIT settings (tiered compilation off, so no dynamic PGO); DOTNET_TieredCompilation=1 runs it as a "
                + "default .NET process (and BenchmarkDotNet) would"
        )
        {
            requests,
            batch,
            queueSize,
            eventIdx,
        };
        ring.SetAction(pr =>
            RunRing(app, pr.GetValue(requests), pr.GetValue(batch), pr.GetValue(queueSize), pr.GetValue(eventIdx))
        );
        var bench = new Command("bench", "Built-in benchmarks (BenchmarkDotNet suites live in bench/)")
        {
            ring,
            BenchKvmCommand.Build(app),
            BenchReplayCommand.Build(app),
        };
        return bench;
    }

    private static int RunRing(CliApp app, long n, int b, int q, bool eventIdx)
    {
        if (n <= 0 || n > RingBenchmark.RequestsMax)
            throw new CliInputException($"--requests must lie in [1, {RingBenchmark.RequestsMax}]");
        if (q < 2 || q > 32768 || (q & (q - 1)) != 0)
            throw new CliInputException("--queue-size must be a power of two in [2, 32768]");
        if (b < 1 || b > q / 2)
            throw new CliInputException(
                $"--batch must lie in [1, {q / 2}] (half the queue: each request takes 2 descriptors)"
            );
        // The process's CPU time over the same timed part as the wall clock: on a loaded machine the wall time
        // includes time the benchmark was not running, the CPU time does not.
        var cpu = new CpuStopwatch();
        RingBenchmarkResult r = RingBenchmark.Run(n, b, cpu.ReadWallAndMarkCpu, Stopwatch.Frequency, q, eventIdx);
        double cpuNsPerRequest = cpu.Elapsed.TotalNanoseconds / r.Requests;
        app.Out.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"bench ring: requests={r.Requests} batch={b} queue_size={q} "
                    + $"event_idx={eventIdx.ToString().ToLowerInvariant()} kicks={r.Kicks} "
                    + $"alloc_bytes_per_request={r.AllocatedBytesPerRequest:F3} "
                    + $"wall_s={r.ElapsedTimestamps / (double)Stopwatch.Frequency:F3} "
                    + $"cpu_s={cpu.Elapsed.TotalSeconds:F3} cpu_ns_per_req={cpuNsPerRequest:F2} "
                    + $"ns_per_request={r.NsPerRequest:F2}"
            )
        );
        return ExitCodes.Ok;
    }
}
