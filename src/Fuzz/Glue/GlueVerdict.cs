using Virtsim.Fuzz.Oracles;

namespace Virtsim.Fuzz.Glue;

/// <summary>
/// What an external engine learns from one input: a wait status in the <c>waitpid</c> encoding both engines
/// understand (0: ran fine; a signal number: "the child died of it", which afl-fuzz files under crashes/ and our
/// libFuzzer driver, given 128 plus it as our exit code, turns into a crash or a timeout), and our finding for
/// the log.
/// </summary>
internal readonly record struct GlueVerdict(int WaitStatus, FindingReport? Finding)
{
    /// <summary>SIGABRT: an oracle fired or a host exception escaped (what a failed assertion does in C).</summary>
    public const int SignalAbort = 6;

    /// <summary>SIGALRM: the step budget ran out (what AFL's own timeout kill looks like), kept apart from
    /// crashes in AFL's file names (<c>sig:14</c>).</summary>
    public const int SignalAlarm = 14;

    public static GlueVerdict Ok => default;

    public bool Crashed => WaitStatus != 0;

    /// <summary>The verdict for a finding (or none): hangs as SIGALRM, everything else as SIGABRT.</summary>
    public static GlueVerdict From(FindingReport? finding) =>
        finding is null ? Ok : new GlueVerdict(finding.Oracle == FuzzOracle.Hang ? SignalAlarm : SignalAbort, finding);
}
