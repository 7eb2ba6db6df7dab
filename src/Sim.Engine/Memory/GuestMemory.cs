using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sim.Engine.Memory;

/// <summary>
/// Byte-exact guest-physical memory made of non-overlapping regions. Every accessor is a
/// <c>Try</c> method: a guest-controlled address or length can never raise a host exception, and
/// the range check cannot overflow (<c>len &lt;= size &amp;&amp; offset &lt;= size - len</c>).
/// An access must lie inside one region (as a single iovec must in QEMU's address_space_map);
/// callers that need to cross regions split the access themselves.
/// All multi-byte values are little-endian (VIRTIO 1.2 §1.4: legacy and modern rings on x86).
/// </summary>
public sealed partial class GuestMemory
{
    /// <summary>Dirty-tracking granule (x86 page size; also the unit of trace memory diffs).</summary>
    public const int PageSize = 4096;

    private readonly MemoryRegion[] _regions;
    private readonly ulong[][] _dirty;

    // The hot region: the one the last access hit (nearly every access in a run lands in the region that holds
    // the rings and buffers). Every accessor tests it inline; a miss searches all regions and makes the hit hot.
    private byte[] _hotBytes;
    private ulong[] _hotDirty;
    private ulong _hotBase;
    private ulong _hotSize;

    // Observer to call, or null when none is attached or the actor is Host: one test on the fast path.
    private IMemoryObserver? _watcher;
    private IMemoryObserver? _observer;
    private MemoryActor _actor = MemoryActor.Device;

    private GuestMemory(MemoryRegion[] regions)
    {
        _regions = regions;
        _dirty = new ulong[regions.Length][];
        for (int i = 0; i < regions.Length; i++)
        {
            ulong pages = (regions[i].Size + PageSize - 1) / PageSize;
            _dirty[i] = new ulong[(pages + 63) / 64];
        }
        _hotBytes = regions[0].Bytes;
        _hotDirty = _dirty[0];
        _hotBase = regions[0].Base;
        _hotSize = regions[0].Size;
    }

    /// <summary>Regions in ascending address order.</summary>
    public IReadOnlyList<MemoryRegion> Regions => _regions;

    /// <summary>Total bytes across all regions.</summary>
    public ulong TotalSize
    {
        get
        {
            ulong total = 0;
            foreach (MemoryRegion r in _regions)
                total += r.Size;
            return total;
        }
    }

    /// <summary>Attached observer (trace recorder, fuzz checker), or null.</summary>
    public IMemoryObserver? Observer
    {
        get => _observer;
        set
        {
            _observer = value;
            _watcher = _actor == MemoryActor.Host ? null : value;
        }
    }

    /// <summary>Who the next accesses are attributed to. Guest drivers switch this to
    /// <see cref="MemoryActor.Guest"/> with <see cref="As"/> while they run.</summary>
    public MemoryActor Actor
    {
        get => _actor;
        set
        {
            _actor = value;
            IMemoryObserver? watcher = value == MemoryActor.Host ? null : _observer;
            // Stored only when it changes: a reference store into the heap costs a GC write barrier (a helper call),
            // and the actor switches around every guest-driver step (four times per kick in bench ring, issue 13
            // section 5) while the watcher almost never changes.
            if (!ReferenceEquals(_watcher, watcher))
                _watcher = watcher;
        }
    }

    /// <summary>Single region of <paramref name="size"/> bytes at address 0.</summary>
    public static GuestMemory CreateFlat(ulong size)
    {
        if (!TryCreate(MemoryLayout.Single(size), out GuestMemory? memory, out string? error))
        {
            throw new ArgumentException(error, nameof(size));
        }
        return memory;
    }

