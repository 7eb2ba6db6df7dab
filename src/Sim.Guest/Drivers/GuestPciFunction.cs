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

    public GuestContext Guest { get; }

    public int Slot { get; }

    public ushort VendorId { get; }

    public ushort DeviceId { get; }

    public byte Revision { get; internal set; }

    public ushort SubsystemVendorId { get; internal set; }

    public ushort SubsystemId { get; internal set; }

    /// <summary>Interrupt pin (1 = INTA#; 0 = none).</summary>
    public byte InterruptPin { get; internal set; }

    /// <summary>Interrupt line (the GSI the firmware routed INTx to, 0xFF = none).</summary>
    public byte InterruptLine { get; internal set; }

    /// <summary>BAR <paramref name="index"/> as programmed, or null when absent (unimplemented or the
    /// high half of a 64-bit BAR).</summary>
    public PciBarAssignment? GetBar(int index) => Narrow.AsUInt32Bits(index) < Narrow.AsUInt32Bits(_bars.Length) ? _bars[index] : null;

    internal void SetBar(PciBarAssignment bar) => _bars[bar.Index] = bar;

    public uint ReadConfig(int register, int size) => PciConfigPorts.Read(Guest, Slot, register, size);

    public void WriteConfig(int register, int size, uint value) => PciConfigPorts.Write(Guest, Slot, register, size, value);

    /// <summary>Linux pci_enable_device + pci_set_master: sets the command bits for the BAR kinds present (and bus
    /// mastering).</summary>
    public void Enable(bool busMaster)
    {
        ushort command = Narrow.LowUInt16(ReadConfig(R.Command, 2));
        for (int i = 0; i < _bars.Length; i++)
        {
            if (_bars[i] is not { } bar) continue;
            command |= bar.IsIo ? R.CommandIoSpace : R.CommandMemorySpace;
        }
        if (busMaster) command |= R.CommandBusMaster;
        WriteConfig(R.Command, 2, command);
    }

    /// <summary>Linux pci_find_capability / pci_find_next_capability: the config offset of the first
    /// capability with <paramref name="id"/> after <paramref name="after"/> (0: from the list head), or 0.
    /// The walk is bounded by <see cref="R.CapabilityWalkMax"/> (a looping list ends it).</summary>
    public int FindCapability(byte id, int after = 0)
    {
        if ((ReadConfig(R.Status, 2) & R.StatusCapabilitiesList) == 0) return 0;
        int pos = after == 0 ? Narrow.AsInt32Bits(ReadConfig(R.CapabilitiesPointer, 1)) : unchecked((int)ReadConfig(after + R.CapabilityNext, 1));
        for (int ttl = 0; ttl < R.CapabilityWalkMax && pos >= R.HeaderSize; ttl++)
        {
            pos &= ~3;
            if (pos > R.SpaceSize - 2) return 0;
            uint header = ReadConfig(pos, 2);
            if ((header & 0xFF) == 0xFF) return 0;
            if ((header & 0xFF) == id) return pos;
            pos = Narrow.AsInt32Bits(header >> 8);
        }
        return 0;
    }
}
