using System.Buffers.Binary;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The hostile guest of the virtqueue targets: carries out <see cref="RingInput"/>'s guest operations 0..7 on a ring
/// with raw stores (Sim.Guest's <c>RawRing</c> semantics, attributed to <see cref="MemoryActor.Guest"/> so the checkers
/// ignore them). Besides raw descriptor, index and flag writes it can add a well-formed chain (direct or indirect) so
/// that valid paths are reached quickly. One instance is reused; <see cref="Reset"/> per execution.
/// </summary>
internal sealed class GuestActor
{
    private readonly byte[] _desc = new byte[16];
    private byte[]? _longTable;
    private GuestMemory? _memory;
    private ulong _descTable;
    private ulong _availRing;
    private int _size;
    private int _nextFree;
    private ulong _nextBuffer;
    private ulong _bufferStart = RingInput.BufferBase;

    /// <summary>True when <see cref="RingInput.OpAddChain"/> may write a long indirect table at
    /// <see cref="RingInput.LongTableBase"/>, which reaches the element's 1024-iovec bound. A target sets it per
    /// execution for a sampled share of its inputs (split-virtqueue: <c>LongTablePeriod</c>): on for every input, once
    /// such inputs filled the corpus they tripled split-virtqueue's CPU time per execution
    /// (docs/fuzzing-oracles.md).</summary>
    public bool LongTables { get; set; }

    /// <summary>True when <see cref="RingInput.OpAddChain"/> writes its raw address operand (le64, at most the buffer's
    /// length) into the chain's first readable buffer: the request's first bytes (the demo's opt and buff, factorial's
    /// arg1, the counter's numbers) come from the input instead of whatever memory held, so a store such as the demo's
    /// opt 1 is one field away.</summary>
    public bool FillRequests { get; init; }

    /// <summary>Guest's copy of avail.idx (what it last stored).</summary>
    public ushort AvailIdx { get; private set; }

    /// <summary>Chains the guest published through <see cref="RingInput.OpAddChain"/> or
    /// <see cref="RingInput.OpPublish"/>.</summary>
    public int Published { get; private set; }

    /// <summary>Where <see cref="RingInput.OpAddChain"/> takes buffers from (up to the end of the data area): the
    /// data area's start, or <see cref="RingInput.SecondaryBufferBase"/> for the guest of another queue. Takes effect
    /// at the next <see cref="Reset"/>.</summary>
    public ulong BufferStart
    {
        get => _bufferStart;
        set => _bufferStart = value;
    }

    public void Reset(GuestMemory memory, ulong descTable, ulong availRing, int size)
    {
        _memory = memory;
        _descTable = descTable;
        _availRing = availRing;
        _size = size;
        _nextFree = 0;
        _nextBuffer = _bufferStart;
        AvailIdx = 0;
        Published = 0;
    }

    /// <summary>A <c>next</c> value: in range for a table of <paramref name="tableSize"/> unless its top bit asks for a
    /// raw one.</summary>
    public static ushort NextIndex(ushort raw, int tableSize) =>
        (raw & 0x8000) != 0 ? (ushort)(raw & 0x7fff) : (ushort)(raw % tableSize);

