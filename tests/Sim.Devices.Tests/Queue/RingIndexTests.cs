using Sim.Devices.Virtio.Queue;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

public sealed class RingIndexTests
{
    [Fact]
    public void Wraps_At65536()
    {
        Assert.Equal(0, new RingIndex(ushort.MaxValue).Next.Value);
        Assert.Equal(ushort.MaxValue, new RingIndex(0).Previous.Value);
        Assert.Equal(3, new RingIndex(65534).Add(5).Value);
        Assert.Equal(65534, new RingIndex(3).Subtract(5).Value);
        Assert.Equal(5, RingIndex.Distance(new RingIndex(65534), new RingIndex(3)));
        Assert.Equal(3, new RingIndex(65535).Slot(4));
    }

    /// <summary>vring_need_event against its arithmetic definition for every (new - event, new - old) pair's
    /// representative over a window including the wrap.</summary>
    [Fact]
    public void Spec_2_7_10_NeedEvent_MatchesDefinition()
    {
        ushort[] bases = [0, 1, 32767, 32768, 65534, 65535];
        foreach (ushort oldIdx in bases)
        {
            for (int moved = 0; moved <= 8; moved++)
            {
                var old = new RingIndex(oldIdx);
                RingIndex now = old.Add(moved);
                for (int e = 0; e < 65536; e++)
                {
                    // The event is crossed iff it lies in [old, new): i.e. (event - old) mod 2^16 < moved.
                    bool expected = ((e - oldIdx) & 0xffff) < moved;
                    Assert.Equal(expected, RingIndex.NeedEvent(new RingIndex((ushort)e), now, old));
                }
            }
        }
    }

    [Fact]
    public void Qemu_MarkOvertaken_WhenSignalledUsedInsideMovedWindow()
    {
        var old = new RingIndex(65534);
        RingIndex now = old.Add(4); // 2
        Assert.False(RingIndex.MarkOvertaken(new RingIndex(65534), now, old)); // mark == old: still behind
        Assert.False(RingIndex.MarkOvertaken(new RingIndex(65000), now, old));
        Assert.True(RingIndex.MarkOvertaken(new RingIndex(65535), now, old));
        Assert.True(RingIndex.MarkOvertaken(new RingIndex(2), now, old));
        Assert.True(RingIndex.MarkOvertaken(new RingIndex(3), now, old)); // ahead of new
    }
}
