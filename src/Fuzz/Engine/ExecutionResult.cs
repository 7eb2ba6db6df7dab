using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>Result of one execution: the target's outcome and what fired, if anything.</summary>
internal readonly record struct ExecutionResult(
    FuzzOutcome Outcome,
    FindingReport? Finding,
    long AllocatedBytes,
    long Steps
);
