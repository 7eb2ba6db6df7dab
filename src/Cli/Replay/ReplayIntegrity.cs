using Sim.Engine.Trace;

namespace Virtsim.Cli.Replay;

/// <summary>A divergence is only a divergence if the recording agrees with itself: a trace whose footer
/// (event count, counts by kind, event hash, end time) contradicts its own events, or that is cut short,
/// is corrupt (exit 2), whatever the live run did (exit 1 is kept for a sound trace the run differs from).</summary>
public static class ReplayIntegrity
{
    /// <summary>After <see cref="ReplayVerdict.Diverged"/>, reads the rest of <paramref name="reader"/> to
    /// its footer; an unreadable or self-contradicting trace turns the outcome into an error.</summary>
    public static ReplayOutcome Check(ReplayOutcome outcome, TraceReader reader)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        ArgumentNullException.ThrowIfNull(reader);
        if (outcome.Verdict != ReplayVerdict.Diverged)
            return outcome;
        if (reader.TryVerifyRest(out TraceError? error))
            return outcome;
        return new ReplayOutcome(
            ReplayVerdict.Error,
            outcome.Origin,
            outcome.Events,
            $"the trace contradicts itself (corrupt, not a divergence): {error.Message}"
        );
    }
}
