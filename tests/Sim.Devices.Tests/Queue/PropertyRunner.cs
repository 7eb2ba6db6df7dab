using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Devices.Tests.Queue;

/// <summary>Runs an FsCheck property inside an xunit [Fact] with a fixed, logged seed, so a failure
/// reproduces.</summary>
internal static class PropertyRunner
{
    public static void Check<T>(
        ITestOutputHelper output,
        string name,
        ulong seed,
        int maxTest,
        Arbitrary<T> arbitrary,
        Func<T, bool> property
    )
    {
        output.WriteLine(
            $"{name}: FsCheck seed {seed}, {maxTest} cases (reproduce: rerun this test; the seed is fixed)"
        );
        Config config = Config
            .QuickThrowOnFailure.WithMaxTest(maxTest)
            .WithName(name)
            .WithReplay(
                FSharpOption<Replay>.Some(new Replay(new Rnd(seed, 0x9E3779B97F4A7C15UL), FSharpOption<int>.None))
            );
        Prop.ForAll(arbitrary, property).Check(config);
    }
}
