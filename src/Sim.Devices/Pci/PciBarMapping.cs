using Sim.Machine.Kvm;

namespace Sim.Devices.Pci;

/// <summary>One BAR placed on a bus: the region receives accesses at offsets relative to
/// <see cref="Address"/>.</summary>
/// <param name="Device">The device that owns the BAR.</param>
/// <param name="BarIndex">The BAR slot (0..5; for a 64-bit BAR the lower slot).</param>
/// <param name="Bus">MMIO for memory BARs, PIO for I/O BARs.</param>
/// <param name="Address">Guest-physical address or port of the first byte.</param>
/// <param name="Size">Bytes (a power of two).</param>
/// <param name="Region">The device's handler for accesses inside the BAR.</param>
public readonly record struct PciBarMapping(
    PciDevice Device,
    int BarIndex,
    BusKind Bus,
    ulong Address,
    ulong Size,
    IBusDevice Region
);
