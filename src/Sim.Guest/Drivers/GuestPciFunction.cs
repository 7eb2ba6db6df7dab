using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Guest.Drivers;

/// <summary>
/// A PCI function as the guest kernel sees it after enumeration (Linux struct pci_dev): bus 0,
/// <see cref="Slot"/>, function 0, its identity and the BARs the firmware programmed. Every
/// configuration access goes through <see cref="PciConfigPorts"/> (port exits).
/// </summary>
public sealed class GuestPciFunction
{
    private readonly PciBarAssignment?[] _bars = new PciBarAssignment?[R.BarCount];

    internal GuestPciFunction(GuestContext guest, int slot, ushort vendorId, ushort deviceId)
    {
        Guest = guest;
        Slot = slot;
        VendorId = vendorId;
        DeviceId = deviceId;
    }

    /// <summary>The guest that reaches this function through configuration mechanism #1 ports.</summary>
    public GuestContext Guest { get; }

    /// <summary>The device number on bus 0 (0..31).</summary>
    public int Slot { get; }

    /// <summary>Configuration register 0x00, as read at enumeration.</summary>
    public ushort VendorId { get; }

    /// <summary>Configuration register 0x02, as read at enumeration.</summary>
    public ushort DeviceId { get; }

    /// <summary>Configuration register 0x08 (virtio: 1 for a modern-only device, VIRTIO 1.2 §4.1.2.1).</summary>
    public byte Revision { get; internal set; }

    /// <summary>Configuration register 0x2C.</summary>
    public ushort SubsystemVendorId { get; internal set; }

    /// <summary>Configuration register 0x2E (a transitional virtio device keeps its device type here, VIRTIO 1.2
    /// §4.1.2).</summary>
    public ushort SubsystemId { get; internal set; }

    /// <summary>Interrupt pin (1 = INTA#; 0 = none).</summary>
    public byte InterruptPin { get; internal set; }

    /// <summary>Interrupt line (the GSI the firmware routed INTx to, 0xFF = none).</summary>
    public byte InterruptLine { get; internal set; }

    /// <summary>BAR <paramref name="index"/> as programmed, or null when absent (unimplemented or the
    /// high half of a 64-bit BAR).</summary>
    public PciBarAssignment? GetBar(int index) =>
        Narrow.AsUInt32Bits(index) < Narrow.AsUInt32Bits(_bars.Length) ? _bars[index] : null;

    internal void SetBar(PciBarAssignment bar) => _bars[bar.Index] = bar;

    /// <summary>Reads 1, 2 or 4 bytes of this function's configuration space.</summary>
    public uint ReadConfig(int register, int size) => PciConfigPorts.Read(Guest, Slot, register, size);

    /// <summary>Writes 1, 2 or 4 bytes of this function's configuration space.</summary>
    public void WriteConfig(int register, int size, uint value) =>
        PciConfigPorts.Write(Guest, Slot, register, size, value);

    /// <summary>Linux pci_enable_device + pci_set_master: sets the command bits for the BAR kinds present (and bus
    /// mastering).</summary>
    public void Enable(bool busMaster)
    {
        ushort command = Narrow.LowUInt16(ReadConfig(R.Command, 2));
        for (int i = 0; i < _bars.Length; i++)
        {
            if (_bars[i] is not { } bar)
                continue;
            command |= bar.IsIo ? R.CommandIoSpace : R.CommandMemorySpace;
        }
        if (busMaster)
            command |= R.CommandBusMaster;
        WriteConfig(R.Command, 2, command);
    }

    /// <summary>Linux pci_find_capability / pci_find_next_capability: the config offset of the first
    /// capability with <paramref name="id"/> after <paramref name="after"/> (0: from the list head), or 0.
    /// The walk is bounded by <see cref="R.CapabilityWalkMax"/> (a looping list ends it).</summary>
    public int FindCapability(byte id, int after = 0)
    {
        if ((ReadConfig(R.Status, 2) & R.StatusCapabilitiesList) == 0)
            return 0;
        int pos =
            after == 0
                ? Narrow.AsInt32Bits(ReadConfig(R.CapabilitiesPointer, 1))
                : unchecked((int)ReadConfig(after + R.CapabilityNext, 1));
        for (int ttl = 0; ttl < R.CapabilityWalkMax && pos >= R.HeaderSize; ttl++)
        {
            pos &= ~3;
            if (pos > R.SpaceSize - 2)
                return 0;
            uint header = ReadConfig(pos, 2);
            if ((header & 0xFF) == 0xFF)
                return 0;
            if ((header & 0xFF) == id)
                return pos;
            pos = Narrow.AsInt32Bits(header >> 8);
        }
        return 0;
    }
}
