namespace Virtsim.Fuzz.Oracles;

/// <summary>A guest-physical byte range [<see cref="Start"/>, <see cref="Start"/> + <see cref="Length"/>) as a checker
/// records it; <see cref="End"/> saturates at 2^64 so a hostile addr + len never wraps.</summary>
internal readonly record struct GuestRange(ulong Start, ulong Length)
{
    /// <summary>Exclusive end, saturated at <see cref="ulong.MaxValue"/>.</summary>
    public ulong End => Length > ulong.MaxValue - Start ? ulong.MaxValue : Start + Length;

    /// <summary>True when [address, address + length) lies inside this range.</summary>
    public bool Contains(ulong address, ulong length) =>
        address >= Start && length <= End - Start && address - Start <= End - Start - length;

    /// <summary>Bytes of [address, address + length) that fall inside this range.</summary>
    public ulong Overlap(ulong address, ulong length)
    {
        ulong end = length > ulong.MaxValue - address ? ulong.MaxValue : address + length;
        ulong lo = Math.Max(address, Start);
        ulong hi = Math.Min(end, End);
        return hi > lo ? hi - lo : 0;
    }
}
