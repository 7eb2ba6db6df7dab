using System.Buffers.Binary;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The ring model's answer for QEMU virtqueue_get_avail_bytes on a split ring (hw/virtio/virtio.c
/// virtqueue_split_get_avail_bytes), written from QEMU's rules and not from <see cref="SplitQueue.GetAvailBytes"/>:
/// what the walk must return (an error kind, or the device-writable and device-readable sums) for the available
/// chains from last_avail_idx as guest memory holds them now. Before, no fuzz target called the walk (only rng and
/// net do, and nothing compared its sums), so its mutants survived unreached.
/// <para>Rules, in QEMU's order: per available head (virtqueue_num_heads: more than the queue size ahead is "Guest
/// moved used index"; virtqueue_get_head: a head &gt;= size is "Guest says index %u is available"); an INDIRECT
/// descriptor's length a non-zero multiple of 16 ("Invalid size for indirect buffer table"), then the running direct
/// count already at the queue size ("Looped descriptor"), then at most <see cref="QueueLimits.IndirectDescriptorsMax"/>
/// entries (this project's bound, Linux vhost get_indirect), then the table inside one region ("Cannot map indirect
/// buffer"); per descriptor <c>++num_bufs &gt; max</c> ("Looped descriptor"), its length added to the writable or
/// readable sum (32-bit, QEMU's unsigned int), the walk done once the writable sum reaches the bound; a NEXT index
/// &gt;= max ("Desc next is %u"). The descriptor count carries over from one direct chain to the next (QEMU's
/// total_bufs = num_bufs), an indirect chain adds one. Buffers are not mapped. On an error both sums are 0 (QEMU's
/// <c>err:</c> label).</para>
/// Reads guest memory through <see cref="GuestMemory.TryGetSpan"/>, which no observer sees. Never allocates.
/// </summary>
internal static class AvailBytesReference
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "avail-bytes";

    private const ushort FlagNext = 1;
    private const ushort FlagWrite = 2;
    private const ushort FlagIndirect = 4;
    private const int DescSize = 16;

    /// <summary>What virtqueue_get_avail_bytes must answer for a queue of <paramref name="size"/> at the given rings,
    /// starting at <paramref name="lastAvail"/>, summing up to <paramref name="inBytesMax"/> writable bytes.</summary>
    public static QueueError Walk(
        GuestMemory memory,
        int size,
        ulong desc,
        ulong avail,
        ushort lastAvail,
        uint inBytesMax,
        out uint inBytes,
        out uint outBytes
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        inBytes = 0;
        outBytes = 0;
        uint inTotal = 0;
        uint outTotal = 0;
        int totalBufs = 0;
        ushort idx = lastAvail;
        // Bounded: each round consumes one of at most size heads.
        for (int round = 0; round <= size; round++)
        {
            ushort availIdx = ReadLe16(memory, avail + 2);
            int heads = Narrow.ToUInt16Wrapping(availIdx - idx);
            if (heads > size)
                return QueueError.AvailIndexTooFar;
            if (heads == 0)
                break;
            ushort head = ReadLe16(memory, avail + 4 + (2UL * (ulong)(idx % size)));
            idx = Narrow.ToUInt16Wrapping(idx + 1);
            if (head >= size)
                return QueueError.HeadOutOfRange;
            QueueError error = Chain(memory, desc, size, head, ref totalBufs, ref inTotal, ref outTotal, inBytesMax);
            if (error == QueueError.None && inTotal >= inBytesMax)
                break;
            if (error != QueueError.None)
                return error;
        }
        inBytes = inTotal;
        outBytes = outTotal;
        return QueueError.None;
    }

    private static QueueError Chain(
        GuestMemory memory,
        ulong table,
        int size,
        int head,
        ref int totalBufs,
        ref uint inTotal,
        ref uint outTotal,
        uint inBytesMax
    )
    {
        if (!TryRead(memory, table, head, out ulong addr, out uint len, out ushort flags, out ushort next))
            return QueueError.DescTableOutsideMemory;
        int max = size;
        int numBufs = totalBufs;
        bool indirect = (flags & FlagIndirect) != 0;
        if (indirect)
        {
            if (len == 0 || len % DescSize != 0)
                return QueueError.IndirectBadLength;
            if (numBufs >= max)
                return QueueError.LoopedChain;
            if (len / DescSize > QueueLimits.IndirectDescriptorsMax)
                return QueueError.IndirectTooLarge;
            if (!memory.IsValidRange(new GuestAddress(addr), len))
                return QueueError.IndirectTableOutsideMemory;
            table = addr;
            max = (int)(len / DescSize);
            numBufs = 0;
            if (!TryRead(memory, table, 0, out addr, out len, out flags, out next))
                return QueueError.IndirectTableOutsideMemory;
        }
        while (true)
        {
            numBufs++;
            if (numBufs > max)
                return QueueError.LoopedChain;
            if ((flags & FlagWrite) != 0)
                inTotal = Narrow.LowUInt32((ulong)inTotal + len);
            else
                outTotal = Narrow.LowUInt32((ulong)outTotal + len);
            if (inTotal >= inBytesMax)
                return QueueError.None;
            if ((flags & FlagNext) == 0)
                break;
            if (next >= max)
                return QueueError.NextOutOfRange;
            if (!TryRead(memory, table, next, out addr, out len, out flags, out next))
                return indirect ? QueueError.IndirectTableOutsideMemory : QueueError.DescTableOutsideMemory;
        }
        totalBufs = indirect ? totalBufs + 1 : numBufs;
        return QueueError.None;
    }

    private static ushort ReadLe16(GuestMemory memory, ulong at) =>
        memory.TryGetSpan(new GuestAddress(at), 2, out Span<byte> raw)
            ? BinaryPrimitives.ReadUInt16LittleEndian(raw)
            : (ushort)0;

    private static bool TryRead(
        GuestMemory memory,
        ulong table,
        int index,
        out ulong addr,
        out uint len,
        out ushort flags,
        out ushort next
    )
    {
        addr = 0;
        len = 0;
        flags = 0;
        next = 0;
        ulong at = table + ((ulong)index * DescSize);
        if (at < table || !memory.TryGetSpan(new GuestAddress(at), DescSize, out Span<byte> raw))
            return false;
        addr = BinaryPrimitives.ReadUInt64LittleEndian(raw);
        len = BinaryPrimitives.ReadUInt32LittleEndian(raw[8..]);
        flags = BinaryPrimitives.ReadUInt16LittleEndian(raw[12..]);
        next = BinaryPrimitives.ReadUInt16LittleEndian(raw[14..]);
        return true;
    }
}
