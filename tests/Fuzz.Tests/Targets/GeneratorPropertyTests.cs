using FsCheck;
using FsCheck.Fluent;
using Fuzz.Generators;
using Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Targets;

/// <summary>Properties written with the public generators: robust targets stay clean on generated scenarios.</summary>
public sealed class GeneratorPropertyTests
{
    private readonly ITestOutputHelper _output;

    public GeneratorPropertyTests(ITestOutputHelper output) => _output = output;

    [Theory]
    [InlineData("split-virtqueue", 300)]
    [InlineData("virtio-demo-qemu-robust", 100)]
    [InlineData("virtio-blk-qemu-robust", 100)]
    public void RobustTargets_CleanOnGeneratedScenarios(string name, int tests)
    {
        const ulong seed = 0x5EED_0F5C;
        _output.WriteLine($"FsCheck replay seed {seed} (target {name})");
        IFuzzTarget target = FuzzTargets.Create(name)!;
        var context = new FuzzContext();
        Prop.ForAll(RingGenerators.Scenario().ToArbitrary(), bytes =>
        {
            context = new FuzzContext();
            target.Execute(bytes, context);
            return context.Finding is null;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(tests).WithReplay(seed, 0x1F));
    }
}
