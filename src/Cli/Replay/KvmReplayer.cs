using System.Diagnostics;
using System.Globalization;
using Sim.Engine.Trace;
using Sim.Scenarios.Recording;
using Virtsim.Cli.Commands;

namespace Virtsim.Cli.Replay;

/// <summary>Replays a trace of origin <c>kvm</c> (<see cref="KvmTraceReplay"/>), optionally against another backend
/// (<c>--backend</c>), and says how fast: events per second and the ratio of the recorded run's duration to the
/// replay's.</summary>
public static class KvmReplayer
{
    /// <summary>The outcome for a KVM trace, or null when <paramref name="file"/> is not one (or cannot be read:
    /// the caller's own path reports that).</summary>
    public static ReplayOutcome? TryReplay(string file, string? backend)
    {
        try
        {
            using FileStream probe = TraceFiles.OpenRead(file);
            if (!TraceReader.TryOpen(probe, out TraceReader? reader, out _))
                return null;
            TraceHeader header = reader.Header;
            reader.Dispose();
            if (header.Origin != TraceOrigin.Kvm)
                return null;
            string? scenario = backend switch
            {
                null => null,
                "vhost" or "kernel-vhost" when header.Scenario is "virtio-demo" => "vhost-demo",
                "virtio" when header.Scenario is "vhost-demo" => "virtio-demo",
                _ => header.Scenario,
            };
            var watch = Stopwatch.StartNew();
            KvmReplayResult r = KvmTraceReplay.Replay(() => TraceFiles.OpenRead(file), scenario);
            watch.Stop();
            ReplayVerdict verdict = r.Verdict switch
            {
                KvmReplayVerdict.Match => ReplayVerdict.Match,
                KvmReplayVerdict.Diverged => ReplayVerdict.Diverged,
                _ => ReplayVerdict.Error,
            };
            bool kernel =
                header.Options.TryGetValue("backend", out string? recorded)
                && recorded == KvmTraceReplay.KernelVhostBackend;
            string against =
                (scenario is not null && scenario != header.Scenario) || kernel
                    ? $" against {scenario ?? header.Scenario} (guest-visible events compared)"
                    : "";
            double seconds = Math.Max(watch.Elapsed.TotalSeconds, 1e-9);
            string speed = string.Create(
                CultureInfo.InvariantCulture,
                $" replay_ms={seconds * 1e3:F1} recorded_ms={r.RecordedNs / 1e6:F1} "
                    + $"speedup={(r.RecordedNs / 1e9) / seconds:F1}x"
            );
            string origin = "kvm/" + (header.Host?.KvmFlavour ?? "?");
            return new ReplayOutcome(verdict, origin, r.Events, r.Detail + against)
            {
                Note = verdict == ReplayVerdict.Match ? r.Detail + against + speed : null,
            };
        }
        catch (CliInputException)
        {
            return null;
        }
    }
}
