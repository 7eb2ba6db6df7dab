using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Guest.Virtio;

/// <summary>
/// Where a split ring's three parts lie in guest memory (VIRTIO 1.2 §2.7). <see cref="Modern"/> packs them with the
/// §2.7 alignments (descriptor table 16, available ring 2, used ring 4); <see cref="Legacy"/> uses the legacy
/// layout of §2.7.2, where the used ring starts at the next QUEUE_ALIGN (4096) boundary after the available ring,
/// as the legacy virtio-pci transport (one page-frame number per queue) requires.
/// </summary>
public readonly record struct SplitRingLayout(
    GuestAddress DescTable,
    GuestAddress AvailRing,
    GuestAddress UsedRing,
    int Size
)
{
    /// <summary>Packs the three parts from <paramref name="start"/> (aligned up to 16).</summary>
    public static SplitRingLayout Modern(GuestAddress start, int size)
    {
        RequireSize(size);
        ulong desc = AlignUp(start.Value, VirtioSpec.DescAlign);
        ulong avail = AlignUp(checked(desc + VirtioSpec.DescTableSize(size)), VirtioSpec.AvailAlign);
        ulong used = AlignUp(checked(avail + VirtioSpec.AvailRingSize(size)), VirtioSpec.UsedAlign);
        return new SplitRingLayout(new GuestAddress(desc), new GuestAddress(avail), new GuestAddress(used), size);
    }

    /// <summary>The legacy layout (VIRTIO 1.2 §2.7.2): descriptor table at <paramref name="start"/> (which must be
    /// <paramref name="queueAlign"/>-aligned: the transport stores it as a page frame number), available ring right
    /// after it, used ring at the next <paramref name="queueAlign"/> boundary.</summary>
    public static SplitRingLayout Legacy(GuestAddress start, int size, int queueAlign = VirtioSpec.LegacyQueueAlign)
    {
        RequireSize(size);
        if (queueAlign <= 0 || (queueAlign & (queueAlign - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(queueAlign), queueAlign, "alignment must be a power of two");
        if (start.Value % Narrow.AsUInt64Bits(queueAlign) != 0)
            throw new ArgumentException("legacy rings start on a QUEUE_ALIGN boundary", nameof(start));
        ulong avail = checked(start.Value + VirtioSpec.DescTableSize(size));
        ulong used = AlignUp(checked(avail + VirtioSpec.AvailRingSize(size)), Narrow.AsUInt64Bits(queueAlign));
        return new SplitRingLayout(start, new GuestAddress(avail), new GuestAddress(used), size);
    }

    /// <summary>First byte after the used ring (including avail_event).</summary>
    public GuestAddress End => new(checked(UsedRing.Value + VirtioSpec.UsedRingSize(Size)));

    /// <summary>Bytes from the descriptor table to <see cref="End"/> (valid for the packed layouts above).</summary>
    public ulong TotalBytes => checked(End.Value - DescTable.Value);

    /// <summary>Address of descriptor <paramref name="index"/>.</summary>
    public GuestAddress Desc(int index) => new(checked(DescTable.Value + ((ulong)index * VirtioSpec.DescSize)));

    /// <summary>Address of avail.idx.</summary>
    public GuestAddress AvailIdx => new(checked(AvailRing.Value + VirtioSpec.AvailIdxOffset));

    /// <summary>Address of avail.ring[<paramref name="slot"/>].</summary>
    public GuestAddress AvailEntry(int slot) =>
        new(checked(AvailRing.Value + VirtioSpec.AvailRingOffset + ((ulong)slot * VirtioSpec.AvailElemSize)));

    /// <summary>Address of used_event (after avail.ring[Size]).</summary>
    public GuestAddress UsedEvent => new(checked(AvailRing.Value + VirtioSpec.AvailUsedEventOffset(Size)));

    /// <summary>Address of used.idx.</summary>
    public GuestAddress UsedIdx => new(checked(UsedRing.Value + VirtioSpec.UsedIdxOffset));

    /// <summary>Address of used.ring[<paramref name="slot"/>].</summary>
    public GuestAddress UsedEntry(int slot) =>
        new(checked(UsedRing.Value + VirtioSpec.UsedRingOffset + ((ulong)slot * VirtioSpec.UsedElemSize)));

    /// <summary>Address of avail_event (after used.ring[Size]).</summary>
    public GuestAddress AvailEvent => new(checked(UsedRing.Value + VirtioSpec.UsedAvailEventOffset(Size)));

    private static void RequireSize(int size)
    {
        if (!VirtioSpec.IsValidQueueSize(size))
            throw new ArgumentOutOfRangeException(nameof(size), size, "queue size must be a power of two up to 32768");
    }

    private static ulong AlignUp(ulong value, ulong align) => checked((value + align - 1) & ~(align - 1));
}
