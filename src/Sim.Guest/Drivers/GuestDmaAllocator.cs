using Sim.Engine.Memory;

namespace Sim.Guest.Drivers;

/// <summary>
/// The guest kernel's allocator for memory it shares with devices (kzalloc/dma_alloc_coherent):
/// a bump allocator over a range of guest RAM. Memory is not zeroed here; ring setup zeroes its
/// rings (<see cref="Sim.Guest.Virtio.DriverQueue.Initialize"/>). Running out is host misuse (the
/// scenario sized the range) and throws.
/// </summary>
public sealed class GuestDmaAllocator
{
    private readonly ulong _end;

    /// <summary>An allocator over the guest-physical window [start, start + length), which the guest reserved for DMA
    /// buffers and rings.</summary>
    public GuestDmaAllocator(GuestAddress start, ulong length)
    {
        if (!start.TryAdd(length, out GuestAddress end))
            throw new ArgumentOutOfRangeException(nameof(length));
        Next = start.Value;
        _end = end.Value;
    }

    /// <summary>First byte not yet handed out.</summary>
    public ulong Next { get; private set; }

    /// <summary>Bytes still available.</summary>
    public ulong Remaining => _end - Next;

    /// <summary>Allocates <paramref name="length"/> bytes aligned to <paramref name="align"/> (a power of
    /// two).</summary>
    public GuestAddress Allocate(ulong length, ulong align = 16)
    {
        if (align == 0 || (align & (align - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(align), "a power of two");
        ulong aligned = checked((Next + align - 1) & ~(align - 1));
        if (length > _end || aligned > _end - length)
            throw new InvalidOperationException($"guest DMA range exhausted ({length} bytes asked, {Remaining} left)");
        Next = aligned + length;
        return new GuestAddress(aligned);
    }
}
