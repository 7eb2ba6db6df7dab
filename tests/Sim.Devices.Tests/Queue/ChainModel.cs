using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Devices.Tests.Queue;

/// <summary>
/// The tests' model of the chain rules: an iterator written from the spec, independent of the queue's walks, against
/// which ChainWalkDifferentialTests holds <see cref="SplitQueue"/>'s reference walk (TryWalkTable) and, through it,
/// its fast walk. (It was the production <c>DescriptorChain</c> until issue 11 section 3 kept one walk in the queue.)
/// Walks one descriptor chain of a split queue (VIRTIO 1.2 §2.7.5), following NEXT links and a head INDIRECT
/// table (§2.7.5.3), and validates each descriptor before yielding it. A bounded iterator that says why it stopped
/// (STYLE item 5): <see cref="TryNext"/> returns false with <see cref="Error"/> = <see cref="QueueError.None"/> at
/// the normal end of the chain, or another <see cref="QueueError"/> for a rule the guest broke.
/// Bound: at most <see cref="QueueLimits.ChainDescriptorsMax"/> + 1 descriptor reads (a chain never yields more
/// descriptors than its table holds; one more is a loop).
/// Checks and their order follow QEMU virtqueue_split_pop / virtqueue_split_read_next_desc / virtqueue_map_desc:
/// order, zero length and mapping before the loop count, the next index when it is followed. Stricter than QEMU on
/// three spec "MUST NOT"s (nested indirect, INDIRECT with NEXT, INDIRECT after the head) which QEMU maps as data.
/// Linux vhost's vhost_get_vq_desc differs: it accepts an INDIRECT descriptor anywhere in a direct chain (and follows
/// its NEXT afterwards), counts the loop bound over the whole chain (head table + indirect table) rather than per
/// table, and allows zero-length buffers.
/// </summary>
internal ref struct ChainModel
{
    private readonly GuestMemory _memory;
    private GuestAddress _table;
    private int _tableSize;
    private int _nextIndex;
    private int _yielded;
    private bool _hasMore;
    private bool _inIndirect;
    private bool _sawWritable;
    private bool _stopped;
    private bool _oneRegion;
    private QueueError _error;

    private ChainModel(GuestMemory memory, GuestAddress descTable, int queueSize, int head)
    {
        _memory = memory;
        _table = descTable;
        _tableSize = queueSize;
        _nextIndex = head;
        _hasMore = true;
    }

    /// <summary>Starts a walk at descriptor <paramref name="head"/> of the table at <paramref name="descTable"/>
    /// holding <paramref name="queueSize"/> descriptors. Nothing is read until <see cref="TryNext"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ChainModel Start(GuestMemory memory, GuestAddress descTable, int queueSize, ushort head)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!VirtioSpec.IsValidQueueSize(queueSize))
            ThrowBadQueueSize(queueSize);
        return new ChainModel(memory, descTable, queueSize, head);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowBadQueueSize(int queueSize) =>
        throw new ArgumentOutOfRangeException(
            nameof(queueSize),
            queueSize,
            "queue size must be a power of two up to 32768"
        );

    /// <summary>Why the walk stopped: <see cref="QueueError.None"/> for the normal end (or while still
    /// walking).</summary>
    public readonly QueueError Error => _error;

    /// <summary>True once the walk switched to the head's indirect table.</summary>
    public readonly bool IsIndirect => _inIndirect;

    /// <summary>True when the descriptor last yielded lies inside one guest region (one iovec).</summary>
    public readonly bool LastInOneRegion => _oneRegion;

    /// <summary>Descriptors yielded so far (the INDIRECT head itself is not yielded).</summary>
    public readonly int Count => _yielded;

    /// <summary>Yields the next validated buffer descriptor, or returns false and sets <see cref="Error"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryNext(out Descriptor descriptor)
    {
        descriptor = default;
        if (_stopped)
            return false;
        if (!_hasMore)
            return Stop(QueueError.None);
        if (unchecked((uint)_nextIndex) >= unchecked((uint)_tableSize))
        {
            // The head is range-checked by the caller (virtqueue_get_head) but checked here too so the
            // iterator is safe on its own.
            return Stop(_yielded == 0 && !_inIndirect ? QueueError.HeadOutOfRange : QueueError.NextOutOfRange);
        }
        if (!TryRead(_memory, _table, _nextIndex, out Descriptor d))
        {
            return Stop(_inIndirect ? QueueError.IndirectTableOutsideMemory : QueueError.DescTableOutsideMemory);
        }

        if (d.IsIndirect && _yielded == 0 && !_inIndirect)
        {
            // Static helper with plain outputs: calling an instance method of this struct would pin all of its
            // fields in memory for the whole walk (the JIT then cannot keep them in registers).
            QueueError entered = EnterIndirect(
                _memory,
                d,
                out GuestAddress table,
                out int tableSize,
                out Descriptor first
            );
            if (entered != QueueError.None)
                return Stop(entered);
            _table = table;
            _tableSize = tableSize;
            _inIndirect = true;
            _nextIndex = 0;
            d = first;
        }
        if (d.IsIndirect)
        {
            return Stop(_inIndirect ? QueueError.NestedIndirect : QueueError.IndirectNotAtHead);
        }

        QueueError buffer = CheckBuffer(_memory, d, ref _sawWritable, ref _oneRegion);
        if (buffer != QueueError.None)
            return Stop(buffer);

        // QEMU: "If we've got too many, that implies a descriptor loop" (++elem_entries > max).
        _yielded++;
        if (_yielded > _tableSize)
            return Stop(QueueError.LoopedChain);

        _hasMore = d.HasNext;
        _nextIndex = d.Next;
        descriptor = d;
        return true;
    }

    /// <summary>Checks one buffer descriptor: no readable buffer after a writable one, a non-zero length, and
    /// guest memory under all of it (in one region, or across adjacent ones; <paramref name="oneRegion"/> says which,
    /// set only once the buffer gets that far). Static for the reason
    /// <see cref="EnterIndirect"/> is.</summary>
    private static QueueError CheckBuffer(GuestMemory memory, in Descriptor d, ref bool sawWritable, ref bool oneRegion)
    {
        // QEMU virtqueue_split_pop: the order check comes before mapping the buffer.
        if (d.IsWriteOnly)
            sawWritable = true;
        else if (sawWritable)
            return QueueError.ReadableAfterWritable;
        if (d.Len == 0)
            return QueueError.ZeroLengthBuffer;
        // A buffer inside one region cannot wrap (regions end below 2^64), so the overflow check is only needed
        // when the one-region test fails: same outcome as checking overflow first, one test less per buffer.
        oneRegion = memory.IsValidRange(d.Addr, d.Len);
        return oneRegion ? QueueError.None : CheckAcrossRegions(memory, d.Addr, d.Len);
    }

    /// <summary>Checks an INDIRECT head (VIRTIO 1.2 §2.7.5.3.1) and reads the first descriptor of its table.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static QueueError EnterIndirect(
        GuestMemory memory,
        Descriptor head,
        out GuestAddress table,
        out int tableSize,
        out Descriptor first
    )
    {
        table = default;
        tableSize = 0;
        first = default;
        if (head.HasNext)
            return QueueError.IndirectWithNext;
        if (head.Len == 0 || head.Len % VirtioSpec.DescSize != 0)
            return QueueError.IndirectBadLength;
        uint count = head.Len / VirtioSpec.DescSize;
        if (count > QueueLimits.IndirectDescriptorsMax)
            return QueueError.IndirectTooLarge;
        if (!memory.IsValidRange(head.Addr, head.Len))
            return QueueError.IndirectTableOutsideMemory;
        table = head.Addr;
        tableSize = unchecked((int)count);
        if (!TryRead(memory, table, 0, out first))
            return QueueError.IndirectTableOutsideMemory;
        return QueueError.None;
    }

    /// <summary>A buffer that is not inside one region: it must not wrap and every byte must be backed.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static QueueError CheckAcrossRegions(GuestMemory memory, GuestAddress addr, uint len)
    {
        if (!addr.TryAdd(len, out _))
            return QueueError.BufferAddressOverflow;
        if (!GuestRanges.IsBacked(memory, addr, len))
            return QueueError.BufferOutsideMemory;
        return QueueError.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryRead(GuestMemory memory, GuestAddress table, int index, out Descriptor descriptor)
    {
        // index < table size <= 32768, so the offset cannot overflow; the address add can (indirect tables
        // are range-checked before use, the main table at queue enable), hence TryAdd. One 16-byte read, decoded
        // in place.
        // unchecked: 0 <= index < table size <= 32768, so the product is below 2^20.
        if (
            !table.TryAdd(unchecked((ulong)index * VirtioSpec.DescSize), out GuestAddress at)
            || !memory.TryReadInPlace(at, VirtioSpec.DescSize, out ReadOnlySpan<byte> raw)
        )
        {
            descriptor = default;
            return false;
        }
        descriptor = new Descriptor(
            new GuestAddress(BinaryPrimitives.ReadUInt64LittleEndian(raw)),
            BinaryPrimitives.ReadUInt32LittleEndian(raw[VirtioSpec.DescLenOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescFlagsOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescNextOffset..])
        );
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Stop(QueueError error)
    {
        _stopped = true;
        _error = error;
        return false;
    }
}
