namespace Sim.Engine.Memory;

/// <summary>The guest-physical layout: a list of (base, size) regions. Validated by
/// <see cref="GuestMemory.TryCreate"/>.</summary>
public sealed record MemoryLayout(IReadOnlyList<RegionSpec> Regions)
{
    /// <summary>Most regions a layout may hold (bounded lookup cost).</summary>
    public const int RegionsMax = 16;

    /// <summary>Largest single region: what one host array can hold, rounded down to pages.</summary>
    public const ulong RegionSizeMax = 1UL << 30;

    /// <summary>Largest total guest memory a simulation allocates (bounded host allocation).</summary>
    public const ulong TotalSizeMax = 4UL << 30;

    /// <summary>One region at address 0 of <paramref name="size"/> bytes.</summary>
    public static MemoryLayout Single(ulong size) => new([new RegionSpec(0, size)]);
}

/// <summary>One guest-physical region: base address and size in bytes.</summary>
public readonly record struct RegionSpec(ulong Base, ulong Size);
