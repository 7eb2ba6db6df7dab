namespace Sim.Devices.Vhost;

/// <summary>
/// The device's memory table (dev-&gt;umem, a struct vhost_iotlb): guest-physical ranges and the userspace addresses
/// they are found at. Built by VHOST_SET_MEM_TABLE (<see cref="TryBuild"/>) and used by translate_desc
/// (<see cref="TryTranslate"/>). Immutable once built; at most <see cref="VhostOptions.MemRegionsMax"/> + 1 maps.
/// <para>
/// Linux keeps the maps in an interval tree and does not reject overlapping regions (QEMU never sends any; its
/// memory listener merges and de-duplicates sections): translate_desc uses the overlapping map with the lowest
/// start (vhost_iotlb_itree_first), ties going to the one added first. The model does the same.
/// </para>
/// </summary>
public sealed class VhostIotlb
{
    private readonly VhostIotlbMap[] _maps;

    private VhostIotlb(VhostIotlbMap[] maps) => _maps = maps;

    /// <summary>An empty table (vhost_dev_reset_owner_prepare): every translation faults.</summary>
    public static VhostIotlb Empty { get; } = new([]);

    /// <summary>The maps ordered by start (insertion order among equal starts).</summary>
    public IReadOnlyList<VhostIotlbMap> Maps => _maps;

    /// <summary>
    /// vhost_set_memory's table building: each region becomes map [gpa, gpa + size - 1] at its userspace address
    /// (vhost_iotlb_add_range). EFAULT when last &lt; start — a zero size (except at GPA 0, see below) or a range that
    /// wraps past 2^64. A zero-sized region at GPA 0 has last = 2^64 - 1, which Linux accepts and, as
    /// [0, ULONG_MAX] would overflow its size, splits into two maps covering all of the 64-bit space.
    /// The region count and the padding are checked by the caller.
    /// </summary>
    public static VhostResult TryBuild(ReadOnlySpan<VhostMemoryRegion> regions, out VhostIotlb table)
    {
        table = Empty;
        var maps = new List<VhostIotlbMap>(regions.Length + 1);
        foreach (VhostMemoryRegion r in regions)
        {
            ulong start = r.GuestPhysAddr;
            ulong last = unchecked(r.GuestPhysAddr + r.MemorySize - 1);
            if (last < start)
                return VhostResult.Fault;
            if (start == 0 && last == ulong.MaxValue)
            {
                ulong mid = last / 2;
                maps.Add(new VhostIotlbMap(0, mid, r.UserspaceAddr));
                maps.Add(new VhostIotlbMap(mid + 1, last, unchecked(r.UserspaceAddr + mid + 1)));
                continue;
            }
            maps.Add(new VhostIotlbMap(start, last, r.UserspaceAddr));
        }
        // Stable sort by start: equal starts keep insertion order, as the interval tree's rightward insert does.
        VhostIotlbMap[] sorted = maps.Select((m, i) => (m, i))
            .OrderBy(t => t.m.Start)
            .ThenBy(t => t.i)
            .Select(t => t.m)
            .ToArray();
        table = new VhostIotlb(sorted);
        return VhostResult.Ok;
    }

    /// <summary>vq_memory_access_ok without dirty logging: every map's userspace range must not overflow
    /// (vhost_overflow) and must pass access_ok.</summary>
    public bool UserRangesOk()
    {
        foreach (VhostIotlbMap m in _maps)
        {
            ulong size = m.Size;
            if (size != 0 && m.UserAddr > ulong.MaxValue - size + 1)
                return false;
            if (!VhostLimits.AccessOk(m.UserAddr, size))
                return false;
        }
        return true;
    }

    /// <summary>
    /// translate_desc: splits guest range [<paramref name="addr"/>, +<paramref name="len"/>) into userspace iovecs,
    /// one per map it crosses, written to <paramref name="iov"/>. A zero length yields no iovec (accepted, unlike
    /// QEMU's "zero sized buffers are not allowed"). Fails with <see cref="VhostResult.NoBuffers"/> (ENOBUFS) when
    /// more iovecs are needed than <paramref name="iov"/> holds, <see cref="VhostResult.Fault"/> (EFAULT) when a byte
    /// is not mapped — including a range that wraps past 2^64, whose <c>last</c> wraps below <c>addr</c> as in C.
    /// </summary>
    public bool TryTranslate(ulong addr, uint len, Span<UserIovec> iov, out int count, out VhostResult error)
    {
        count = 0;
        error = VhostResult.Ok;
        ulong last = unchecked(addr + len - 1);
        ulong done = 0;
        // Bounded: every step maps at least one byte, and there are at most as many steps as maps (each step ends a
        // map); a step that would exceed the iovec array fails first.
        while (len > done)
        {
            if (count >= iov.Length)
            {
                error = VhostResult.NoBuffers;
                return false;
            }
            if (!TryFirst(addr, last, out VhostIotlbMap map) || map.Start > addr)
            {
                error = VhostResult.Fault;
                return false;
            }
            ulong size = unchecked(map.Last - addr + 1); // bytes of this map from addr on (>= 1)
            ulong chunk = size == 0 ? len - done : Math.Min(len - done, size);
            iov[count++] = new UserIovec(unchecked(map.UserAddr + (addr - map.Start)), chunk);
            done += chunk;
            addr = unchecked(addr + chunk);
        }
        return true;
    }

    /// <summary>vhost_iotlb_itree_first: the overlapping map with the lowest start (first added among equals).
    /// Overlap is <c>map.Start &lt;= last &amp;&amp; map.Last &gt;= start</c>, evaluated literally even when last
    /// wrapped.</summary>
    private bool TryFirst(ulong start, ulong last, out VhostIotlbMap map)
    {
        foreach (VhostIotlbMap m in _maps)
        {
            if (m.Start <= last && m.Last >= start)
            {
                map = m;
                return true;
            }
        }
        map = default;
        return false;
    }
}
