using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Machine.Kvm;

namespace Sim.Devices.Tests.Pci;

/// <summary>Guest-side port accesses to a <see cref="PciHostBridge"/> as the bus would deliver them
/// (offset relative to 0xCF8).</summary>
internal static class ConfigMechanism1
{
    public static uint In(PciHostBridge bridge, ushort port, int size)
    {
        Span<byte> b = stackalloc byte[4];
        b.Clear();
        bridge.Read(BusKind.Pio, (ulong)(port - PciHostBridge.ConfigAddressPort), b[..size]);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public static void Out(PciHostBridge bridge, ushort port, int size, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        bridge.Write(BusKind.Pio, (ulong)(port - PciHostBridge.ConfigAddressPort), b[..size]);
    }

    public static uint Address(int slot, int register, int bus = 0, int function = 0, bool enable = true) =>
        (enable ? PciHostBridge.ConfigAddressEnable : 0)
        | ((uint)bus << 16)
        | ((uint)slot << 11)
        | ((uint)function << 8)
        | (uint)(register & 0xFC);

    /// <summary>Linux pci_conf1_read: select the dword, then read 'size' bytes at 0xCFC + (reg &amp; 3).</summary>
    public static uint ReadConfig(PciHostBridge bridge, int slot, int register, int size)
    {
        Out(bridge, 0xCF8, 4, Address(slot, register));
        return In(bridge, (ushort)(0xCFC + (register & 3)), size);
    }

    public static void WriteConfig(PciHostBridge bridge, int slot, int register, int size, uint value)
    {
        Out(bridge, 0xCF8, 4, Address(slot, register));
        Out(bridge, (ushort)(0xCFC + (register & 3)), size, value);
    }
}
