using Xunit;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using Xunit.Abstractions;

namespace Sim.Devices.Tests.Pci;

/// <summary>Runs an FsCheck property with a fixed, logged seed so that a failure reproduces.</summary>
internal static class PropertyCheck
{
    public static void Run<T>(ITestOutputHelper output, ulong seed, Arbitrary<T> arb, Func<T, bool> property, int maxTest = 500)
    {
        output.WriteLine($"FsCheck seed {seed} (reproduce: same seed, {maxTest} cases)");
        Config config = Config.QuickThrowOnFailure
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(seed, 0x9E37_79B9_7F4A_7C15), FSharpOption<int>.None)))
            .WithMaxTest(maxTest);
        Prop.ForAll(arb, property).Check(config);
    }
}
