using System.Runtime.CompilerServices;
using Sim.Engine;
using Sim.Engine.Memory;

namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// A popped request (QEMU's VirtQueueElement): the head index, the device-readable iovecs (out, first) and the
/// device-writable iovecs (in, after them). One instance is reused across pops without allocation: its iovec
/// array is fixed at <see cref="QueueLimits.IovecsMax"/> entries, and readable-before-writable ordering (enforced
/// at pop) lets both lists share it as in QEMU.
/// </summary>
public sealed class QueueElement
{
    private readonly Iovec[] _iovecs = new Iovec[QueueLimits.IovecsMax];

    /// <summary>The descriptor index that heads the chain: the id to put in the used ring.</summary>
    public ushort Head { get; private set; }

    /// <summary>Number of device-readable iovecs.</summary>
    public int OutCount { get; private set; }

    /// <summary>Number of device-writable iovecs.</summary>
    public int InCount { get; private set; }

    /// <summary>Total bytes the device may read.</summary>
    public ulong OutBytes { get; private set; }

    /// <summary>Total bytes the device may write: the largest honest used.len.</summary>
    public ulong InBytes { get; private set; }

    /// <summary>Descriptors the chain used (the indirect head not counted).</summary>
    public int DescriptorCount { get; private set; }

    /// <summary>True when the chain came from an indirect table.</summary>
    public bool Indirect { get; private set; }

    /// <summary>Device-readable buffers (VIRTIO 1.2 §2.7.4: the driver's out buffers).</summary>
    public ReadOnlySpan<Iovec> Out => _iovecs.AsSpan(0, OutCount);

    /// <summary>Device-writable buffers.</summary>
    public ReadOnlySpan<Iovec> In => _iovecs.AsSpan(OutCount, InCount);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Reset(ushort head)
    {
        Head = head;
        OutCount = 0;
        InCount = 0;
        OutBytes = 0;
        InBytes = 0;
        DescriptorCount = 0;
        Indirect = false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Finish(int descriptors, bool indirect)
    {
        DescriptorCount = descriptors;
        Indirect = indirect;
    }

    /// <summary>The iovec array, for <see cref="SplitQueue"/>'s chain walk, which appends single-region buffers
    /// itself with the counts kept in registers and stores them once with <see cref="SetCounts"/>.</summary>
    internal Iovec[] Iovecs => _iovecs;

    /// <summary>Stores the counts a chain walk kept in locals (see <see cref="Iovecs"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetCounts(int outCount, int inCount, ulong outBytes, ulong inBytes)
    {
        OutCount = outCount;
        InCount = inCount;
        OutBytes = outBytes;
        InBytes = inBytes;
    }

    /// <summary>Sets every field at once, for a walk that filled <see cref="Iovecs"/> itself and kept the rest in
    /// locals (what <see cref="Reset"/>, <see cref="SetCounts"/> and <see cref="Finish"/> do together).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Set(
        ushort head,
        int outCount,
        int inCount,
        ulong outBytes,
        ulong inBytes,
        int descriptors,
        bool indirect
    )
    {
        Head = head;
        OutCount = outCount;
        InCount = inCount;
        OutBytes = outBytes;
        InBytes = inBytes;
        DescriptorCount = descriptors;
        Indirect = indirect;
    }

