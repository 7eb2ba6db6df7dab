using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.SimulationTests;

/// <summary>Runs FsCheck properties with a fixed, logged seed so that a failure reproduces exactly.</summary>
internal static class SeededProperty
{
    public static Config Config(ITestOutputHelper output, ulong seed, int maxTest = 200)
    {
        output.WriteLine($"FsCheck seed: {seed} (replay: Rnd({seed}, 1)), max tests {maxTest}");
        var replay = new Replay(new Rnd(seed, 1), FSharpOption<int>.None);
        return FsCheck.Config.QuickThrowOnFailure.WithReplay(FSharpOption<Replay>.Some(replay)).WithMaxTest(maxTest);
    }

    public static void Check<T>(ITestOutputHelper output, ulong seed, Arbitrary<T> arb, Func<T, bool> property, int maxTest = 200)
    {
        Prop.ForAll(arb, property).Check(Config(output, seed, maxTest));
    }

    /// <summary>Any 64-bit value, biased toward the edges of the address space and small numbers.</summary>
    public static Gen<ulong> UInt64 { get; } = Gen.OneOf(
        Gen.Choose(0, 1 << 16).Select(i => (ulong)i),
        Gen.Choose(0, 1 << 16).Select(i => ulong.MaxValue - (ulong)i),
        Gen.Zip(Gen.Choose(int.MinValue, int.MaxValue), Gen.Choose(int.MinValue, int.MaxValue))
            .Select(t => ((ulong)(uint)t.Item1 << 32) | (uint)t.Item2));
}
