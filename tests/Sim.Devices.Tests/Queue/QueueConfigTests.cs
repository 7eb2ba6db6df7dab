using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Xunit;

namespace Sim.Devices.Tests.Queue;

public sealed class QueueConfigTests
{
    private static SplitQueue Configured(int max, ulong desc, ulong avail, ulong used)
    {
        var q = new SplitQueue(max)
        {
            DescTable = new GuestAddress(desc),
            AvailRing = new GuestAddress(avail),
            UsedRing = new GuestAddress(used),
        };
        return q;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(12)]
    [InlineData(512)]
    public void Spec_2_7_QueueSizeMustBePowerOfTwoWithinMaximum(int size)
    {
        var q = new SplitQueue(256);
        Assert.False(q.TrySetSize(size, out QueueConfigError error));
        Assert.Equal(QueueConfigError.BadSize, error);
        Assert.Equal(256, q.Size);
        Assert.True(q.TrySetSize(64, out _));
        Assert.Equal(64, q.Size);
    }

    [Fact]
    public void DeviceMaximumMustBeValid() => Assert.Throws<ArgumentOutOfRangeException>(() => new SplitQueue(65536));

    [Theory]
    [InlineData(0x1008UL, 0x2000UL, 0x3000UL, QueueConfigError.DescTableMisaligned)]
    [InlineData(0x1000UL, 0x2001UL, 0x3000UL, QueueConfigError.AvailRingMisaligned)]
    [InlineData(0x1000UL, 0x2000UL, 0x3002UL, QueueConfigError.UsedRingMisaligned)]
    [InlineData(0xfff0UL, 0x2000UL, 0x3000UL, QueueConfigError.DescTableOutsideMemory)]
    [InlineData(0x1000UL, 0xfffeUL, 0x3000UL, QueueConfigError.AvailRingOutsideMemory)]
    [InlineData(0x1000UL, 0x2000UL, 0xfffcUL, QueueConfigError.UsedRingOutsideMemory)]
    public void Spec_2_7_EnableChecksAlignmentAndPlacement(
        ulong desc,
        ulong avail,
        ulong used,
        QueueConfigError expected
    )
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x10000);
        SplitQueue q = Configured(4, desc, avail, used);
        Assert.False(q.TryEnable(memory, out QueueConfigError error));
        Assert.Equal(expected, error);
        Assert.False(q.Ready);
    }

    [Fact]
    public void ReconfiguringReadyQueue_IsHostMisuse()
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x10000);
        SplitQueue q = Configured(4, 0x1000, 0x2000, 0x3000);
        Assert.True(q.TryEnable(memory, out _));
        Assert.Throws<InvalidOperationException>(() => q.DescTable = new GuestAddress(0));
        Assert.Throws<InvalidOperationException>(() => q.TrySetSize(2, out _));
        q.Reset();
        Assert.False(q.Ready);
        Assert.Equal(4, q.Size);
        Assert.Equal(default, q.DescTable);
    }

    [Fact]
    public void CompletingMoreThanPopped_IsHostMisuse()
    {
        var r = new RingFixture();
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Device.Fill(r.Memory, 0, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Device.Flush(r.Memory, 1));
        Assert.Throws<InvalidOperationException>(() => r.Device.Detach());
        Assert.Throws<InvalidOperationException>(() => r.Device.Unpop());
        Assert.False(r.Device.Rewind(1));
    }

    [Fact]
    public void CaptureRestore_RoundTripsAndValidates()
    {
        var r = new RingFixture();
        r.AddRequest();
        Assert.True(r.Pop(out _));
        SplitQueueState state = r.Device.Capture();
        var other = new SplitQueue(4);
        Assert.True(other.TryRestore(r.Memory, state, out _));
        Assert.Equal(state, other.Capture());
        Assert.False(other.TryRestore(r.Memory, state with { InUse = 5 }, out QueueConfigError e1));
        Assert.Equal(QueueConfigError.BadState, e1);
        Assert.False(other.TryRestore(r.Memory, state with { Size = 8 }, out QueueConfigError e2));
        Assert.Equal(QueueConfigError.BadSize, e2);
        Assert.False(
            other.TryRestore(
                r.Memory,
                state with
                {
                    UsedRing = new GuestAddress(0x1_0000_0000),
                },
                out QueueConfigError e3
            )
        );
        Assert.Equal(QueueConfigError.UsedRingOutsideMemory, e3);
        Assert.Equal(state, other.Capture());
    }
}
