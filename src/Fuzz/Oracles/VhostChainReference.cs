using System.Buffers.Binary;
using Sim.Devices.Vhost;
using Sim.Engine;
using Sim.Spec.Virtio;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// What one Linux <c>vhost_get_vq_desc</c> (drivers/vhost/vhost.c, 6.x) must do for the vring state and memory it
/// starts from, written from the C functions, not from <see cref="VhostVirtqueue"/>'s walk: the avail idx is read only
/// when the cache equals last_avail_idx ("Failed to access avail idx", "Guest moved used index" when
/// <c>(u16)(avail_idx - last_avail_idx) &gt; num</c>, none available: return num); the head is read at
/// <c>last_avail_idx &amp; (num - 1)</c> ("Failed to read head", "Guest says index %u &gt; %u is available"); then per
/// descriptor, in this order: <c>i &gt;= num</c> ("Desc index is %u &gt; %u"), <c>++found &gt; num</c> ("Loop
/// detected", checked before the read), vhost_get_desc ("Failed to get descriptor"), then get_indirect for an INDIRECT
/// one (length a multiple of 16, translate_desc of the table into at most UIO_MAXIOV iovecs, count at most
/// USHRT_MAX + 1, then per entry <c>++found &gt; count</c>, copy_from_iter_full, nested INDIRECT, translate_desc,
/// out after in; its failure adds "Failure detected in indirect descriptor") or translate_desc of the buffer
/// ("Translation failure", ENOBUFS past the iovec array, EFAULT for an unmapped byte) and "Descriptor has out after
/// in"; next_desc follows NEXT. translate_desc splits a range at every map of the memory table, each map found as
/// vhost_iotlb_itree_first does (the overlapping map with the lowest start, the first added among equals).
/// <see cref="BytesRead"/> is every byte the walk reads from guest memory (a read that faults part-way counts the
/// bytes before the fault), so a walk that reads one descriptor more than the rules allow is told apart.
/// </summary>
internal sealed class VhostChainReference
{
    private readonly List<UserIovec> _iov = new(VhostLimits.IovecsMax);
    private readonly List<UserIovec> _table = new(VhostLimits.IovecsMax);
    private readonly List<VqErrorCode> _errors = [];
    private readonly byte[] _raw = new byte[VirtioSpec.DescSize];
    private VmmAddressSpace _vmm = null!;
    private IReadOnlyList<VhostIotlbMap> _maps = [];

    /// <summary>The vring state a pop starts from.</summary>
    public readonly record struct Start(uint Num, ulong Desc, ulong Avail, ushort LastAvailIdx, ushort AvailIdx);

    /// <summary>The return value: a head, <see cref="Start.Num"/> for none, or -errno.</summary>
    public int Result { get; private set; }

    /// <summary>The vq_err reasons raised, in order.</summary>
    public IReadOnlyList<VqErrorCode> Errors => _errors;

    /// <summary>The iovecs of a returned chain: <see cref="OutCount"/> readable, then <see cref="InCount"/>
    /// writable.</summary>
    public IReadOnlyList<UserIovec> Iov => _iov;

    public int OutCount { get; private set; }

    public int InCount { get; private set; }

    /// <summary>Bytes read from guest memory.</summary>
    public long BytesRead { get; private set; }

    /// <summary>last_avail_idx and the avail idx cache after the pop.</summary>
    public ushort LastAvailIdxAfter { get; private set; }

    public ushort AvailIdxAfter { get; private set; }

    /// <summary>Walks the pop. Reads go through <paramref name="vmm"/>; the caller makes them unobserved.</summary>
    public void Walk(VmmAddressSpace vmm, IReadOnlyList<VhostIotlbMap> maps, in Start s)
    {
        ArgumentNullException.ThrowIfNull(vmm);
        ArgumentNullException.ThrowIfNull(maps);
        _vmm = vmm;
        _maps = maps;
        _iov.Clear();
        _errors.Clear();
        OutCount = 0;
        InCount = 0;
        BytesRead = 0;
        LastAvailIdxAfter = s.LastAvailIdx;
        AvailIdxAfter = s.AvailIdx;
        Result = WalkPop(s);
        if (Result >= 0 && Result != (int)s.Num)
            LastAvailIdxAfter = Narrow.ToUInt16Wrapping(s.LastAvailIdx + 1);
        else
            _iov.Clear();
    }

