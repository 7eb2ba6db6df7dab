using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;

namespace Sim.Guest.Drivers;

/// <summary>
/// PCI configuration mechanism #1 as a guest kernel uses it (Linux arch/x86/pci/direct.c
/// pci_conf1_read/write): OUT the dword address to 0xCF8, then IN/OUT <c>size</c> bytes at
/// 0xCFC + (register &amp; 3). Every access is a port exit, as on a real KVM guest.
/// </summary>
public static class PciConfigPorts
{
    /// <summary>CONFIG_ADDRESS for bus 0, <paramref name="slot"/>, function 0, the dword holding
    /// <paramref name="register"/>.</summary>
    public static uint Address(int slot, int register) =>
        PciConfigMechanism.ConfigAddressEnable
        | (Narrow.AsUInt32Bits(slot) << 11)
        | Narrow.AsUInt32Bits(register & 0xFC);

    /// <summary>Reads 1, 2 or 4 bytes of configuration space of bus 0, <paramref name="slot"/>, function 0.</summary>
    public static uint Read(GuestContext guest, int slot, int register, int size)
    {
        ArgumentNullException.ThrowIfNull(guest);
        Check(slot, register, size);
        guest.PioOut(PciConfigMechanism.ConfigAddressPort, 4, Address(slot, register));
        ushort port = Narrow.ToUInt16Wrapping(PciConfigMechanism.ConfigDataPort + (register & 3));
        return Narrow.LowUInt32(guest.PioIn(port, size));
    }

    /// <summary>Writes 1, 2 or 4 bytes of configuration space.</summary>
    public static void Write(GuestContext guest, int slot, int register, int size, uint value)
    {
        ArgumentNullException.ThrowIfNull(guest);
        Check(slot, register, size);
        guest.PioOut(PciConfigMechanism.ConfigAddressPort, 4, Address(slot, register));
        ulong masked = size == 4 ? value : value & ((1UL << (8 * size)) - 1);
        guest.PioOut(Narrow.ToUInt16Wrapping(PciConfigMechanism.ConfigDataPort + (register & 3)), size, masked);
    }

    private static void Check(int slot, int register, int size)
    {
        if (Narrow.AsUInt32Bits(slot) >= PciConfigMechanism.SlotCount)
            throw new ArgumentOutOfRangeException(nameof(slot));
        if (size is not (1 or 2 or 4))
            throw new ArgumentOutOfRangeException(nameof(size), "1, 2 or 4 bytes");
        if (
            Narrow.AsUInt32Bits(register) > PciConfigRegisters.SpaceSize - Narrow.AsUInt32Bits(size)
            || (register & (size - 1)) != 0
        )
        {
            throw new ArgumentOutOfRangeException(nameof(register), "naturally aligned, inside the 256-byte space");
        }
    }
}
