using Sim.Machine.Kvm;

namespace Sim.Devices.Pci;

/// <summary>
/// Maps BARs onto the KVM model's MMIO and PIO buses (<see cref="IoBus"/>). The guest chooses BAR
/// addresses, so a mapping can collide with another device's range; the bus refuses overlaps, and
/// then the BAR simply stays invisible (counted in <see cref="ConflictingMappings"/>) — on real
/// hardware two decoders answering one address is the guest's bug, with undefined results, and
/// QEMU resolves it by region priority. Unmapping removes only what this host registered.
/// </summary>
public sealed class KvmBarHost : IPciBarHost
{
    /// <summary>Most BARs mapped at once (bounds the bookkeeping; the buses have their own limit).</summary>
    public const int MappingsMax = IoBus.RangesMax;

    private readonly KvmModel _kvm;
    private readonly List<PciBarMapping> _registered = new();

    /// <summary>A BAR host over <paramref name="kvm"/>'s MMIO and PIO buses.</summary>
    public KvmBarHost(KvmModel kvm)
    {
        ArgumentNullException.ThrowIfNull(kvm);
        _kvm = kvm;
    }

    /// <summary>Mappings the bus refused (overlap, bus full, outside the port space).</summary>
    public long ConflictingMappings { get; private set; }

    /// <summary>BARs currently registered on a bus, in mapping order.</summary>
    public IReadOnlyList<PciBarMapping> Registered => _registered;

    /// <inheritdoc/>
    public void MapBar(in PciBarMapping mapping)
    {
        if (
            _registered.Count >= MappingsMax
            || !_kvm.Bus(mapping.Bus)
                .TryRegister(mapping.Address, mapping.Size, mapping.Region, BarName(mapping.BarIndex))
        )
        {
            ConflictingMappings++;
            return;
        }
        _registered.Add(mapping);
    }

    /// <inheritdoc/>
    public void UnmapBar(in PciBarMapping mapping)
    {
        int index = _registered.IndexOf(mapping);
        if (index < 0)
            return; // it never made it onto the bus
        _registered.RemoveAt(index);
        bool removed = _kvm.Bus(mapping.Bus).Unregister(mapping.Address);
        if (!removed)
            throw new InvalidOperationException(
                $"BAR {mapping.BarIndex} at 0x{mapping.Address:x} vanished from the {mapping.Bus} bus"
            );
    }

    private static string BarName(int index) =>
        index switch
        {
            0 => "pci-bar0",
            1 => "pci-bar1",
            2 => "pci-bar2",
            3 => "pci-bar3",
            4 => "pci-bar4",
            _ => "pci-bar5",
        };
}