    private int WalkPop(in Start s)
    {
        if (s.AvailIdx == s.LastAvailIdx)
        {
            if (!TryRead16(Wrap(s.Avail, VirtioSpec.AvailIdxOffset), out ushort availIdx))
            {
                return Err(VqErrorCode.AvailIdxAccess, VhostResult.Fault);
            }
            AvailIdxAfter = availIdx;
            if (Narrow.ToUInt16Wrapping(availIdx - s.LastAvailIdx) > s.Num)
            {
                return Err(VqErrorCode.GuestMovedUsedIndex, VhostResult.Fault);
            }
            if (availIdx == s.LastAvailIdx)
                return (int)s.Num;
        }
        ulong slot = s.LastAvailIdx & (s.Num - 1);
        if (!TryRead16(Wrap(s.Avail, VirtioSpec.AvailRingOffset + (2 * slot)), out ushort head))
        {
            return Err(VqErrorCode.HeadRead, VhostResult.Fault);
        }
        if (head >= s.Num)
            return Err(VqErrorCode.HeadOutOfRange, VhostResult.Invalid);
        uint i = head;
        uint found = 0;
        while (true)
        {
            if (i >= s.Num)
                return Err(VqErrorCode.DescIndexOutOfRange, VhostResult.Invalid);
            if (++found > s.Num)
                return Err(VqErrorCode.LoopDetected, VhostResult.Invalid);
            if (Read(Wrap(s.Desc, (ulong)i * VirtioSpec.DescSize), _raw) != VirtioSpec.DescSize)
            {
                return Err(VqErrorCode.DescRead, VhostResult.Fault);
            }
            (ulong addr, uint len, ushort flags, ushort next) = Decode(_raw);
            if ((flags & VirtioSpec.DescFIndirect) != 0)
            {
                VhostResult r = WalkIndirect(addr, len);
                if (r != VhostResult.Ok)
                    return Err(VqErrorCode.IndirectFailure, r);
            }
            else
            {
                bool writable = (flags & VirtioSpec.DescFWrite) != 0;
                VhostResult r = AddBuffer(addr, len, writable, VqErrorCode.Translation, VqErrorCode.OutAfterIn);
                if (r != VhostResult.Ok)
                    return -(int)r;
            }
            if ((flags & VirtioSpec.DescFNext) == 0)
                return head;
            i = next;
        }
    }

    /// <summary>get_indirect.</summary>
    private VhostResult WalkIndirect(ulong addr, uint len)
    {
        if (len % VirtioSpec.DescSize != 0)
            return Raise(VqErrorCode.IndirectBadLength, VhostResult.Invalid);
        _table.Clear();
        VhostResult t = Translate(addr, len, _table, VhostLimits.IovecsMax);
        if (t != VhostResult.Ok)
            return Raise(VqErrorCode.IndirectTranslation, t);
        uint count = len / VirtioSpec.DescSize;
        if (count > ushort.MaxValue + 1u)
            return Raise(VqErrorCode.IndirectTooBig, VhostResult.TooBig);
        int index = 0;
        ulong offset = 0;
        uint found = 0;
        while (true)
        {
            if (++found > count)
                return Raise(VqErrorCode.IndirectLoopDetected, VhostResult.Invalid);
            if (!CopyFromTable(ref index, ref offset))
                return Raise(VqErrorCode.IndirectDescRead, VhostResult.Invalid);
            (ulong a, uint l, ushort flags, _) = Decode(_raw);
            if ((flags & VirtioSpec.DescFIndirect) != 0)
                return Raise(VqErrorCode.NestedIndirect, VhostResult.Invalid);
            bool writable = (flags & VirtioSpec.DescFWrite) != 0;
            VhostResult r = AddBuffer(
                a,
                l,
                writable,
                VqErrorCode.IndirectBufferTranslation,
                VqErrorCode.IndirectOutAfterIn
            );
            if (r != VhostResult.Ok)
                return r;
            // next_desc: the table is read in order; only F_NEXT matters.
            if ((flags & VirtioSpec.DescFNext) == 0)
                return VhostResult.Ok;
        }
    }

