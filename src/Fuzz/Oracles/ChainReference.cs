using System.Buffers.Binary;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The ring model's classification of one descriptor chain (issue 12 item 5), written from the rules and not from
/// <see cref="SplitQueue"/>'s walk: what a split-queue pop must answer for the chain at <c>head</c> (the error kind,
/// or the element's buffers), and how many descriptors it may read to get there.
/// <para>Rules and order, QEMU hw/virtio/virtio.c virtqueue_split_pop: the head descriptor is read; an INDIRECT head
/// is checked (VIRTIO 1.2 §2.7.5.3.1: no NEXT with INDIRECT; len a non-zero multiple of 16, "Invalid size for indirect
/// buffer table"; at most <see cref="QueueLimits.IndirectDescriptorsMax"/> entries, Linux vhost get_indirect; the table
/// inside one guest region, "Cannot map indirect buffer") and the walk moves to entry 0 of its table. Then per
/// descriptor: INDIRECT again is nested (inside a table) or not at the head (§2.7.5.3.1 MUST NOT); a readable
/// descriptor after a writable one, "Incorrect order for descriptors" (§2.7.4.2); len 0, virtqueue_map_desc "zero
/// sized buffers are not allowed"; addr + len wrapping or not backed by guest memory, "bogus descriptor"; then the
/// loop count, "If we've got too many, that implies a descriptor loop" (++elem_entries &gt; max, max = the table's
/// size); then the iovecs (one per guest region the buffer spans, at most <see cref="QueueLimits.IovecsMax"/> in
/// all). A descriptor without NEXT ends the chain; a NEXT index &gt;= max is virtqueue_split_read_next_desc's
/// "Desc next is %u". A loop is a loop: the loop count comes before the iovec count, so a looping chain is never
/// reported as "too many iovecs" (QueueError's order; QEMU's own map-then-count order differs only for chains that
/// are both, which this project classifies as loops).</para>
/// <para>Descriptor reads: the walk reads the head, the first entry of an indirect table, and one descriptor per NEXT
/// it follows; it stops at the first rule broken. So a pop reads at most <see cref="Reads"/> descriptors, which is at
/// most the table's size + 1 (a loop is read once round plus the descriptor that proves it) and + 1 for an indirect
/// head. Linux vhost_get_vq_desc checks <c>++found &gt; vq-&gt;num</c> before its read instead
/// (docs/fuzzing-oracles.md).</para>
/// Reads guest memory through <see cref="GuestMemory.TryGetSpan"/>, which no observer sees. Allocates only when built.
/// </summary>
internal sealed class ChainReference
{
    private const int DescSize = 16;
    private const ushort FlagNext = 1;
    private const ushort FlagWrite = 2;
    private const ushort FlagIndirect = 4;

    private readonly List<Iovec> _out = new(64);
    private readonly List<Iovec> _in = new(64);

    /// <summary>The classification: <see cref="QueueError.None"/> for a valid chain.</summary>
    public QueueError Error { get; private set; }

    /// <summary>Descriptors the walk read (head, indirect entries, each NEXT followed), up to the rule it stopped
    /// at.</summary>
    public int Reads { get; private set; }

    /// <summary>Descriptors the chain holds (valid chains; the INDIRECT head not counted).</summary>
    public int Entries { get; private set; }

    /// <summary>True when the head was INDIRECT and its table was entered.</summary>
    public bool Indirect { get; private set; }

    /// <summary>The device-readable iovecs of a valid chain, one per guest region each buffer spans.</summary>
    public IReadOnlyList<Iovec> Out => _out;

    /// <summary>The device-writable iovecs of a valid chain.</summary>
    public IReadOnlyList<Iovec> In => _in;

