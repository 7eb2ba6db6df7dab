using System.Runtime.CompilerServices;
using Sim.Engine;
using Sim.Engine.Memory;

namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// A popped chain as a direct server sees it (<see cref="IChainServer.ServeDirect"/>, issue 13 section 5): at most
/// one device-readable buffer followed by at most one device-writable buffer, both of which the pop has already proved
/// to lie inside the guest region that holds the descriptor table, read and written through that region's window
/// instead of a <see cref="QueueElement"/>'s iovecs and <see cref="GuestMemory"/>'s address lookups. Each accessor
/// gives exactly what the <see cref="QueueElement"/> of the same chain gives through the same-named member (the same
/// bytes read and written, the same dirty pages, the same answers); proved by
/// KickDifferentialTests.Property_DirectServer_MatchesElementServer.
/// </summary>
public readonly ref struct DirectChain
{
    private readonly ref readonly GuestWindow _region;
    private readonly int _outOffset;
    private readonly uint _outLen;
    private readonly int _inOffset;
    private readonly uint _inLen;

    /// <summary>A chain whose readable buffer is [<paramref name="outOffset"/>, +<paramref name="outLen"/>) and whose
    /// writable buffer is [<paramref name="inOffset"/>, +<paramref name="inLen"/>) of <paramref name="region"/> (a
    /// length of 0: no such buffer; the pop checked each range lies inside the region).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal DirectChain(
        ref readonly GuestWindow region,
        ushort head,
        int outOffset,
        uint outLen,
        int inOffset,
        uint inLen
    )
    {
        _region = ref region;
        Head = head;
        _outOffset = outOffset;
        _outLen = outLen;
        _inOffset = inOffset;
        _inLen = inLen;
    }

    /// <summary>The descriptor index that heads the chain (<see cref="QueueElement.Head"/>).</summary>
    public ushort Head { get; }

    /// <summary>Number of device-readable buffers, 0 or 1 (<see cref="QueueElement.OutCount"/>).</summary>
    public int OutCount => _outLen != 0 ? 1 : 0;

    /// <summary>Number of device-writable buffers, 0 or 1 (<see cref="QueueElement.InCount"/>).</summary>
    public int InCount => _inLen != 0 ? 1 : 0;

    /// <summary>Bytes the device may read (<see cref="QueueElement.OutBytes"/>).</summary>
    public ulong OutBytes => _outLen;

    /// <summary>Bytes the device may write, the largest honest used.len (<see cref="QueueElement.InBytes"/>).</summary>
    public ulong InBytes => _inLen;

    /// <summary>The readable buffer (<see cref="QueueElement.Out"/>'s one iovec); only when <see cref="OutCount"/> is
    /// 1.</summary>
    public Iovec Out => new(At(_outOffset), _outLen);

    /// <summary>The writable buffer (<see cref="QueueElement.In"/>'s one iovec); only when <see cref="InCount"/> is
    /// 1.</summary>
    public Iovec In => new(At(_inOffset), _inLen);

    /// <summary>Reads the first 8 bytes of the readable buffer as a little-endian u64
    /// (<see cref="QueueElement.TryReadOutUInt64"/>); false (and 0) when it holds fewer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadOutUInt64(out ulong value)
    {
        if (_outLen >= sizeof(ulong))
        {
            value = _region.ReadUInt64(_outOffset);
            return true;
        }
        value = 0;
        return false;
    }

    /// <summary>Copies the first bytes of the readable buffer into <paramref name="destination"/>
    /// (<see cref="QueueElement.ReadOut"/> at offset 0); returns the bytes copied, fewer than its length when the
    /// buffer is shorter.</summary>
    public int ReadOut(Span<byte> destination)
    {
        int n = Narrow.LowInt32(Math.Min(Narrow.AsUInt32Bits(destination.Length), _outLen));
        _region.Bytes.Slice(_outOffset, n).CopyTo(destination);
        return n;
    }

    /// <summary>Writes <paramref name="value"/> as 8 little-endian bytes at the start of the writable buffer
    /// (<see cref="QueueElement.WriteInUInt64"/>); returns the bytes written, fewer than 8 when the buffer is
    /// shorter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int WriteInUInt64(ulong value)
    {
        if (_inLen >= sizeof(ulong))
        {
            _region.WriteUInt64(_inOffset, value);
            return sizeof(ulong);
        }
        return WriteInUInt64Short(in _region, _inOffset, _inLen, value);
    }

    /// <summary>Copies <paramref name="source"/> to the start of the writable buffer
    /// (<see cref="QueueElement.WriteIn"/> at offset 0); returns the bytes written, fewer than its length when the
    /// buffer is shorter (what an honest device reports as used.len). Its pages are marked dirty when at least one
    /// byte is written.</summary>
    public int WriteIn(ReadOnlySpan<byte> source) => WriteIn(in _region, _inOffset, _inLen, source);

    /// <summary><see cref="WriteIn(ReadOnlySpan{byte})"/> of the buffer [<paramref name="offset"/>,
    /// +<paramref name="length"/>) of <paramref name="region"/>. Static, with the chain's fields passed in: an
    /// instance call would take the chain's address and keep it out of registers in the server's loop.</summary>
    private static int WriteIn(ref readonly GuestWindow region, int offset, uint length, ReadOnlySpan<byte> source)
    {
        int n = Narrow.LowInt32(Math.Min(Narrow.AsUInt32Bits(source.Length), length));
        if (n == 0)
            return 0;
        source[..n].CopyTo(region.WritableBytes.Slice(offset, n));
        region.MarkWritten(offset, n);
        return n;
    }

    /// <summary>The shorter-than-8 case of <see cref="WriteInUInt64"/>, out of line (QueueElement's slow path: the
    /// buffer's bytes of the value, low first).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int WriteInUInt64Short(ref readonly GuestWindow region, int offset, uint length, ulong value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return WriteIn(in region, offset, length, bytes);
    }

    /// <summary>The guest address of byte <paramref name="offset"/> of the region (inside it: no
    /// overflow).</summary>
    private GuestAddress At(int offset) => new(_region.Address.Value + Narrow.AsUInt64Bits(offset));
}
