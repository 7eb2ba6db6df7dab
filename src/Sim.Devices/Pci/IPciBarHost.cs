namespace Sim.Devices.Pci;

/// <summary>
/// The seam between PCI devices and the address spaces (QEMU: the PCI bus's address_space_mem/io,
/// to which pci_update_mappings adds and removes BAR subregions). A device calls
/// <see cref="MapBar"/> when the guest has programmed a BAR with a decodable address and enabled
/// the matching command-register bit, and <see cref="UnmapBar"/> with the same mapping before it
/// moves or disables it. Implementations must accept any guest-chosen address without throwing,
/// including one that overlaps RAM or another mapping (the guest's mistake, resolved by the bus).
/// </summary>
public interface IPciBarHost
{
    /// <summary>Makes <see cref="PciBarMapping.Region"/> visible at [Address, Address + Size) on
    /// <see cref="PciBarMapping.Bus"/>.</summary>
    void MapBar(in PciBarMapping mapping);

    /// <summary>Removes a mapping previously passed to <see cref="MapBar"/>.</summary>
    void UnmapBar(in PciBarMapping mapping);
}
