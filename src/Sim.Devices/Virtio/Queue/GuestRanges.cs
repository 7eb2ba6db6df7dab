using Sim.Engine.Memory;

namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// Guest ranges that may span several adjacent memory regions. QEMU's dma_memory_map maps a buffer piece by piece
/// and virtqueue_map_desc turns each piece into its own iovec; this is the slow path for buffers that do not lie in
/// one region. Bounded by <see cref="MemoryLayout.RegionsMax"/> pieces.
/// </summary>
public static class GuestRanges
{
    /// <summary>True when every byte of [address, address+length) is backed by guest memory.</summary>
    public static bool IsBacked(GuestMemory memory, GuestAddress address, ulong length) =>
        CountPieces(memory, address, length) > 0;

    /// <summary>Number of single-region pieces [address, address+length) splits into, or 0 when some byte is not
    /// backed (or the range is empty or wraps).</summary>
    public static int CountPieces(GuestMemory memory, GuestAddress address, ulong length)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (length == 0 || !address.TryAdd(length, out _))
            return 0;
        ulong at = address.Value;
        ulong left = length;
        int pieces = 0;
        IReadOnlyList<MemoryRegion> regions = memory.Regions;
        for (int i = 0; i < regions.Count && left > 0; i++)
        {
            MemoryRegion r = regions[i];
            if (at < r.Base)
                return 0;
            ulong offset = at - r.Base;
            if (offset >= r.Size)
                continue;
            ulong chunk = Math.Min(left, r.Size - offset);
            pieces++;
            at += chunk;
            left -= chunk;
        }
        return left == 0 ? pieces : 0;
    }

    /// <summary>The first single-region piece of [address, address+length): its length, or 0 when the first byte is
    /// not backed.</summary>
    public static ulong FirstPiece(GuestMemory memory, GuestAddress address, ulong length)
    {
        ArgumentNullException.ThrowIfNull(memory);
        IReadOnlyList<MemoryRegion> regions = memory.Regions;
        for (int i = 0; i < regions.Count; i++)
        {
            MemoryRegion r = regions[i];
            if (address.Value < r.Base)
                return 0;
            ulong offset = address.Value - r.Base;
            if (offset < r.Size)
                return Math.Min(length, r.Size - offset);
        }
        return 0;
    }
}
