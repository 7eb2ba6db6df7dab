using System.Numerics;
using Sim.Engine;

namespace Sim.Devices.Pci;

/// <summary>
/// How QEMU's memory core cuts a guest access before calling a region's ops (physmem.c
/// memory_access_size, used by flatview_read/write_continue for KVM MMIO/PIO exits): each piece is at
/// most the region's maximum valid access size (4 when the ops declare none), no larger than the
/// alignment of its address, and a power of two. Devices that reproduce QEMU's behaviour walk an
/// access piece by piece with <see cref="PieceSize"/>.
/// </summary>
public static class QemuAccessSplit
{
    /// <summary>QEMU's maximum when MemoryRegionOps.valid.max_access_size is 0: "Regions are assumed
    /// to support 1-4 byte accesses unless otherwise specified".</summary>
    public const int DefaultMaxAccessSize = 4;

    /// <summary>Bytes of the next piece of an access at <paramref name="address"/> with
    /// <paramref name="remaining"/> (&gt; 0) bytes left.</summary>
    public static int PieceSize(ulong address, int remaining, int maxAccessSize = DefaultMaxAccessSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(remaining);
        int max = maxAccessSize;
        if (address != 0)
        {
            int tz = BitOperations.TrailingZeroCount(address);
            if (tz < 31 && (1 << tz) < max)
                max = 1 << tz;
        }
        return 1 << BitOperations.Log2(Narrow.AsUInt32Bits(Math.Min(remaining, max)));
    }
}
