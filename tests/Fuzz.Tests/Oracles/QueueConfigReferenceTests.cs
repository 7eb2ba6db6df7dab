using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// The ring model's queue_enable verdict (<see cref="QueueConfigReference"/>, VIRTIO 1.2 §2.7): one layout per rule, in
/// the rule order, with the real <see cref="SplitQueue"/> agreeing on each; memory is two 32 KiB regions, so a ring
/// across 0x8000 is outside one region.
/// </summary>
public sealed class QueueConfigReferenceTests
{
    private static GuestMemory Memory()
    {
        var layout = new MemoryLayout([new RegionSpec(0, 0x8000), new RegionSpec(0x8000, 0x8000)]);
        Assert.True(GuestMemory.TryCreate(layout, out GuestMemory? memory, out _));
        return memory!;
    }

    [Theory]
    [InlineData(8, 0x0, 0x80, 0x98, QueueConfigError.None)]
    [InlineData(8, 0x8, 0x80, 0x98, QueueConfigError.DescTableMisaligned)]
    [InlineData(8, 0x0, 0x81, 0x98, QueueConfigError.AvailRingMisaligned)]
    [InlineData(8, 0x0, 0x80, 0x9a, QueueConfigError.UsedRingMisaligned)]
    [InlineData(8, 0x7f90, 0x80, 0x98, QueueConfigError.DescTableOutsideMemory)] // 128 bytes from 0x7f90 cross 0x8000
    [InlineData(8, 0x0, 0x7ff0, 0x98, QueueConfigError.AvailRingOutsideMemory)] // 22 bytes from 0x7ff0 cross it
    [InlineData(8, 0x0, 0x80, 0x7fc4, QueueConfigError.UsedRingOutsideMemory)] // 70 bytes from 0x7fc4 cross it
    [InlineData(8, 0x0, 0x80, 0xffc0, QueueConfigError.UsedRingOutsideMemory)] // past the end of memory
    [InlineData(8, 0x8, 0x7ff1, 0x7fc6, QueueConfigError.DescTableMisaligned)] // the first broken rule wins
    [InlineData(8, 0x7f90, 0x7ff0, 0x98, QueueConfigError.DescTableOutsideMemory)]
    [InlineData(256, 0x7010, 0x8000, 0x9000, QueueConfigError.DescTableOutsideMemory)] // 4096 bytes from 0x7010
    [InlineData(256, 0x7000, 0x8000, 0x9000, QueueConfigError.None)] // ends exactly at the region end
    public void Classify_MatchesSplitQueue(int size, ulong desc, ulong avail, ulong used, QueueConfigError want)
    {
        GuestMemory memory = Memory();
        Assert.Equal(want, QueueConfigReference.Classify(memory, size, desc, avail, used));
        var queue = new SplitQueue(256);
        Assert.True(queue.TrySetSize(size, out _));
        queue.DescTable = new GuestAddress(desc);
        queue.AvailRing = new GuestAddress(avail);
        queue.UsedRing = new GuestAddress(used);
        bool enabled = queue.TryEnable(memory, out QueueConfigError got);
        Assert.Equal(want == QueueConfigError.None, enabled);
        if (!enabled)
            Assert.Equal(want, got);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(65536)]
    public void Classify_BadSize_First(int size) =>
        Assert.Equal(QueueConfigError.BadSize, QueueConfigReference.Classify(Memory(), size, 0x8, 0x1, 0x2));
}
