using Sim.Machine.Kvm;
using Sim.Spec.Pci;

namespace Sim.Devices.Pci;

/// <summary>
/// A registered Base Address Register (QEMU PCIIORegion): its kind, size and region, and where the
/// guest has currently placed it. The register value itself lives in <see cref="PciConfigSpace"/>.
/// </summary>
public sealed class PciBar
{
    /// <summary><see cref="MappedAddress"/> when the BAR is not decoded (QEMU PCI_BAR_UNMAPPED).</summary>
    public const ulong Unmapped = ulong.MaxValue;

    internal PciBar(int index, PciBarKind kind, ulong size, bool prefetchable, IBusDevice region)
    {
        Index = index;
        Kind = kind;
        Size = size;
        Prefetchable = prefetchable;
        Region = region;
    }

    /// <summary>BAR slot (0..5); a 64-bit BAR also uses slot Index + 1.</summary>
    public int Index { get; }

    /// <summary>Memory (32- or 64-bit) or I/O.</summary>
    public PciBarKind Kind { get; }

    /// <summary>Size in bytes (a power of two).</summary>
    public ulong Size { get; }

    /// <summary>Whether the BAR is marked prefetchable.</summary>
    public bool Prefetchable { get; }

    /// <summary>The handler accesses inside the BAR are routed to.</summary>
    public IBusDevice Region { get; }

    /// <summary>Which bus the BAR decodes on.</summary>
    public BusKind Bus => Kind == PciBarKind.Io ? BusKind.Pio : BusKind.Mmio;

    /// <summary>Where the BAR is mapped, or <see cref="Unmapped"/>.</summary>
    public ulong MappedAddress { get; internal set; } = Unmapped;

    /// <summary>True while the BAR decodes guest accesses.</summary>
    public bool IsMapped => MappedAddress != Unmapped;

    /// <summary>Config-space offset of the (lower) BAR register.</summary>
    public int RegisterOffset => PciConfigRegisters.Bar0 + (Index * 4);

    /// <summary>The read-only low bits the BAR register always holds (space, type, prefetchable).</summary>
    public uint TypeBits =>
        Kind switch
        {
            PciBarKind.Io => PciConfigRegisters.BarSpaceIo,
            PciBarKind.Memory64 => PciConfigRegisters.BarMemoryType64
                | (Prefetchable ? PciConfigRegisters.BarMemoryPrefetchable : 0u),
            _ => Prefetchable ? PciConfigRegisters.BarMemoryPrefetchable : 0u,
        };
}
