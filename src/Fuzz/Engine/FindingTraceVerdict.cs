namespace Virtsim.Fuzz.Engine;

/// <summary>How replaying a finding trace ended (mirrors <c>virtsim replay</c>'s verdicts).</summary>
public enum FindingTraceVerdict
{
    /// <summary>Every event, the final memory and the verdict (oracle and site, or none) matched.</summary>
    Match,

    /// <summary>The live execution differed from the recording, or the finding no longer fires.</summary>
    Diverged,

    /// <summary>The trace cannot be replayed: unknown target, changed input format, bad options, unreadable.</summary>
    Error,
}
