namespace Virtsim.Cli.Replay;

/// <summary>How one trace's replay ended.</summary>
public enum ReplayVerdict
{
    /// <summary>Every event, checkpoint and the final memory hash matched.</summary>
    Match,

    /// <summary>The live run differed from the recording.</summary>
    Diverged,

    /// <summary>The trace could not be read or replayed (corrupt, unknown scenario, unsupported origin).</summary>
    Error,
}

/// <summary>The result of replaying one trace.</summary>
public sealed record ReplayOutcome(ReplayVerdict Verdict, string Origin, ulong Events, string Detail)
{
    /// <summary>A line worth printing even on a match (a fuzz finding trace: "finding reproduced: ..."), or
    /// null.</summary>
    public string? Note { get; init; }
}
