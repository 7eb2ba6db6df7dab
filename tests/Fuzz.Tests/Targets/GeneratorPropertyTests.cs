using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Virtsim.Fuzz.Generators;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests.Targets;

/// <summary>Properties written with the public generators: robust targets stay clean on generated scenarios.</summary>
public sealed class GeneratorPropertyTests
{
    [Property(MaxTest = 300, Replay = "(1592594268,31)")]
    public Property SplitVirtqueue_CleanOnGeneratedScenarios() => CleanOnGeneratedScenarios("split-virtqueue");

    [Property(MaxTest = 100, Replay = "(1592594268,31)")]
    public Property VirtioDemoQemuRobust_CleanOnGeneratedScenarios() =>
        CleanOnGeneratedScenarios("virtio-demo-qemu-robust");

    [Property(MaxTest = 100, Replay = "(1592594268,31)")]
    public Property VirtioBlkQemuRobust_CleanOnGeneratedScenarios() =>
        CleanOnGeneratedScenarios("virtio-blk-qemu-robust");

    /// <summary>The generated case that found the guest actor used before the queue was ever ready (a host
    /// NullReferenceException on a fresh target; on a used one, writes into the previous execution's memory).</summary>
    [Property(MaxTest = 1, Replay = "(1706292027302640417,4959838582591872931,99)")]
    public Property VirtioBlkQemuRobust_FreshTarget_SkipsGuestRingOpsBeforeTheQueueIsReady() =>
        Prop.ForAll(RingGenerators.Scenario().ToArbitrary(), bytes =>
        {
            var context = new FuzzContext();
            FuzzTargets.Create("virtio-blk-qemu-robust")!.Execute(bytes, context);
            return context.Finding is null;
        });

    /// <summary>An execution does not depend on the one before it: input b alone on a fresh target and b after a
    /// on another fresh target end the same way, after the same number of steps.</summary>
    [Property(MaxTest = 60, Replay = "(1592594269,31)")]
    public Property VirtioBlkQemuRobust_ExecutionsAreIndependent() =>
        Prop.ForAll(RingGenerators.Scenario().ToArbitrary(), RingGenerators.Scenario().ToArbitrary(), (a, b) =>
        {
            static (FuzzOutcome, string?, long) Run(IFuzzTarget t, byte[] input)
            {
                var context = new FuzzContext();
                FuzzOutcome outcome = t.Execute(input, context);
                return (outcome, context.Finding?.Site, context.Steps);
            }
            IFuzzTarget alone = FuzzTargets.Create("virtio-blk-qemu-robust")!;
            IFuzzTarget after = FuzzTargets.Create("virtio-blk-qemu-robust")!;
            _ = Run(after, a);
            return Run(alone, b) == Run(after, b);
        });

    private static Property CleanOnGeneratedScenarios(string name)
    {
        IFuzzTarget target = FuzzTargets.Create(name)!;
        return Prop.ForAll(RingGenerators.Scenario().ToArbitrary(), bytes =>
        {
            var context = new FuzzContext();
            target.Execute(bytes, context);
            return context.Finding is null;
        });
    }
}