    /// <summary>Runs guest operation <paramref name="op"/> (codes 0..7).</summary>
    public void Apply(in RingInput.Op op)
    {
        GuestMemory memory = _memory!;
        using GuestMemory.ActorScope scope = memory.As(MemoryActor.Guest);
        switch (op.Code)
        {
            case RingInput.OpWriteDesc:
                WriteDesc(
                    _descTable + (16UL * (ulong)(op.Index % _size)),
                    op.Addr,
                    op.Len,
                    op.Flags,
                    NextIndex(op.Next, _size)
                );
                break;
            case RingInput.OpWriteIndirectDesc:
                WriteDesc(
                    RingInput.IndirectTable(op.Index >> 5) + (16UL * (ulong)(op.Index & 31)),
                    op.Addr,
                    op.Len,
                    op.Flags,
                    NextIndex(op.Next, 32)
                );
                break;
            case RingInput.OpAddChain:
                AddChain(op);
                break;
            case RingInput.OpPublish:
                Publish(NextIndex(op.Next, _size));
                break;
            case RingInput.OpSetAvailIdx:
                // Small forward steps mostly; a wild jump when asked (QEMU "Guest moved used index").
                AvailIdx =
                    (op.Flags & 1) != 0 ? op.Next : unchecked((ushort)(AvailIdx + (op.Next % ((2 * _size) + 2))));
                memory.TryWriteUInt16(new GuestAddress(_availRing + 2), AvailIdx);
                break;
            case RingInput.OpSuppression:
                memory.TryWriteUInt16(new GuestAddress(_availRing), (ushort)(op.Flags & 1));
                memory.TryWriteUInt16(new GuestAddress(_availRing + 4 + (2UL * (ulong)_size)), op.Next);
                break;
            case RingInput.OpGuestWrite:
                memory.TryWriteUInt32(new GuestAddress(op.Addr), op.RawLen);
                break;
            default:
                break;
        }
    }

    /// <summary>Publishes <paramref name="head"/> at avail[avail.idx] and bumps avail.idx (VIRTIO 1.2
    /// §2.7.13).</summary>
    public void Publish(ushort head)
    {
        GuestMemory memory = _memory!;
        using GuestMemory.ActorScope scope = memory.As(MemoryActor.Guest);
        memory.TryWriteUInt16(new GuestAddress(_availRing + 4 + (2UL * (ulong)(AvailIdx & (_size - 1)))), head);
        AvailIdx = Narrow.ToUInt16Wrapping(AvailIdx + 1);
        memory.TryWriteUInt16(new GuestAddress(_availRing + 2), AvailIdx);
        Published++;
    }

    /// <summary>A well-formed chain of 1..4 buffers (readable first), direct or through an indirect table
    /// (flags bit 2; with next's top four bits set, a long table instead, <see cref="AddLongTable"/>), with buffers
    /// from the data area, then published.</summary>
    private void AddChain(in RingInput.Op op)
    {
        int shape = op.Index & 0xf;
        int outs = shape % 3;
        int ins = (shape / 3) % 3;
        if (outs + ins == 0)
            ins = 1;
        uint len = 1 + (op.RawLen % 64);
        bool indirect = (op.Flags & 4) != 0;
        int n = outs + ins;
        ushort head = (ushort)(_nextFree % _size);
        if (indirect && LongTables && (op.Next & 0xF000) == 0xF000)
        {
            AddLongTable(op, outs, len);
            return;
        }
        if (indirect)
        {
            ulong table = RingInput.IndirectTable(op.Index >> 4);
            for (int i = 0; i < n; i++)
            {
                ushort flags = (ushort)((i < n - 1 ? 1 : 0) | (i >= outs ? 2 : 0));
                ulong buffer = Buffer(len);
                if (i == 0 && outs > 0)
                    Fill(buffer, len, op.RawAddr);
                WriteDesc(table + (16UL * (ulong)i), buffer, len, flags, (ushort)(i + 1));
            }
            WriteDesc(_descTable + (16UL * head), table, (uint)(16 * n), 4, 0);
            _nextFree++;
        }
        else
        {
            if (n > _size)
                n = _size;
            for (int i = 0; i < n; i++)
            {
                int index = (_nextFree + i) % _size;
                ushort flags = (ushort)((i < n - 1 ? 1 : 0) | (i >= outs ? 2 : 0));
                ulong buffer = Buffer(len);
                if (i == 0 && outs > 0)
                    Fill(buffer, len, op.RawAddr);
                WriteDesc(_descTable + (16UL * (ulong)index), buffer, len, flags, (ushort)((index + 1) % _size));
            }
            _nextFree += n;
        }
        Publish(head);
    }