    /// <summary>translate_desc of one buffer into the chain's iovecs, then the out-after-in rule.</summary>
    private VhostResult AddBuffer(ulong addr, uint len, bool writable, VqErrorCode translation, VqErrorCode outAfterIn)
    {
        int before = _iov.Count;
        VhostResult t = Translate(addr, len, _iov, VhostLimits.IovecsMax - before);
        if (t != VhostResult.Ok)
            return Raise(translation, t);
        int added = _iov.Count - before;
        if (writable)
        {
            InCount += added;
            return VhostResult.Ok;
        }
        if (InCount != 0)
            return Raise(outAfterIn, VhostResult.Invalid);
        OutCount += added;
        return VhostResult.Ok;
    }

    /// <summary>translate_desc: one iovec per map the range crosses; ENOBUFS when more than
    /// <paramref name="room"/> are needed, EFAULT at the first unmapped byte.</summary>
    private VhostResult Translate(ulong addr, uint len, List<UserIovec> into, int room)
    {
        ulong last = len == 0 ? addr : Wrap(addr, len - 1UL);
        ulong done = 0;
        int added = 0;
        while (len > done)
        {
            if (added >= room)
                return VhostResult.NoBuffers;
            if (!TryItreeFirst(addr, last, out VhostIotlbMap map) || map.Start > addr)
                return VhostResult.Fault;
            // Bytes of the map from addr on; 0 stands for 2^64 (a map covering everything).
            ulong size = Wrap(map.Last - addr, 1);
            ulong chunk = size == 0 ? len - done : Math.Min(len - done, size);
            into.Add(new UserIovec(Wrap(map.UserAddr, addr - map.Start), chunk));
            added++;
            done += chunk;
            addr = Wrap(addr, chunk);
        }
        return VhostResult.Ok;
    }

    /// <summary>vhost_iotlb_itree_first: of the maps overlapping [start, last], the one with the lowest start, the
    /// first in table order among equal starts.</summary>
    private bool TryItreeFirst(ulong start, ulong last, out VhostIotlbMap map)
    {
        map = default;
        bool any = false;
        foreach (VhostIotlbMap m in _maps)
        {
            if (m.Start > last || m.Last < start)
                continue;
            if (!any || m.Start < map.Start)
                map = m;
            any = true;
        }
        return any;
    }

    /// <summary>copy_from_iter_full of 16 bytes from the table's iovecs at the cursor.</summary>
    private bool CopyFromTable(ref int index, ref ulong offset)
    {
        int done = 0;
        while (done < _raw.Length && index < _table.Count)
        {
            UserIovec v = _table[index];
            int chunk = (int)Math.Min(v.Len - offset, (ulong)(_raw.Length - done));
            if (offset > ulong.MaxValue - v.Base)
                return false;
            if (Read(v.Base + offset, _raw.AsSpan(done, chunk)) != chunk)
                return false;
            done += chunk;
            offset += (ulong)chunk;
            if (offset == v.Len)
            {
                index++;
                offset = 0;
            }
        }
        return done == _raw.Length;
    }

    private static (ulong Addr, uint Len, ushort Flags, ushort Next) Decode(ReadOnlySpan<byte> raw) =>
        (
            BinaryPrimitives.ReadUInt64LittleEndian(raw),
            BinaryPrimitives.ReadUInt32LittleEndian(raw[VirtioSpec.DescLenOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescFlagsOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescNextOffset..])
        );

    private int Read(ulong at, Span<byte> into)
    {
        int got = _vmm.Read(at, into);
        BytesRead += got;
        return got;
    }

    private bool TryRead16(ulong at, out ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        bool ok = Read(at, b) == 2;
        value = ok ? BinaryPrimitives.ReadUInt16LittleEndian(b) : (ushort)0;
        return ok;
    }

    private VhostResult Raise(VqErrorCode code, VhostResult r)
    {
        _errors.Add(code);
        return r;
    }

    private int Err(VqErrorCode code, VhostResult r) => -(int)Raise(code, r);

    /// <summary>C's wrapping u64 addition (user pointer arithmetic).</summary>
    private static ulong Wrap(ulong a, ulong b) => b > ulong.MaxValue - a ? b - (ulong.MaxValue - a) - 1 : a + b;
}
