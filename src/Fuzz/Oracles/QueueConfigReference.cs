using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The ring model's verdict on a split queue's configuration at queue_enable, written from the rules and not from
/// <see cref="SplitQueue"/>'s checks: what <c>TryEnable</c> must answer for (size, desc, avail, used) in this guest
/// memory. Before, the split-virtqueue target dropped the answer (a queue that rejected a valid layout left the input
/// with nothing to check, and one that named the wrong reason passed).
/// <para>Rules, in <see cref="QueueConfigError"/>'s order: the size a power of two, 1..32768 (VIRTIO 1.2 §2.7, "Queue
/// Size ... MUST be a power of 2", the 32768 maximum; QEMU virtio_queue_set_num); the descriptor table 16-byte, the
/// available ring 2-byte and the used ring 4-byte aligned (VIRTIO 1.2 §2.7 "Virtqueue Part / Alignment / Size"
/// table); then each part wholly inside one guest memory region, descriptor table (16 × size bytes), available ring
/// (6 + 2 × size: flags, idx, ring, used_event) and used ring (6 + 8 × size: flags, idx, ring, avail_event), the
/// ranges QEMU's vring cache maps in one piece (virtio_init_region_cache).</para>
/// </summary>
internal static class QueueConfigReference
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "queue-config";

    /// <summary>The largest queue size (VIRTIO 1.2 §2.7: Queue Size ≤ 32768).</summary>
    public const int SizeMax = 32768;

    /// <summary>What queue_enable must answer for this layout.</summary>
    public static QueueConfigError Classify(GuestMemory memory, int size, ulong desc, ulong avail, ulong used)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (size < 1 || size > SizeMax || (size & (size - 1)) != 0)
            return QueueConfigError.BadSize;
        if (desc % 16 != 0)
            return QueueConfigError.DescTableMisaligned;
        if (avail % 2 != 0)
            return QueueConfigError.AvailRingMisaligned;
        if (used % 4 != 0)
            return QueueConfigError.UsedRingMisaligned;
        ulong n = (ulong)size;
        if (!InOneRegion(memory, desc, 16 * n))
            return QueueConfigError.DescTableOutsideMemory;
        if (!InOneRegion(memory, avail, 6 + (2 * n)))
            return QueueConfigError.AvailRingOutsideMemory;
        if (!InOneRegion(memory, used, 6 + (8 * n)))
            return QueueConfigError.UsedRingOutsideMemory;
        return QueueConfigError.None;
    }

    /// <summary>[start, start + length) lies inside one region (computed without overflow).</summary>
    private static bool InOneRegion(GuestMemory memory, ulong start, ulong length)
    {
        foreach (MemoryRegion region in memory.Regions)
        {
            if (start < region.Base)
                continue;
            ulong into = start - region.Base;
            if (into < region.Size && length <= region.Size - into)
                return true;
        }
        return false;
    }
}