    /// <summary>Appends a validated descriptor's buffer as one iovec, or one per guest region it spans
    /// (QEMU virtqueue_map_desc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryAppend(GuestMemory memory, in Descriptor d, bool inOneRegion, out QueueError error)
    {
        int used = OutCount + InCount;
        if (inOneRegion && Narrow.AsUInt32Bits(used) < Narrow.AsUInt32Bits(_iovecs.Length))
        {
            _iovecs[used] = new Iovec(d.Addr, d.Len);
            Count(d.IsWriteOnly, 1, d.Len);
            error = QueueError.None;
            return true;
        }
        return TryAppendSlow(memory, d, out error);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryAppendSlow(GuestMemory memory, Descriptor d, out QueueError error)
    {
        int pieces = GuestRanges.CountPieces(memory, d.Addr, d.Len);
        if (pieces == 0)
        {
            error = QueueError.BufferOutsideMemory;
            return false;
        }
        int used = OutCount + InCount;
        if (pieces > _iovecs.Length - used)
        {
            error = QueueError.TooManyIovecs;
            return false;
        }
        GuestAddress at = d.Addr;
        ulong left = d.Len;
        for (int i = 0; i < pieces; i++)
        {
            ulong chunk = GuestRanges.FirstPiece(memory, at, left);
            Assert(chunk > 0 && chunk <= left, "validated buffer piece vanished");
            _iovecs[used + i] = new Iovec(at, Narrow.LowUInt32(chunk));
            left -= chunk;
            if (left > 0 && !at.TryAdd(chunk, out at))
                Assert(false, "validated buffer wraps");
        }
        Assert(left == 0, "validated buffer not fully mapped");
        Count(d.IsWriteOnly, pieces, d.Len);
        error = QueueError.None;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Count(bool writable, int pieces, uint len)
    {
        if (writable)
        {
            InCount += pieces;
            InBytes += len;
        }
        else
        {
            OutCount += pieces;
            OutBytes += len;
        }
    }

    /// <summary>Copies device-readable bytes starting <paramref name="offset"/> bytes into the out buffers to
    /// <paramref name="destination"/> (QEMU iov_to_buf). Returns the number of bytes copied: fewer than asked when
    /// the buffers are shorter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ReadOut(GuestMemory memory, ulong offset, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(memory);
        // Fast path, inlined into the device: the whole copy lies inside the first out iovec (the common small
        // request).
        Iovec[] iovecs = _iovecs;
        if (OutCount != 0 && offset == 0 && Narrow.AsUInt32Bits(destination.Length) <= iovecs[0].Len)
        {
            bool ok = memory.TryRead(iovecs[0].Addr, destination);
            Assert(ok, "validated iovec not accessible");
            return destination.Length;
        }
        return ReadOutSlow(memory, offset, destination);
    }

    /// <summary>Reads the first 8 device-readable bytes as a little-endian u64 (<see cref="ReadOut"/> of 8 bytes at
    /// offset 0 without a staging buffer: an 8-byte request such as virtio-demo's {opt, buff}). False (and 0) when the
    /// out buffers hold fewer than 8 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadOutUInt64(GuestMemory memory, out ulong value)
    {
        ArgumentNullException.ThrowIfNull(memory);
        Iovec[] iovecs = _iovecs;
        if (OutCount != 0 && iovecs[0].Len >= sizeof(ulong))
        {
            bool ok = memory.TryReadUInt64(iovecs[0].Addr, out value);
            Assert(ok, "validated iovec not accessible");
            return true;
        }
        return TryReadOutUInt64Slow(memory, out value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryReadOutUInt64Slow(GuestMemory memory, out ulong value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        if (ReadOutSlow(memory, 0, bytes) != sizeof(ulong))
        {
            value = 0;
            return false;
        }
        value = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return true;
    }

    /// <summary>Writes <paramref name="value"/> as 8 little-endian bytes at the start of the device-writable buffers
    /// (<see cref="WriteIn"/> of 8 bytes at offset 0 without a staging buffer). Returns the number of bytes written:
    /// fewer than 8 when the in buffers are shorter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int WriteInUInt64(GuestMemory memory, ulong value)
    {
        ArgumentNullException.ThrowIfNull(memory);
        Iovec[] iovecs = _iovecs;
        int first = OutCount;
        if (
            InCount != 0
            && Narrow.AsUInt32Bits(first) < Narrow.AsUInt32Bits(iovecs.Length)
            && iovecs[first].Len >= sizeof(ulong)
        )
        {
            bool ok = memory.TryWriteUInt64(iovecs[first].Addr, value);
            Assert(ok, "validated iovec not accessible");
            return sizeof(ulong);
        }
        return WriteInUInt64Slow(memory, value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int WriteInUInt64Slow(GuestMemory memory, ulong value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return WriteInSlow(memory, 0, bytes);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int ReadOutSlow(GuestMemory memory, ulong offset, Span<byte> destination) =>
        Copy(memory, _iovecs.AsSpan(0, OutCount), offset, destination, default, write: false);

    /// <summary>Copies <paramref name="source"/> into the device-writable buffers starting <paramref name="offset"/>
    /// bytes in (QEMU iov_from_buf). Returns the number of bytes written, which is what an honest device reports as
    /// used.len.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int WriteIn(GuestMemory memory, ulong offset, ReadOnlySpan<byte> source)
    {
        ArgumentNullException.ThrowIfNull(memory);
        // Fast path, inlined into the device: the whole copy lies inside the first in iovec (the common small
        // response).
        Iovec[] iovecs = _iovecs;
        int first = OutCount;
        if (
            InCount != 0
            && offset == 0
            && Narrow.AsUInt32Bits(first) < Narrow.AsUInt32Bits(iovecs.Length)
            && Narrow.AsUInt32Bits(source.Length) <= iovecs[first].Len
        )
        {
            bool ok = memory.TryWrite(iovecs[first].Addr, source);
            Assert(ok, "validated iovec not accessible");
            return source.Length;
        }
        return WriteInSlow(memory, offset, source);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int WriteInSlow(GuestMemory memory, ulong offset, ReadOnlySpan<byte> source) =>
        Copy(memory, _iovecs.AsSpan(OutCount, InCount), offset, default, source, write: true);

    private static int Copy(
        GuestMemory memory,
        ReadOnlySpan<Iovec> iovecs,
        ulong offset,
        Span<byte> destination,
        ReadOnlySpan<byte> source,
        bool write
    )
    {
        // Fast path: the whole copy lies inside the first iovec (the common small request / response).
        int want = write ? source.Length : destination.Length;
        if (iovecs.Length != 0 && offset == 0 && Narrow.AsUInt32Bits(want) <= iovecs[0].Len)
        {
            bool done0 = write ? memory.TryWrite(iovecs[0].Addr, source) : memory.TryRead(iovecs[0].Addr, destination);
            Assert(done0, "validated iovec not accessible");
            return want;
        }

        int total = write ? source.Length : destination.Length;
        int done = 0;
        for (int i = 0; i < iovecs.Length && done < total; i++)
        {
            Iovec v = iovecs[i];
            if (offset >= v.Len)
            {
                offset -= v.Len;
                continue;
            }
            int chunk = unchecked((int)Math.Min(v.Len - offset, (ulong)(total - done)));
            GuestAddress at = new(v.Addr.Value + offset);
            bool ok = write
                ? memory.TryWrite(at, source.Slice(done, chunk))
                : memory.TryRead(at, destination.Slice(done, chunk));
            Assert(ok, "validated iovec not accessible");
            done += chunk;
            offset = 0;
        }
        return done;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Assert(bool condition, string what)
    {
        if (!condition)
            Fail(what);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Fail(string what) => throw new InvalidOperationException("QueueElement invariant: " + what);
}