    /// <summary>Classifies the chain at <paramref name="head"/> (&lt; <paramref name="size"/>) of the descriptor table
    /// at
    /// <paramref name="table"/> as guest memory holds it now.</summary>
    public QueueError Classify(GuestMemory memory, ulong table, int size, ushort head)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _out.Clear();
        _in.Clear();
        Reads = 0;
        Entries = 0;
        Indirect = false;
        Error = Walk(memory, table, size, head);
        if (Error != QueueError.None)
        {
            _out.Clear();
            _in.Clear();
        }
        return Error;
    }

    private QueueError Walk(GuestMemory memory, ulong table, int size, ushort head)
    {
        if (head >= size)
            return QueueError.HeadOutOfRange;
        if (!TryRead(memory, table, head, out ulong addr, out uint len, out ushort flags, out ushort next))
            return QueueError.DescTableOutsideMemory;
        int max = size;
        bool inIndirect = false;
        if ((flags & FlagIndirect) != 0)
        {
            if ((flags & FlagNext) != 0)
                return QueueError.IndirectWithNext;
            if (len == 0 || len % DescSize != 0)
                return QueueError.IndirectBadLength;
            if (len / DescSize > QueueLimits.IndirectDescriptorsMax)
                return QueueError.IndirectTooLarge;
            if (!memory.IsValidRange(new GuestAddress(addr), len))
                return QueueError.IndirectTableOutsideMemory;
            table = addr;
            max = (int)(len / DescSize);
            inIndirect = true;
            Indirect = true;
            if (!TryRead(memory, table, 0, out addr, out len, out flags, out next))
                return QueueError.IndirectTableOutsideMemory;
        }
        bool sawWritable = false;
        int iovecs = 0;
        while (true)
        {
            if ((flags & FlagIndirect) != 0)
                return inIndirect ? QueueError.NestedIndirect : QueueError.IndirectNotAtHead;
            bool writable = (flags & FlagWrite) != 0;
            if (writable)
                sawWritable = true;
            else if (sawWritable)
                return QueueError.ReadableAfterWritable;
            if (len == 0)
                return QueueError.ZeroLengthBuffer;
            if (addr > ulong.MaxValue - len)
                return QueueError.BufferAddressOverflow;
            int pieces = Pieces(memory, addr, len);
            if (pieces == 0)
                return QueueError.BufferOutsideMemory;
            if (++Entries > max)
                return QueueError.LoopedChain;
            if (iovecs + pieces > QueueLimits.IovecsMax)
                return QueueError.TooManyIovecs;
            iovecs += pieces;
            AddPieces(memory, writable ? _in : _out, addr, len);
            if ((flags & FlagNext) == 0)
                return QueueError.None;
            if (next >= max)
                return QueueError.NextOutOfRange;
            if (!TryRead(memory, table, next, out addr, out len, out flags, out next))
                return inIndirect ? QueueError.IndirectTableOutsideMemory : QueueError.DescTableOutsideMemory;
        }
    }

    private bool TryRead(
        GuestMemory memory,
        ulong table,
        int index,
        out ulong addr,
        out uint len,
        out ushort flags,
        out ushort next
    )
    {
        Reads++;
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

    /// <summary>Regions [addr, addr + len) spans (dma_memory_map maps piece by piece), or 0 when a byte is not
    /// backed.</summary>
    private static int Pieces(GuestMemory memory, ulong addr, ulong len)
    {
        int pieces = 0;
        foreach (MemoryRegion r in memory.Regions)
        {
            if (len == 0)
                break;
            if (addr < r.Base || addr - r.Base >= r.Size)
                continue;
            ulong chunk = Math.Min(len, r.Size - (addr - r.Base));
            pieces++;
            addr += chunk;
            len -= chunk;
        }
        return len == 0 ? pieces : 0;
    }

    private static void AddPieces(GuestMemory memory, List<Iovec> into, ulong addr, ulong len)
    {
        foreach (MemoryRegion r in memory.Regions)
        {
            if (len == 0)
                break;
            if (addr < r.Base || addr - r.Base >= r.Size)
                continue;
            ulong chunk = Math.Min(len, r.Size - (addr - r.Base));
            into.Add(new Iovec(new GuestAddress(addr), (uint)chunk));
            addr += chunk;
            len -= chunk;
        }
    }
}
