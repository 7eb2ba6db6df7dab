namespace Virtsim.Fuzz.Targets;

/// <summary>What a target says about one execution (findings go through <see cref="FuzzContext"/>).</summary>
public enum FuzzOutcome
{
    /// <summary>The input ran; its coverage counts and it may enter the corpus.</summary>
    Completed,

    /// <summary>The input was not meaningful for this target (libFuzzer's "return -1"): never added to the
    /// corpus.</summary>
    Rejected,
}