    /// <summary>A chain through one long indirect table at <see cref="RingInput.LongTableBase"/> of 512 or 513
    /// descriptors (<paramref name="outs"/> readable, the rest writable), each a buffer across the boundary between the
    /// two memory regions, so two iovecs each: 1024 or 1026 iovecs (with next's bit 7 the first buffer lies in one
    /// region: 1023 or 1025, the one count that tells the bound from its off-by-one), so the element's 1024-iovec
    /// bound (QEMU VIRTQUEUE_MAX_SIZE, "too many write descriptors in indirect table") is reached from both sides
    /// with half the descriptors a walk would otherwise read. With next's bit 6 the last buffer lies in one region
    /// too: 513 descriptors then make 1024 iovecs and one more buffer that needs a single iovec, which is
    /// <c>QueueElement.TryAppend</c>'s own bound (the walk's inline append hands over a one-region buffer only when
    /// all 1024 are used; QEMU virtqueue_map_desc: <c>num_sg == max_num_sg</c> is "too many descriptors", and the
    /// pop fails, so the device breaks). The table is one guest store. The 32-entry tables of the other ops never
    /// come near the bound.</summary>
    private void AddLongTable(in RingInput.Op op, int outs, uint len)
    {
        int n = RingInput.LongTableMin + (op.Next & 1);
        ushort head = (ushort)(_nextFree % _size);
        // Two of 256 claim a table of exactly the bound or one more (QueueLimits.IndirectDescriptorsMax): longer
        // than memory, so the walk must name the right reason (too large, or outside memory) at the boundary; it
        // reads no entry, so none is written.
        bool boundary = (op.Next & 0xFF) >= 0xFE;
        int claimed = boundary ? QueueLimits.IndirectDescriptorsMax + (op.Next & 1) : n;
        if (!boundary)
        {
            _longTable ??= new byte[RingInput.LongTableMax * 16];
            uint across = 9 + (len % 56);
            for (int i = 0; i < n; i++)
            {
                ushort flags = (ushort)((i < n - 1 ? 1 : 0) | (i >= outs ? 2 : 0));
                bool first = i == 0 && (op.Next & 0x80) != 0;
                bool last = i == n - 1 && (op.Next & 0x40) != 0;
                bool inOne = first || last;
                ulong addr =
                    first ? RingInput.BufferBase
                    : last ? RingInput.BufferBase + LastBufferOffset
                    : RingInput.RegionSize - 1 - (ulong)(i & 7);
                Span<byte> d = _longTable.AsSpan(16 * i, 16);
                BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
                BinaryPrimitives.WriteUInt32LittleEndian(d[8..], inOne ? len : across);
                BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
                BinaryPrimitives.WriteUInt16LittleEndian(d[14..], (ushort)(i + 1));
            }
            _memory!.TryWrite(new GuestAddress(RingInput.LongTableBase), _longTable.AsSpan(0, 16 * n));
        }
        WriteDesc(_descTable + (16UL * head), RingInput.LongTableBase, (uint)(16 * claimed), 4, 0);
        _nextFree++;
        Publish(head);
    }

    /// <summary>Where a long table's one-region last buffer lies, after the first one's (at most 64 bytes).</summary>
    private const ulong LastBufferOffset = 0x100;

    private void Fill(ulong buffer, uint len, ulong value)
    {
        if (!FillRequests)
            return;
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        _memory!.TryWrite(new GuestAddress(buffer), bytes[..(int)Math.Min(len, 8u)]);
    }

    private ulong Buffer(uint len)
    {
        if (_nextBuffer + len > RingInput.BufferBase + RingInput.BufferAreaSize)
            _nextBuffer = _bufferStart;
        ulong at = _nextBuffer;
        _nextBuffer += (len + 7) & ~7UL;
        return at;
    }

    private void WriteDesc(ulong at, ulong addr, uint len, ushort flags, ushort next)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_desc, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(_desc.AsSpan(8), len);
        BinaryPrimitives.WriteUInt16LittleEndian(_desc.AsSpan(12), flags);
        BinaryPrimitives.WriteUInt16LittleEndian(_desc.AsSpan(14), next);
        _memory!.TryWrite(new GuestAddress(at), _desc);
    }
}