    /// <summary>Builds memory for <paramref name="layout"/>, or says why the layout is invalid
    /// (overlap, empty or oversized region, too many regions). Layouts come from traces and users,
    /// so this does not throw.</summary>
    public static bool TryCreate(
        MemoryLayout layout,
        [NotNullWhen(true)] out GuestMemory? memory,
        [NotNullWhen(false)] out string? error
    )
    {
        memory = null;
        IReadOnlyList<RegionSpec> specs = layout.Regions;
        if (specs.Count == 0)
        {
            error = "memory layout has no regions";
            return false;
        }
        if (specs.Count > MemoryLayout.RegionsMax)
        {
            error = $"memory layout has {specs.Count} regions; at most {MemoryLayout.RegionsMax} are allowed";
            return false;
        }
        var sorted = specs.OrderBy(s => s.Base).ToArray();
        ulong total = 0;
        for (int i = 0; i < sorted.Length; i++)
        {
            RegionSpec s = sorted[i];
            if (s.Size == 0)
            {
                error = $"region at 0x{s.Base:x} is empty";
                return false;
            }
            if (s.Size > MemoryLayout.RegionSizeMax)
            {
                error = $"region at 0x{s.Base:x} has size 0x{s.Size:x}; the most is 0x{MemoryLayout.RegionSizeMax:x}";
                return false;
            }
            if (s.Base > ulong.MaxValue - s.Size)
            {
                error = $"region at 0x{s.Base:x} of size 0x{s.Size:x} wraps past 2^64";
                return false;
            }
            if (i > 0 && sorted[i - 1].Base + sorted[i - 1].Size > s.Base)
            {
                error = $"region at 0x{s.Base:x} overlaps the region at 0x{sorted[i - 1].Base:x}";
                return false;
            }
            total += s.Size;
            if (total > MemoryLayout.TotalSizeMax)
            {
                error = $"memory layout totals more than 0x{MemoryLayout.TotalSizeMax:x} bytes";
                return false;
            }
        }
        var regions = new MemoryRegion[sorted.Length];
        for (int i = 0; i < sorted.Length; i++)
            regions[i] = new MemoryRegion(sorted[i].Base, new byte[sorted[i].Size]);
        memory = new GuestMemory(regions);
        error = null;
        return true;
    }

    /// <summary>The layout this memory was created with.</summary>
    public MemoryLayout Layout => new(_regions.Select(r => new RegionSpec(r.Base, r.Size)).ToArray());

    /// <summary>Attributes accesses to <paramref name="actor"/> until the returned scope is disposed.</summary>
    public ActorScope As(MemoryActor actor)
    {
        var scope = new ActorScope(this, Actor);
        Actor = actor;
        return scope;
    }

    /// <summary>Restores the previous <see cref="Actor"/> on dispose. A struct: no allocation.</summary>
    public readonly struct ActorScope : IDisposable
    {
        private readonly GuestMemory _memory;
        private readonly MemoryActor _previous;

        internal ActorScope(GuestMemory memory, MemoryActor previous)
        {
            _memory = memory;
            _previous = previous;
        }

        /// <summary>Restores the actor that was current before the scope.</summary>
        public void Dispose() => _memory.Actor = _previous;
    }

    /// <summary>True when [address, address+length) lies inside one region. Overflow-safe.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValidRange(GuestAddress address, ulong length) => TryLocate(address.Value, length, out _);

    /// <summary>Makes the region holding [address, address+length) hot and gives the offset into it. The check is
    /// written so that it cannot overflow for any inputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryLocate(ulong address, ulong length, out int offset)
    {
        // unchecked: an address below the hot base wraps to at least 2^64 - base, which exceeds the region's
        // size (base + size < 2^64 is checked at creation), so the size test rejects it like any offset past the
        // end; size - length is only computed when length <= size.
        ulong off = unchecked(address - _hotBase);
        ulong size = _hotSize;
        if (length <= size && off <= unchecked(size - length))
        {
            offset = Narrow.LowInt32(off); // off <= size <= RegionSizeMax (2^30)
            return true;
        }
        // The slow search returns the offset rather than writing through an out parameter: taking the address of
        // the caller's offset would keep it in memory on every access, fast path included.
        offset = LocateSlow(address, length);
        return offset >= 0;
    }

