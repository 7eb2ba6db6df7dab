using FsCheck;
using FsCheck.Fluent;

namespace Sim.Engine.Tests.SimulationTests;

/// <summary>Generators shared by the engine's FsCheck.Xunit [Property] tests. Each property pins its seed in the
/// attribute's Replay, "(seed,1)" (gamma 1, as these properties always ran), so every run checks the same cases; a
/// failure prints the seed and size that reproduce it (docs/architecture.md "Property tests").</summary>
internal static class SeededProperty
{
    /// <summary>Any 64-bit value, biased toward the edges of the address space and small numbers.</summary>
    public static Gen<ulong> UInt64 { get; } =
        Gen.OneOf(
            Gen.Choose(0, 1 << 16).Select(i => (ulong)i),
            Gen.Choose(0, 1 << 16).Select(i => ulong.MaxValue - (ulong)i),
            Gen.Zip(Gen.Choose(int.MinValue, int.MaxValue), Gen.Choose(int.MinValue, int.MaxValue))
                .Select(t => ((ulong)(uint)t.Item1 << 32) | (uint)t.Item2)
        );
}
