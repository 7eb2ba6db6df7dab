using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The lockstep's one decoding rule (<see cref="LockstepDriver.Relocate"/>): a descriptor table or available ring
/// at guest address 0 is "no ring" to QEMU 7.2, so all three rings move up by <see cref="LockstepDriver.RingShift"/>
/// on both halves. Found by a virtio-blk-qemu-real campaign (seed 7): placement 7 put the available ring at 0, the
/// model popped a zero-length buffer and broke, QEMU's virtio_queue_empty_rcu called the queue empty.
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuBlkRingRelocationTests(ITestOutputHelper output)
{
    private const string AvailAtZero =
        "000400000a0000010000002000000000000000000f00000300000000000000000000000000000000000008";

    [Fact]
    public void Relocate_DescOrAvailAtZero_MovesAllThreeRings()
    {
        Assert.Equal((0x2000UL, 0x2010UL, 0x2018UL), LockstepDriver.Relocate((0, 0x10, 0x18)));
        Assert.Equal((0x2100UL, 0x2000UL, 0x4000UL), LockstepDriver.Relocate((0x100, 0, 0x2000)));
        Assert.Equal((0x100UL, 0x200UL, 0UL), LockstepDriver.Relocate((0x100, 0x200, 0))); // used at 0 is a ring
    }

    [Fact]
    public void AvailRingAtZero_NoUnexplainedDifference()
    {
        if (VirtioBlkQemuTarget.Available is { } why)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        var target = new VirtioBlkQemuTarget { ReproducerDirectory = null };
        var context = new FuzzContext { Log = new StringWriter() };
        Assert.Equal(FuzzOutcome.Completed, target.Execute(Convert.FromHexString(AvailAtZero), context));
        output.WriteLine(context.Log.ToString());
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
    }
}