    /// <summary>The hot region's byte at <paramref name="offset"/>, without a bounds check: only for an offset that
    /// <see cref="TryLocate"/> just returned, so [offset, offset+length) lies inside the region, whose byte array is
    /// exactly the region's size. (The span constructor would check the range a second time on every access.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte At(int offset) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_hotBytes), offset);

    /// <summary>Searches every region for [address, address+length); makes the one found hot and returns the offset
    /// into it, or -1 when no single region holds the range.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int LocateSlow(ulong address, ulong length)
    {
        MemoryRegion[] regions = _regions;
        for (int i = 0; i < regions.Length; i++)
        {
            MemoryRegion r = regions[i];
            if (address < r.Base)
                break;
            ulong off = address - r.Base;
            ulong size = r.Size;
            if (length <= size && off <= size - length)
            {
                _hotBytes = r.Bytes;
                _hotDirty = _dirty[i];
                _hotBase = r.Base;
                _hotSize = size;
                return Narrow.LowInt32(off); // off <= size <= RegionSizeMax (2^30)
            }
        }
        return -1;
    }

    /// <summary>A writable span over [address, address+length), inside one region. Writes through the
    /// span bypass the observer and dirty tracking: use it only for host-side bulk work, and call
    /// <see cref="MarkDirty"/> if the guest-visible bytes change.</summary>
    public bool TryGetSpan(GuestAddress address, ulong length, out Span<byte> span)
    {
        if (length > int.MaxValue || !TryLocate(address.Value, length, out int offset))
        {
            span = default;
            return false;
        }
        span = _hotBytes.AsSpan(offset, Narrow.LowInt32(length));
        return true;
    }

