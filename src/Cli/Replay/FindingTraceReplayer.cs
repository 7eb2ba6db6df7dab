using Sim.Engine.Trace;
using Virtsim.Fuzz.Engine;

namespace Virtsim.Cli.Replay;

/// <summary>Replays a fuzz finding trace (scenario <c>fuzz/&lt;target&gt;</c>, see <see cref="FindingTrace"/>):
/// rebuilds the target, re-runs the input with every event compared, and matches only when the same oracle fires at the
/// same site again (or, for a trace recorded without a finding, nothing fires).</summary>
public static class FindingTraceReplayer
{
    public static ReplayOutcome Replay(TraceReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        const string origin = "simulated";
        FindingTraceResult r = FindingTrace.Replay(reader);
        ReplayVerdict verdict = r.Verdict switch
        {
            FindingTraceVerdict.Match => ReplayVerdict.Match,
            FindingTraceVerdict.Diverged => ReplayVerdict.Diverged,
            _ => ReplayVerdict.Error,
        };
        string detail = $"{r.TargetName}: {r.Detail}";
        return new ReplayOutcome(verdict, origin, r.Events, detail)
        {
            Note = verdict == ReplayVerdict.Match ? detail : null,
        };
    }
}
