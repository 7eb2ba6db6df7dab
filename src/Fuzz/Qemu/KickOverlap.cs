using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Before a kick: does a buffer the device will write overlap something the device reads while handling the same
/// kick — another available request's buffers, or the rings? Then the result depends on processing order: QEMU 7.2
/// pops every request of the kick (reading each header) before any read or write completes
/// (virtio_blk_handle_vq batches them in a MultiReqBuffer and submits after its loop), the model completes each
/// request before it pops the next. VIRTIO 1.2 §2.7.14 lets a device use available buffers in any order, so neither
/// is wrong: the driver handed out memory that two requests (or a request and the rings) share.
/// Also: do the queue's three rings overlap each other (the device's used-ring writes then rewrite what it reads as
/// the available ring or descriptors, and each implementation re-reads those at its own moments).
/// </summary>
internal static class KickOverlap
{
    /// <summary>Descriptors walked per chain at most (a loop is the model's to judge, not ours).</summary>
    public const int ChainStepsMax = 64;

    /// <summary>A byte range, clamped so that overlap tests cannot overflow.</summary>
    private readonly record struct Range(ulong Start, ulong End)
    {
        public static Range Of(ulong address, ulong length)
        {
            ulong clamped = Math.Min(length, 1UL << 32);
            return new(address, address > ulong.MaxValue - clamped ? ulong.MaxValue : address + clamped);
        }

        /// <summary>Shares a byte with <paramref name="other"/> (an empty range shares none).</summary>
        public bool Overlaps(Range other) =>
            Start < End && other.Start < other.End && Start < other.End && other.Start < End;
    }

    /// <summary>Whether the desc table, available ring and used ring of <paramref name="state"/> share bytes.</summary>
    public static bool RingsOverlap(in SplitQueueState state)
    {
        Range[] rings = Rings(state.DescTable.Value, state.AvailRing.Value, state.UsedRing.Value, state.Size);
        return rings[0].Overlaps(rings[1]) || rings[0].Overlaps(rings[2]) || rings[1].Overlaps(rings[2]);
    }

    /// <summary>Whether the used ring of <paramref name="state"/> shares bytes with the available ring's idx or ring
    /// entries: the device's used-ring stores then rewrite what its pop reads as avail.idx and the heads (QEMU 7.2's
    /// loop on such a queue: <see cref="Qemu72Differences.HangUsedOverAvail"/>).</summary>
    public static bool UsedOverAvail(in SplitQueueState state)
    {
        ulong avail = state.AvailRing.Value;
        Range fields = avail > ulong.MaxValue - 2 ? default : Range.Of(avail + 2, 2 + (2UL * (ulong)state.Size));
        return Range.Of(state.UsedRing.Value, 6 + (8UL * (ulong)state.Size)).Overlaps(fields);
    }

    /// <summary>Whether a writable buffer of one request made available (from the queue's next index to avail.idx)
    /// overlaps a buffer of another such request or any of the rings. An INDIRECT head is followed whether or not
    /// VIRTIO_F_INDIRECT_DESC was negotiated: QEMU 7.2's virtqueue_split_pop does not look at the feature, nor does
    /// the model's SplitQueue, so both write into the table's buffers.</summary>
    public static bool WritableOverlapsOther(GuestMemory memory, SplitQueue queue)
    {
        if (!queue.Ready || queue.Size == 0)
            return false;
        int size = queue.Size;
        using (memory.As(MemoryActor.Host))
        {
            ulong avail = queue.AvailRing.Value;
            if (!memory.TryReadUInt16(new GuestAddress(avail + 2), out ushort availIdx))
                return false;
            ushort next = queue.NextAvail.Value;
            int pending = Math.Min((ushort)(availIdx - next), size);
            var chains = new List<(List<Range> Read, List<Range> Write)>();
            for (int i = 0; i < pending; i++)
            {
                if (
                    !memory.TryReadUInt16(
                        new GuestAddress(avail + 4 + (2UL * (ulong)((next + i) % size))),
                        out ushort head
                    )
                )
                    break;
                chains.Add(Walk(memory, queue.DescTable.Value, size, head % size));
            }
            Range[] rings = Rings(queue.DescTable.Value, avail, queue.UsedRing.Value, size);
            for (int a = 0; a < chains.Count; a++)
            {
                foreach (Range w in chains[a].Write)
                {
                    if (rings.Any(w.Overlaps))
                        return true;
                    for (int b = 0; b < chains.Count; b++)
                    {
                        if (b != a && (chains[b].Read.Any(w.Overlaps) || chains[b].Write.Any(w.Overlaps)))
                            return true;
                    }
                }
            }
        }
        return false;
    }

    private static Range[] Rings(ulong desc, ulong avail, ulong used, int size) =>
        [
            Range.Of(desc, 16UL * (ulong)size),
            Range.Of(avail, 6 + (2UL * (ulong)size)),
            Range.Of(used, 6 + (8UL * (ulong)size)),
        ];

    /// <summary>The chain's readable and writable ranges as QEMU 7.2 walks it (INDIRECT honoured on the head only,
    /// negotiated or not: virtqueue_split_pop).</summary>
    private static (List<Range> Read, List<Range> Write) Walk(GuestMemory memory, ulong table, int size, int head)
    {
        var read = new List<Range>();
        var write = new List<Range>();
        int index = head;
        int limit = size;
        for (int step = 0; step < ChainStepsMax; step++)
        {
            ulong at = table + (16UL * (ulong)index);
            if (
                !memory.TryReadUInt64(new GuestAddress(at), out ulong address)
                || !memory.TryReadUInt32(new GuestAddress(at + 8), out uint length)
                || !memory.TryReadUInt16(new GuestAddress(at + 12), out ushort flags)
                || !memory.TryReadUInt16(new GuestAddress(at + 14), out ushort nextIndex)
            )
            {
                break;
            }
            if (step == 0 && (flags & VirtioSpec.DescFIndirect) != 0)
            {
                table = address;
                limit = (int)Math.Min(length / 16, (uint)ChainStepsMax);
                index = 0;
                read.Add(Range.Of(address, length)); // the table itself is read
                if (limit == 0)
                    break;
                continue;
            }
            ((flags & VirtioSpec.DescFWrite) != 0 ? write : read).Add(Range.Of(address, length));
            if ((flags & VirtioSpec.DescFNext) == 0 || nextIndex >= limit)
                break;
            index = nextIndex;
        }
        return (read, write);
    }
}
