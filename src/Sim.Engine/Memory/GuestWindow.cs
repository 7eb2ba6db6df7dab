using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sim.Engine.Memory;

/// <summary>
/// A validated view of [<see cref="Address"/>, +<see cref="Length"/>) inside one region of a <see cref="GuestMemory"/>
/// (<see cref="GuestMemory.TryGetWindow"/>), for code that makes many small accesses to one fixed guest structure
/// (a ring's descriptor table, available or used ring): the range is located once, and each access after that is a
/// bounds check against the window and an array access. Writes mark their pages dirty like the memory's own
/// accessors. The observer does NOT see window accesses: use a window only while <see cref="GuestMemory.IsObserved"/>
/// is false (test it before each batch of accesses; it changes only when the observer or actor is set), and the
/// memory's own accessors otherwise, so that what an observer sees is unchanged.
/// A region's byte array is fixed for the memory's life (snapshots restore into it), so a window stays valid.
/// Batch code (the split-ring batch calls) may instead take the window's bytes as a span (<see cref="Bytes"/>,
/// <see cref="WritableBytes"/>), check its offsets once per batch, and report what it wrote with
/// <see cref="MarkWritten"/> or <see cref="MarkPagesWritten"/>.
/// </summary>
public readonly struct GuestWindow
{
    private readonly byte[]? _bytes;
    private readonly ulong[]? _dirty;
    private readonly int _offset;
    private readonly int _length;

    internal GuestWindow(byte[] bytes, ulong[] dirty, int offset, int length, GuestAddress address)
    {
        _bytes = bytes;
        _dirty = dirty;
        _offset = offset;
        _length = length;
        Address = address;
    }

    /// <summary>Guest address of the window's first byte.</summary>
    public GuestAddress Address { get; }

    /// <summary>Bytes in the window.</summary>
    public int Length => _length;

    /// <summary>True for the default (no) window.</summary>
    public bool IsEmpty => _bytes is null;

    /// <summary>The window's bytes, read-only, for batch code (the split-ring batch calls) that validates its offsets
    /// once and then decodes with <see cref="BinaryPrimitives"/>-style little-endian reads. Reads need no tracking;
    /// like every window access they bypass the observer.</summary>
    public ReadOnlySpan<byte> Bytes => MemoryMarshal.CreateReadOnlySpan(ref First, _length);

    /// <summary>The window's bytes, writable, for batch code. Writes through the span are not tracked: the caller
    /// reports each write with <see cref="MarkWritten"/> before the memory's dirty pages are next read (as
    /// <see cref="GuestMemory.TryGetSpan"/> asks of <see cref="GuestMemory.MarkDirty"/>).</summary>
    public Span<byte> WritableBytes => MemoryMarshal.CreateSpan(ref First, _length);

    /// <summary>The window's first byte in its region's array, for <see cref="Bytes"/> and
    /// <see cref="WritableBytes"/>: no range check per call (the span constructor's would run on every batch call),
    /// because <see cref="GuestMemory.TryGetWindow"/> located the window inside the array when it made it. The default
    /// window has no array and a length of 0: a null reference, so an empty span.</summary>
    private ref byte First
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (_bytes is null)
                return ref Unsafe.NullRef<byte>();
            return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_bytes), _offset);
        }
    }

    /// <summary>Marks the pages of [<paramref name="at"/>, +<paramref name="length"/>) of the window dirty, after
    /// writes through <see cref="WritableBytes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkWritten(int at, int length)
    {
        if (length <= 0)
            return;
        _ = At(at, length);
        MarkDirty(at, length);
    }

    /// <summary>Bytes from the start of the window's first page to the window's first byte: byte <c>at</c> of the
    /// window lies in page <c>(PageSkew + at) / PageSize</c> counted from that first page. Batch code that writes
    /// many small pieces of a window of at most <see cref="PageMaskPages"/> pages collects their pages in one mask
    /// this way and reports them once with <see cref="MarkPagesWritten"/>.</summary>
    public int PageSkew => _offset & (GuestMemory.PageSize - 1);

    /// <summary>The dirty bit of the window's first page, located once: its <see cref="GuestPageMark.Mark"/> is
    /// <see cref="MarkWritten"/> of any range inside that page (for a window that lies inside one page, any range of
    /// the window). The default mark for the default window.</summary>
    public GuestPageMark FirstPageMark =>
        _dirty is null ? default : new GuestPageMark(_dirty, Narrow.AsUInt32Bits(_offset) / GuestMemory.PageSize);

    /// <summary>Pages a mask of <see cref="MarkPagesWritten"/> can name.</summary>
    public const int PageMaskPages = 64;

    /// <summary>True when every byte of the window lies in its first <see cref="PageMaskPages"/> pages.</summary>
    public bool FitsPageMask =>
        unchecked((ulong)(uint)PageSkew + (uint)_length) <= unchecked((ulong)PageMaskPages * GuestMemory.PageSize);

    /// <summary>Marks dirty each page whose bit is set in <paramref name="pages"/> (bit i: page i counted from the
    /// window's first page, see <see cref="PageSkew"/>); only for a window that <see cref="FitsPageMask"/>, and only
    /// pages that hold window bytes.</summary>
    public void MarkPagesWritten(ulong pages)
    {
        if (pages == 0)
            return;
        if (!FitsPageMask)
            ThrowOutside(0, _length);
        int windowPages = unchecked(
            (int)(((uint)PageSkew + (uint)_length + GuestMemory.PageSize - 1) / GuestMemory.PageSize)
        );
        if (windowPages < PageMaskPages && (pages >> windowPages) != 0)
            ThrowOutside(windowPages * GuestMemory.PageSize, 1);
        uint firstPage = unchecked((uint)_offset / GuestMemory.PageSize);
        ref ulong bits = ref MemoryMarshal.GetArrayDataReference(_dirty!);
        while (pages != 0)
        {
            int bit = System.Numerics.BitOperations.TrailingZeroCount(pages);
            pages &= pages - 1;
            GuestMemory.SetDirtyBit(ref bits, unchecked(firstPage + (uint)bit));
        }
    }

    /// <summary>The little-endian u16 at byte <paramref name="at"/> of the window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort ReadUInt16(int at)
    {
        ushort v = Unsafe.ReadUnaligned<ushort>(ref At(at, 2));
        return BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);
    }

    /// <summary>The little-endian u64 at byte <paramref name="at"/> of the window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadUInt64(int at)
    {
        ulong v = Unsafe.ReadUnaligned<ulong>(ref At(at, 8));
        return BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);
    }

    /// <summary>The 16 bytes at byte <paramref name="at"/> as two little-endian u64 (low = bytes 0..7).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Read128(int at, out ulong low, out ulong high)
    {
        ref byte p = ref At(at, 16);
        low = Unsafe.ReadUnaligned<ulong>(ref p);
        high = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, 8));
        if (!BitConverter.IsLittleEndian)
        {
            low = BinaryPrimitives.ReverseEndianness(low);
            high = BinaryPrimitives.ReverseEndianness(high);
        }
    }

    /// <summary>Stores a little-endian u16 at byte <paramref name="at"/> and marks its page dirty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteUInt16(int at, ushort value)
    {
        Unsafe.WriteUnaligned(
            ref At(at, 2),
            BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value)
        );
        MarkDirty(at, 2);
    }

    /// <summary>Stores a little-endian u64 at byte <paramref name="at"/> and marks its pages dirty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteUInt64(int at, ulong value)
    {
        Unsafe.WriteUnaligned(
            ref At(at, 8),
            BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value)
        );
        MarkDirty(at, 8);
    }

    /// <summary>Stores 16 bytes (two little-endian u64, low first) at byte <paramref name="at"/> in one access and
    /// marks their pages dirty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write128(int at, ulong low, ulong high)
    {
        if (!BitConverter.IsLittleEndian)
        {
            low = BinaryPrimitives.ReverseEndianness(low);
            high = BinaryPrimitives.ReverseEndianness(high);
        }
        Unsafe.WriteUnaligned(ref At(at, 16), System.Runtime.Intrinsics.Vector128.Create(low, high));
        MarkDirty(at, 16);
    }

    /// <summary>The array byte for [at, at+size) of the window, after the one bounds check every access makes
    /// (a host bug, not guest input, fails it: window offsets come from validated ring indices).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte At(int at, int size)
    {
        // unchecked: at is widened, so at + size cannot wrap; the window lies inside its region's array.
        if (unchecked((ulong)(uint)at + (uint)size) > Narrow.AsUInt32Bits(_length))
            ThrowOutside(at, size);
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_bytes!), unchecked(_offset + at));
    }

    /// <summary>Marks the pages of [at, at+size) of the window dirty: an access <see cref="At"/> has checked, so it
    /// lies inside the window's region (as <see cref="GuestMemory.MarkRange"/> requires).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkDirty(int at, int size) => GuestMemory.MarkRange(_dirty!, unchecked(_offset + at), size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowOutside(int at, int size) =>
        throw new ArgumentOutOfRangeException(nameof(at), at, $"a {size}-byte access is outside the guest window");
}
