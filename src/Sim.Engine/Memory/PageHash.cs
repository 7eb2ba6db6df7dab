namespace Sim.Engine.Memory;

/// <summary>
/// The page-wise memory hash (<see cref="MemoryHashScheme.PageWise"/>, trace format 2; traces/README.md §2).
/// Each page contributes <see cref="OfPage"/>: 0 for an all-zero page, else the <see cref="StableHash64"/> of its
/// guest-physical address and its bytes. The contributions are combined by exclusive-or, which is
/// order-independent, so a write to one page updates the combination by (old xor new) without touching the others:
/// a checkpoint costs the pages written since the previous one, not a pass over the whole memory. The combination
/// is then folded with the layout (each region's base and size, ascending) by <see cref="Combine"/>.
/// <para>Strength: a change to one page goes unnoticed only if its 64-bit page hash collides, as the linear hash
/// of format 1 does only if its chain collides; changes to several pages only if their differences cancel, with
/// the same odds. Keying each page by its address keeps equal pages from cancelling each other and makes moved
/// or swapped pages count as changes.</para>
/// </summary>
public static class PageHash
{
    /// <summary>Contribution of the page at guest-physical <paramref name="address"/> holding
    /// <paramref name="bytes"/> (a whole page, or the shorter last page of a region whose size is not a multiple of
    /// the page size).</summary>
    public static ulong OfPage(ulong address, ReadOnlySpan<byte> bytes)
    {
        // Most of a guest's memory is zero: a vectorised scan settles those pages (a fresh memory combines to 0).
        if (!bytes.ContainsAnyExcept((byte)0))
            return 0;
        var hasher = new StableHash64();
        hasher.AddUInt64(address);
        hasher.Add(bytes);
        return hasher.Finish();
    }

    /// <summary>The memory hash of a layout (regions in ascending address order) whose pages' contributions xor to
    /// <paramref name="pageXor"/>.</summary>
    public static ulong Combine(IReadOnlyList<RegionSpec> regions, ulong pageXor)
    {
        ArgumentNullException.ThrowIfNull(regions);
        var hasher = new StableHash64();
        foreach (RegionSpec r in regions)
        {
            hasher.AddUInt64(r.Base);
            hasher.AddUInt64(r.Size);
        }
        hasher.AddUInt64(pageXor);
        return hasher.Finish();
    }

    /// <summary>Exclusive-or of the contributions of the pages of <paramref name="bytes"/>, which start on a page
    /// boundary at guest-physical <paramref name="address"/> (a whole region, or a trace's memory chunk).</summary>
    public static ulong XorOfPages(ulong address, ReadOnlySpan<byte> bytes)
    {
        ulong xor = 0;
        for (int offset = 0; offset < bytes.Length; offset += GuestMemory.PageSize)
        {
            int length = Math.Min(GuestMemory.PageSize, bytes.Length - offset);
            xor ^= OfPage(address + checked((ulong)offset), bytes.Slice(offset, length));
        }
        return xor;
    }
}
