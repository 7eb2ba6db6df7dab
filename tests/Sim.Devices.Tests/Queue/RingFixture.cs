using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

/// <summary>A guest memory with one split ring at 0x1000, its device side enabled and a driver side initialised.
/// Buffers live from <see cref="BufferBase"/>; indirect tables from <see cref="TableBase"/>.</summary>
internal sealed class RingFixture
{
    public const ulong RingBase = 0x1000;
    public const ulong TableBase = 0x4_0000;
    public const ulong BufferBase = 0x8_0000;
    public const ulong MemoryBytes = 0x10_0000;

    public RingFixture(int size = 4, bool eventIdx = false, bool legacy = false, GuestMemory? memory = null)
    {
        Memory = memory ?? GuestMemory.CreateFlat(MemoryBytes);
        Layout = legacy
            ? SplitRingLayout.Legacy(new GuestAddress(RingBase), size)
            : SplitRingLayout.Modern(new GuestAddress(RingBase), size);
        Driver = new DriverQueue(Layout, eventIdx);
        using (Memory.AsGuest())
            Driver.Initialize(Memory);
        Device = new SplitQueue(size)
        {
            DescTable = Layout.DescTable,
            AvailRing = Layout.AvailRing,
            UsedRing = Layout.UsedRing,
            EventIdx = eventIdx,
        };
        if (!Device.TryEnable(Memory, out QueueConfigError error))
            throw new InvalidOperationException(error.ToString());
    }

    public GuestMemory Memory { get; }
    public SplitRingLayout Layout { get; }
    public SplitQueue Device { get; }
    public DriverQueue Driver { get; }
    public QueueElement Element { get; } = new();

    public static GuestAddress Buf(ulong offset) => new(BufferBase + offset);

    /// <summary>Raw descriptor in the ring's table.</summary>
    public void Desc(int index, ulong addr, uint len, int flags = 0, int next = 0) =>
        Assert.True(RawRing.WriteDescriptor(Memory, Layout, index, addr, len, (ushort)flags, (ushort)next));

    /// <summary>Raw descriptor in a table at <paramref name="table"/>.</summary>
    public void TableDesc(GuestAddress table, int index, ulong addr, uint len, int flags = 0, int next = 0) =>
        Assert.True(RawRing.WriteDescriptor(Memory, table, index, addr, len, (ushort)flags, (ushort)next));

    /// <summary>Raw: makes <paramref name="heads"/> available starting at avail index
    /// <paramref name="from"/>.</summary>
    public void Offer(ushort from, params ushort[] heads)
    {
        for (int i = 0; i < heads.Length; i++)
            Assert.True(RawRing.WriteAvailEntry(Memory, Layout, from + i, heads[i]));
        Assert.True(RawRing.WriteAvailIdx(Memory, Layout, (ushort)(from + heads.Length)));
    }

    public bool Pop(out QueueError error) => Device.TryPop(Memory, Element, out error);

    public QueueError PopError()
    {
        Assert.False(Pop(out QueueError error));
        return error;
    }

    public ushort AddRequest(uint readLen = 8, uint writeLen = 8, ulong slot = 0)
    {
        using (Memory.AsGuest())
        {
            Assert.True(
                Driver.TryAdd(
                    Memory,
                    [new GuestBuffer(Buf(slot * 64), readLen)],
                    [new GuestBuffer(Buf((slot * 64) + 32), writeLen)],
                    out ushort head
                )
            );
            Driver.Publish(Memory);
            return head;
        }
    }

    public ushort ReadU16(GuestAddress at)
    {
        Assert.True(Memory.TryReadUInt16(at, out ushort v));
        return v;
    }

    public static ushort Next => VirtioSpec.DescFNext;
    public static ushort Write => VirtioSpec.DescFWrite;
    public static ushort Indirect => VirtioSpec.DescFIndirect;
}
