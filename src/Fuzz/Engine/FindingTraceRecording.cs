using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>A recorded finding trace: its bytes, what fired while recording, and whether the recording execution agreed
/// with the plain one (false means the target is not a deterministic function of its input, a harness bug).</summary>
internal sealed record FindingTraceRecording(
    byte[] Trace,
    FindingReport? Finding,
    FuzzOutcome Outcome,
    bool Consistent
);
