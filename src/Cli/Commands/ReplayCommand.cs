using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Sim.Engine.Trace;
using Virtsim.Cli.Replay;
using Virtsim.Fuzz.Engine;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim replay &lt;trace|dir&gt;...</c>: replays each trace and verifies it byte for byte;
/// prints one line per trace and a total; exits 1 on any divergence, 2 if a trace is unreadable. A fuzz finding
/// trace (scenario <c>fuzz/&lt;target&gt;</c>) re-runs its input on the target and must fire the same oracle at the
/// same site again; its line says so ("finding reproduced: ...").</summary>
internal static class ReplayCommand
{
    public static Command Build(CliApp app)
    {
        var paths = new Argument<string[]>("traces")
        {
            Description = "Trace files or directories (every *.vtrace below them)",
            Arity = ArgumentArity.OneOrMore,
        };
        var backend = new Option<string?>("--backend")
        {
            Description =
                "KVM recordings only: replay against this backend's machine instead (virtio, vhost or kernel-vhost, "
                + "the last two both our vhost-demo model; a differential check of what the guest sees)",
        };
        backend.AcceptOnlyFromAmong("virtio", "vhost", "kernel-vhost");
        var cmd = new Command(
            "replay",
            "Replay traces and verify every event, checkpoint and the final memory hash (fuzz finding traces: and "
                + "that the finding fires again)"
        )
        {
            paths,
            backend,
        };
        cmd.SetAction(pr => Execute(app, pr.GetValue(paths)!, pr.GetValue(backend)));
        return cmd;
    }

    private static int Execute(CliApp app, string[] paths, string? backend)
    {
        var skipped = new List<string>();
        var files = paths.SelectMany(p => TraceFiles.Expand(p, skipped)).ToList();
        foreach (string note in skipped)
            app.Err.WriteLine($"virtsim: {note}");
        if (files.Count == 0)
            throw new CliInputException($"no {TraceFiles.Extension} files under {string.Join(", ", paths)}");
        int width = Math.Max(5, files.Max(f => f.Length));
        app.Out.WriteLine(
            $"{"trace".PadRight(width)}  {"origin", -9}  {"events", 9}  {"result", -8}  {"events/s", 10}"
        );
        int matched = 0,
            diverged = 0,
            errors = 0;
        ulong totalEvents = 0;
        var details = new List<string>();
        var total = Stopwatch.StartNew();
        foreach (string file in files)
        {
            var watch = Stopwatch.StartNew();
            ReplayOutcome outcome = ReplayOne(file, backend);
            watch.Stop();
            totalEvents += outcome.Events;
            PrintRow(app, file, width, outcome, watch.Elapsed);
            switch (outcome.Verdict)
            {
                case ReplayVerdict.Match:
                    matched++;
                    if (outcome.Note is { } note)
                        details.Add($"{file}: {note}");
                    break;
                case ReplayVerdict.Diverged:
                    diverged++;
                    details.Add($"{file}: {outcome.Detail}");
                    break;
                default:
                    errors++;
                    details.Add($"{file}: {outcome.Detail}");
                    break;
            }
        }
        total.Stop();
        foreach (string d in details)
            app.Out.WriteLine(d);
        app.Out.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"replayed {files.Count} traces: {matched} ok, {diverged} diverged, {errors} unreadable; "
                    + $"{totalEvents} events in {total.Elapsed.TotalSeconds:F2}s"
            )
        );
        if (errors > 0)
            return ExitCodes.UsageOrInput;
        return diverged > 0 ? ExitCodes.Finding : ExitCodes.Ok;
    }

    /// <summary>One trace's line of the table: file, origin, events, result and replay speed.</summary>
    private static void PrintRow(CliApp app, string file, int width, ReplayOutcome outcome, TimeSpan elapsed)
    {
        string rate =
            outcome.Events == 0
                ? "-"
                : (outcome.Events / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("N0", CultureInfo.InvariantCulture);
        string result = outcome.Verdict switch
        {
            ReplayVerdict.Match => "ok",
            ReplayVerdict.Diverged => "DIVERGED",
            _ => "ERROR",
        };
        app.Out.WriteLine(
            $"{file.PadRight(width)}  {outcome.Origin, -9}  {outcome.Events, 9}  {result, -8}  {rate, 10}"
        );
    }

    internal static ReplayOutcome ReplayOne(string file, string? backend)
    {
        ReplayOutcome? kvm = KvmReplayer.TryReplay(file, backend);
        if (kvm is not null)
            return kvm;
        FileStream stream;
        try
        {
            stream = TraceFiles.OpenRead(file);
        }
        catch (CliInputException ex)
        {
            return new ReplayOutcome(ReplayVerdict.Error, "?", 0, ex.Message);
        }
        using (stream)
        {
            if (!TraceReader.TryOpen(stream, out TraceReader? reader, out TraceError? error))
            {
                return new ReplayOutcome(ReplayVerdict.Error, "?", 0, error.Message);
            }
            using (reader)
            {
                ReplayOutcome outcome = FindingTrace.IsFindingTrace(reader.Header)
                    ? FindingTraceReplayer.Replay(reader)
                    : SimulatedReplayer.Replay(reader);
                return ReplayIntegrity.Check(outcome, reader);
            }
        }
    }
}