    /// <summary>True while an observer sees accesses (one is attached and the actor is not
    /// <see cref="MemoryActor.Host"/>). <see cref="GuestWindow"/> accesses bypass the observer, so code using a
    /// window tests this first and uses the accessors below while it is true.</summary>
    public bool IsObserved
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _watcher is not null;
    }

    /// <summary>A window on [address, address+length) inside one region (see <see cref="GuestWindow"/>), located
    /// once; false when no single region holds the range.</summary>
    public bool TryGetWindow(GuestAddress address, int length, out GuestWindow window)
    {
        if (length < 0 || !TryLocate(address.Value, Narrow.AsUInt64Bits(length), out int offset))
        {
            window = default;
            return false;
        }
        window = new GuestWindow(_hotBytes, _hotDirty, offset, length, address);
        return true;
    }

    /// <summary>A read-only view of the <paramref name="length"/> guest bytes at <paramref name="address"/>, counted
    /// as one read of them (the observer sees it as it sees <see cref="TryRead"/>), without copying. Decode it at
    /// once: the view shows later writes too.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadInPlace(GuestAddress address, int length, out ReadOnlySpan<byte> data)
    {
        if (length < 0 || !TryLocate(address.Value, Narrow.AsUInt64Bits(length), out int offset))
        {
            data = default;
            return false;
        }
        data = MemoryMarshal.CreateReadOnlySpan(ref At(offset), length);
        if (_watcher is not null)
            NotifyRead(address, data);
        return true;
    }

    /// <summary>Copies guest bytes at <paramref name="address"/> into <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead(GuestAddress address, Span<byte> destination)
    {
        if (!TryLocate(address.Value, Narrow.AsUInt64Bits(destination.Length), out int offset))
            return false;
        ReadOnlySpan<byte> src = MemoryMarshal.CreateReadOnlySpan(ref At(offset), destination.Length);
        Copy(src, destination);
        if (_watcher is not null)
            NotifyRead(address, src);
        return true;
    }

    /// <summary>Copies <paramref name="source"/> into guest memory at <paramref name="address"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite(GuestAddress address, ReadOnlySpan<byte> source)
    {
        if (!TryLocate(address.Value, Narrow.AsUInt64Bits(source.Length), out int offset))
            return false;
        Span<byte> dst = MemoryMarshal.CreateSpan(ref At(offset), source.Length);
        Copy(source, dst);
        if (source.Length != 0)
            MarkDirtyHot(offset, source.Length);
        if (_watcher is not null)
            NotifyWrite(address, dst);
        return true;
    }

    /// <summary>Reads the byte at <paramref name="address"/>; false (and 0) when it is outside guest memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadUInt8(GuestAddress address, out byte value)
    {
        if (!TryLocate(address.Value, 1, out int offset))
        {
            value = 0;
            return false;
        }
        ref byte at = ref At(offset);
        value = at;
        if (_watcher is not null)
            NotifyRead(address, MemoryMarshal.CreateReadOnlySpan(ref at, 1));
        return true;
    }

    /// <summary>Reads the le16 at <paramref name="address"/>; false (and 0) when any byte is outside
    /// guest memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadUInt16(GuestAddress address, out ushort value)
    {
        if (!TryLocate(address.Value, 2, out int offset))
        {
            value = 0;
            return false;
        }
        ref byte at = ref At(offset);
        value = LittleEndian(Unsafe.ReadUnaligned<ushort>(ref at));
        if (_watcher is not null)
            NotifyRead(address, MemoryMarshal.CreateReadOnlySpan(ref at, 2));
        return true;
    }

    /// <summary>Reads the le32 at <paramref name="address"/>; false (and 0) when any byte is outside
    /// guest memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadUInt32(GuestAddress address, out uint value)
    {
        if (!TryLocate(address.Value, 4, out int offset))
        {
            value = 0;
            return false;
        }
        ref byte at = ref At(offset);
        value = LittleEndian(Unsafe.ReadUnaligned<uint>(ref at));
        if (_watcher is not null)
            NotifyRead(address, MemoryMarshal.CreateReadOnlySpan(ref at, 4));
        return true;
    }

    /// <summary>Reads the le64 at <paramref name="address"/>; false (and 0) when any byte is outside
    /// guest memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadUInt64(GuestAddress address, out ulong value)
    {
        if (!TryLocate(address.Value, 8, out int offset))
        {
            value = 0;
            return false;
        }
        ref byte at = ref At(offset);
        value = LittleEndian(Unsafe.ReadUnaligned<ulong>(ref at));
        if (_watcher is not null)
            NotifyRead(address, MemoryMarshal.CreateReadOnlySpan(ref at, 8));
        return true;
    }

    /// <summary>Writes the byte at <paramref name="address"/>; false (nothing written) when it is outside guest
    /// memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWriteUInt8(GuestAddress address, byte value)
    {
        if (!TryLocate(address.Value, 1, out int offset))
            return false;
        ref byte at = ref At(offset);
        at = value;
        AfterWrite(address, offset, ref at, 1);
        return true;
    }

    /// <summary>Writes <paramref name="value"/> as le16 at <paramref name="address"/>; false (nothing written) when any
    /// byte is outside guest memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWriteUInt16(GuestAddress address, ushort value)
    {
        if (!TryLocate(address.Value, 2, out int offset))
            return false;
        ref byte at = ref At(offset);
        Unsafe.WriteUnaligned(ref at, LittleEndian(value));
        AfterWrite(address, offset, ref at, 2);
        return true;
    }

    /// <summary>Writes <paramref name="value"/> as le32 at <paramref name="address"/>; false (nothing written) when any
    /// byte is outside guest memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWriteUInt32(GuestAddress address, uint value)
    {
        if (!TryLocate(address.Value, 4, out int offset))
            return false;
        ref byte at = ref At(offset);
        Unsafe.WriteUnaligned(ref at, LittleEndian(value));
        AfterWrite(address, offset, ref at, 4);
        return true;
    }

    /// <summary>Writes <paramref name="value"/> as le64 at <paramref name="address"/>; false (nothing written) when any
    /// byte is outside guest memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWriteUInt64(GuestAddress address, ulong value)
    {
        if (!TryLocate(address.Value, 8, out int offset))
            return false;
        ref byte at = ref At(offset);
        Unsafe.WriteUnaligned(ref at, LittleEndian(value));
        AfterWrite(address, offset, ref at, 8);
        return true;
    }

    /// <summary>Stores 16 bytes at <paramref name="address"/> in one access (a whole split-ring descriptor, VIRTIO 1.2
    /// §2.7.5); the observer sees it as it sees a 16-byte <see cref="TryWrite"/>. Byte i of the vector goes to
    /// address + i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWriteVector128(GuestAddress address, Vector128<byte> value)
    {
        if (!TryLocate(address.Value, 16, out int offset))
            return false;
        ref byte at = ref At(offset);
        Unsafe.WriteUnaligned(ref at, value);
        AfterWrite(address, offset, ref at, 16);
        return true;
    }

    /// <summary>Dirty marks and the observer after a write of <paramref name="written"/> (not empty) at
    /// <paramref name="offset"/> in the hot region.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AfterWrite(GuestAddress address, int offset, ref byte written, int length)
    {
        MarkDirtyHot(offset, length);
        if (_watcher is not null)
            NotifyWrite(address, MemoryMarshal.CreateReadOnlySpan(ref written, length));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort LittleEndian(ushort value) =>
        BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint LittleEndian(uint value) =>
        BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LittleEndian(ulong value) =>
        BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NotifyRead(GuestAddress address, ReadOnlySpan<byte> data) => _watcher?.OnRead(_actor, address, data);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NotifyWrite(GuestAddress address, ReadOnlySpan<byte> data) => _watcher?.OnWrite(_actor, address, data);

    /// <summary>Copies a guest access of any size; the 8- and 16-byte ones (descriptors, requests) without a
    /// call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        // Both spans have the same length (callers build one from the other's length), so the unchecked
        // 16- and 8-byte moves stay inside both.
        ref byte from = ref MemoryMarshal.GetReference(source);
        ref byte to = ref MemoryMarshal.GetReference(destination);
        if (source.Length == 16)
            Unsafe.WriteUnaligned(ref to, Unsafe.ReadUnaligned<Vector128<byte>>(ref from));
        else if (source.Length == 8)
            Unsafe.WriteUnaligned(ref to, Unsafe.ReadUnaligned<ulong>(ref from));
        else
            source.CopyTo(destination);
    }

    /// <summary>Marks the pages of [offset, offset+length) in the hot region dirty; <paramref name="length"/> &gt;
    /// 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkDirtyHot(int offset, int length) => MarkRange(_hotDirty, offset, length);

    /// <summary>Marks the pages of [offset, offset+length) of a region dirty in its bitmap <paramref name="bits"/>;
    /// <paramref name="length"/> &gt; 0 and the range lies inside the region (the memory's accessors and
    /// <see cref="GuestWindow"/> check that first). The first page is marked inline (small accesses rarely cross a
    /// page).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void MarkRange(ulong[] bits, int offset, int length)
    {
        // unchecked: offset + length <= region size <= RegionSizeMax (2^30) and length >= 1.
        uint first = unchecked((uint)offset / PageSize);
        uint last = unchecked((uint)(offset + length - 1) / PageSize);
        // No bounds check: first < the region's page count, and the bitmap has a bit for every page of the region.
        SetDirtyBit(ref MemoryMarshal.GetArrayDataReference(bits), first);
        if (last != first)
            MarkPages(bits, first + 1, last);
    }

    /// <summary>Sets page <paramref name="page"/>'s bit in the bitmap at <paramref name="bits"/> (no bounds check: the
    /// caller knows the page is the region's). The word is stored only when the bit is clear: a run writes the same
    /// few ring and buffer pages over and over, and an unconditional read-modify-write of one word would chain every
    /// write of a request on the previous one's store (store-to-load forwarding), where a load and a well-predicted
    /// branch do not.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SetDirtyBit(ref ulong bits, uint page)
    {
        ref ulong word = ref Unsafe.Add(ref bits, page >> 6);
        ulong mask = 1UL << Narrow.AsInt32Bits(page);
        if ((word & mask) == 0)
            word |= mask;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MarkPages(ulong[] bits, uint first, uint last)
    {
        for (uint p = first; p <= last; p++)
            bits[p >> 6] |= 1UL << Narrow.AsInt32Bits(p & 63);
    }

    /// <summary>Marks [address, address+length) dirty after a write through <see cref="TryGetSpan"/>.
    /// Returns false if the range is not inside one region.</summary>
    public bool MarkDirty(GuestAddress address, ulong length)
    {
        if (!TryLocate(address.Value, length, out int offset))
            return false;
        if (length != 0)
            MarkDirtyHot(offset, Narrow.LowInt32(length));
        return true;
    }

    /// <summary>Forgets all dirty marks: the next <see cref="DirtyPages"/> reports only pages written after this
    /// call.</summary>
    public void ClearDirty()
    {
        for (int i = 0; i < _dirty.Length; i++)
        {
            ulong[] bits = _dirty[i];
            SaveStalePages(i, bits);
            Array.Clear(bits);
        }
    }

    /// <summary>Guest-physical addresses of pages written since the last <see cref="ClearDirty"/>,
    /// in ascending address order (deterministic).</summary>
    public IEnumerable<GuestAddress> DirtyPages()
    {
        for (int r = 0; r < _regions.Length; r++)
        {
            ulong[] bits = _dirty[r];
            for (int w = 0; w < bits.Length; w++)
            {
                ulong word = bits[w];
                while (word != 0)
                {
                    int bit = System.Numerics.BitOperations.TrailingZeroCount(word);
                    word &= word - 1;
                    yield return new GuestAddress(_regions[r].Base + (unchecked((ulong)((w << 6) + bit)) * PageSize));
                }
            }
        }
    }

    /// <summary>Copies all regions. Restoring the snapshot returns memory to exactly these bytes.</summary>
    public MemorySnapshot Snapshot()
    {
        var copies = new byte[_regions.Length][];
        for (int i = 0; i < _regions.Length; i++)
            copies[i] = (byte[])_regions[i].Bytes.Clone();
        return new MemorySnapshot(Layout, copies);
    }

    /// <summary>Restores a snapshot taken from memory of the same layout. Marks every page dirty.</summary>
    public void Restore(MemorySnapshot snapshot)
    {
        if (snapshot.Contents.Count != _regions.Length)
            throw new ArgumentException("snapshot layout differs from this memory's layout", nameof(snapshot));
        for (int i = 0; i < _regions.Length; i++)
        {
            byte[] src = snapshot.Contents[i];
            if (src.Length != _regions[i].Bytes.Length)
                throw new ArgumentException("snapshot layout differs from this memory's layout", nameof(snapshot));
            src.CopyTo(_regions[i].Bytes, 0);
            MarkAllDirtyIn(i);
        }
    }

    /// <summary>Zeroes every byte (a fresh guest). Marks every page dirty.</summary>
    public void Clear()
    {
        for (int i = 0; i < _regions.Length; i++)
        {
            Array.Clear(_regions[i].Bytes);
            MarkAllDirtyIn(i);
        }
    }

    /// <summary>Marks every page of region <paramref name="region"/> dirty — and only those: the bits past the
    /// region's last page in the final word stay clear, or <see cref="DirtyPages"/> would report pages beyond the
    /// region (and wrap past 2^64 for a region at the top of the address space).</summary>
    private void MarkAllDirtyIn(int region)
    {
        ulong[] bits = _dirty[region];
        Array.Fill(bits, ulong.MaxValue);
        ulong pages = (_regions[region].Size + PageSize - 1) / PageSize;
        int tail = Narrow.LowInt32(pages % 64);
        if (tail != 0)
            bits[^1] = (1UL << tail) - 1;
    }
}
