using Virtsim.Fuzz.Oracles;

namespace Virtsim.Fuzz.Engine;

/// <summary>The result of replaying a finding trace: the verdict, the target, events compared, what fired live and a
/// one-paragraph detail ("finding reproduced: oracle X at site Y", or the first divergence).</summary>
public sealed record FindingTraceResult(
    FindingTraceVerdict Verdict,
    string TargetName,
    ulong Events,
    FindingReport? Finding,
    string Detail
);
