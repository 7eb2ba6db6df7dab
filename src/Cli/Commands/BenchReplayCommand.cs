using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Sim.Engine.Trace;
using Virtsim.Cli.Replay;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim bench replay &lt;trace|dir&gt;...</c>: replay speed (docs/recording.md §7). Each trace is
/// replayed once to warm up (the CLI runs without tiered compilation, so the first replay of a process pays for
/// compiling the machine), then <c>--repeat</c> times measured: events per second of wall and of process CPU time,
/// trace bytes per event, and for recordings of a real KVM (origin kvm, whose clock is the host's) the ratio of the
/// recorded run's duration to one replay's CPU time. Exits 1 when a replay does not match.</summary>
internal static class BenchReplayCommand
{
    public static Command Build(CliApp app)
    {
        var paths = new Argument<string[]>("traces")
        {
            Description = "Trace files or directories (every *.vtrace below them)",
            Arity = ArgumentArity.OneOrMore,
        };
        var repeat = new Option<int>("--repeat")
        {
            Description = "Measured replays of each trace (after one warm-up)",
            DefaultValueFactory = _ => 5,
        };
        var cmd = new Command(
            "replay",
            "Replay speed: events/s (wall and CPU), bytes/event, and the speed-up over the recorded run for KVM "
                + "recordings"
        )
        {
            paths,
            repeat,
        };
        cmd.SetAction(pr => Execute(app, pr.GetValue(paths)!, pr.GetValue(repeat)));
        return cmd;
    }

    private static int Execute(CliApp app, string[] paths, int repeat)
    {
        if (repeat is < 1 or > 1000)
            throw new CliInputException("--repeat must lie in [1, 1000]");
        var skipped = new List<string>();
        var files = paths.SelectMany(p => TraceFiles.Expand(p, skipped)).ToList();
        foreach (string note in skipped)
            app.Err.WriteLine($"virtsim: {note}");
        if (files.Count == 0)
            throw new CliInputException($"no {TraceFiles.Extension} files under {string.Join(", ", paths)}");
        var inv = CultureInfo.InvariantCulture;
        bool allMatched = true;
        foreach (string file in files)
        {
            ReplayOutcome first = ReplayCommand.ReplayOne(file, null);
            if (first.Verdict != ReplayVerdict.Match)
            {
                app.Out.WriteLine($"bench replay: {file}: {first.Verdict}: {first.Detail}");
                allMatched = false;
                continue;
            }
            TimeSpan cpu0 = Environment.CpuUsage.TotalTime;
            long wall0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < repeat; i++)
            {
                if (ReplayCommand.ReplayOne(file, null).Verdict != ReplayVerdict.Match)
                    throw new InvalidOperationException($"{file}: a repeated replay did not match");
            }
            double wallS = Stopwatch.GetElapsedTime(wall0).TotalSeconds / repeat;
            double cpuS = (Environment.CpuUsage.TotalTime - cpu0).TotalSeconds / repeat;
            long bytes = new FileInfo(file).Length;
            string kvm = "";
            (TraceOrigin origin, long endTime) = OriginAndEnd(file);
            if (origin == TraceOrigin.Kvm && endTime > 0)
            {
                kvm = string.Create(
                    inv,
                    $" recorded_ms={endTime / 1e6:F1} speedup_cpu={endTime / 1e9 / cpuS:F1}x "
                        + $"speedup_wall={endTime / 1e9 / wallS:F1}x"
                );
            }
            app.Out.WriteLine(
                string.Create(
                    inv,
                    $"bench replay: {file}: origin={first.Origin} events={first.Events} "
                        + $"bytes_per_event={(double)bytes / Math.Max(1UL, first.Events):F1} "
                        + $"replay_wall_ms={wallS * 1e3:F2} replay_cpu_ms={cpuS * 1e3:F2} "
                        + $"events_per_s_wall={first.Events / wallS:F0} "
                        + $"events_per_s_cpu={first.Events / cpuS:F0}{kvm}"
                )
            );
        }
        return allMatched ? ExitCodes.Ok : ExitCodes.Finding;
    }

    /// <summary>The header's origin and the footer's end time (the recorded run's duration for a KVM
    /// recording).</summary>
    private static (TraceOrigin Origin, long EndTime) OriginAndEnd(string file)
    {
        using FileStream stream = TraceFiles.OpenRead(file);
        if (!TraceReader.TryOpen(stream, out TraceReader? reader, out _))
            return (TraceOrigin.Simulated, 0);
        using (reader)
        {
            if (reader.Header.Origin != TraceOrigin.Kvm)
                return (reader.Header.Origin, 0);
            while (reader.TryReadNext(out _, out _)) { }
            return (reader.Header.Origin, reader.Footer?.EndTime ?? 0);
        }
    }
}
