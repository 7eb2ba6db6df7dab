using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Xunit;
using static Sim.Devices.Tests.Pci.ConfigMechanism1;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Pci;

public sealed class PciHostBridgeTests
{
    private static (PciHostBridge Bridge, TestPciDevice Device) Make(int slot = 3)
    {
        var bridge = new PciHostBridge(new RecordingBarHost());
        var d = new TestPciDevice();
        bridge.Attach(slot, d);
        return (bridge, d);
    }

    [Fact]
    public void Pci_3_2_2_3_2_DwordReadOfPresentDevice()
    {
        (PciHostBridge bridge, _) = Make();
        Assert.Equal(0x1041_1AF4u, ReadConfig(bridge, 3, R.VendorId, 4));
        Assert.Equal(0x0200_0001u, ReadConfig(bridge, 3, R.RevisionId, 4));
    }

    [Fact]
    public void Pci_3_2_2_3_2_ByteLanesSelectBytesOfTheDword()
    {
        (PciHostBridge bridge, _) = Make();
        Out(bridge, 0xCF8, 4, Address(3, 0));
        Assert.Equal(0xF4u, In(bridge, 0xCFC, 1));
        Assert.Equal(0x1Au, In(bridge, 0xCFD, 1));
        Assert.Equal(0x41u, In(bridge, 0xCFE, 1));
        Assert.Equal(0x10u, In(bridge, 0xCFF, 1));
        Assert.Equal(0x1AF4u, In(bridge, 0xCFC, 2));
        Assert.Equal(0x1041u, In(bridge, 0xCFE, 2));
        Assert.Equal(0x411Au, In(bridge, 0xCFD, 2));
    }

    [Fact]
    public void AccessPastTheLastLaneReadsAllOnesForTheSpilledBytes()
    {
        (PciHostBridge bridge, _) = Make();
        Out(bridge, 0xCF8, 4, Address(3, 0));
        Assert.Equal(0xFF10u, In(bridge, 0xCFF, 2));
        Assert.Equal(0xFFFF_1041u, In(bridge, 0xCFE, 4));
    }

    [Fact]
    public void ByteLaneWritesReachTheRightRegister()
    {
        (PciHostBridge bridge, TestPciDevice d) = Make();
        WriteConfig(bridge, 3, R.InterruptLine, 1, 0x0A); // 0x3C lane 0
        WriteConfig(bridge, 3, R.CacheLineSize, 1, 0x08); // 0x0C lane 0
        Out(bridge, 0xCF8, 4, Address(3, R.Command));
        Out(bridge, 0xCFC, 2, R.CommandMemorySpace); // command is lane 0-1 of dword 0x04
        Out(bridge, 0xCFE, 2, 0xFFFF); // status is lane 2-3: all write-one-to-clear or read-only
        Assert.Equal(0x0A, d.Config.GetByte(R.InterruptLine));
        Assert.Equal(0x08, d.Config.GetByte(R.CacheLineSize));
        Assert.True(d.MemorySpaceEnabled);
        Assert.Equal(0, d.Config.GetUInt16(R.Status));
    }

    [Fact]
    public void Pci_3_2_2_3_2_EnableBitClearMeansNoConfigCycle()
    {
        (PciHostBridge bridge, TestPciDevice d) = Make();
        Out(bridge, 0xCF8, 4, Address(3, R.InterruptLine, enable: false));
        Assert.Equal(0xFFFF_FFFFu, In(bridge, 0xCFC, 4));
        Out(bridge, 0xCFC, 1, 0x55);
        Assert.Equal(0, d.Config.GetByte(R.InterruptLine));
    }

    [Fact]
    public void Pci_3_2_2_3_2_EmptySlotOtherBusAndFunctionReadAllOnes()
    {
        (PciHostBridge bridge, _) = Make();
        Assert.Equal(0xFFFFu, ReadConfig(bridge, 4, R.VendorId, 2));
        Assert.Equal(0xFFFF_FFFFu, ReadConfig(bridge, 31, 0, 4));
        Out(bridge, 0xCF8, 4, Address(3, 0, bus: 1));
        Assert.Equal(0xFFFF_FFFFu, In(bridge, 0xCFC, 4));
        Out(bridge, 0xCF8, 4, Address(3, 0, function: 1));
        Assert.Equal(0xFFFF_FFFFu, In(bridge, 0xCFC, 4));
        WriteConfig(bridge, 4, R.Command, 2, 0xFFFF); // ignored, no throw
    }

    [Fact]
    public void Pci_3_2_2_3_2_ConfigAddressLatchesOnlyDwordWritesAndReservedBitsReadZero()
    {
        (PciHostBridge bridge, _) = Make();
        Out(bridge, 0xCF8, 4, 0xFFFF_FFFF);
        Assert.Equal(0x80FF_FFFCu, In(bridge, 0xCF8, 4));
        Out(bridge, 0xCF8, 1, 0);
        Out(bridge, 0xCF8, 2, 0);
        Out(bridge, 0xCFA, 2, 0);
        Assert.Equal(0x80FF_FFFCu, bridge.ConfigAddress);
        Assert.Equal(0xFFu, In(bridge, 0xCF9, 1)); // not CONFIG_ADDRESS: nothing modelled there
    }

    [Fact]
    public void GuestSizesAndEnablesABarThroughMechanism1()
    {
        var host = new RecordingBarHost();
        var bridge = new PciHostBridge(host);
        var d = new TestPciDevice();
        d.AddBar(0, PciBarKind.Memory32, 0x10_0000);
        bridge.Attach(0, d);
        WriteConfig(bridge, 0, R.Bar0, 4, 0xFFFF_FFFF);
        uint mask = ReadConfig(bridge, 0, R.Bar0, 4);
        Assert.Equal(0x10_0000u, ~(mask & ~0xFu) + 1);
        WriteConfig(bridge, 0, R.Bar0, 4, 0xFE00_0000);
        WriteConfig(bridge, 0, R.Command, 2, R.CommandMemorySpace);
        Assert.Equal(["map bar0 Mmio 0xfe000000+0x100000"], host.Log);
    }

    [Fact]
    public void NonPioAndOutOfRangeAccessesAreHarmless()
    {
        (PciHostBridge bridge, _) = Make();
        Span<byte> b = stackalloc byte[8];
        bridge.Read(BusKind.Mmio, 0, b[..4]);
        Assert.Equal(0xFFFF_FFFFu, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b));
        bridge.Read(BusKind.Pio, 8, b);
        bridge.Read(BusKind.Pio, ulong.MaxValue, b);
        bridge.Write(BusKind.Pio, ulong.MaxValue, b);
        bridge.Read(BusKind.Pio, 4, b); // 8-byte access to data port: 4 lanes then all-ones
        bridge.Read(BusKind.Pio, 4, Span<byte>.Empty);
    }

    [Fact]
    public void AttachRejectsHostMisuse()
    {
        (PciHostBridge bridge, _) = Make();
        Assert.Throws<InvalidOperationException>(() => bridge.Attach(3, new TestPciDevice()));
        Assert.Throws<ArgumentOutOfRangeException>(() => bridge.Attach(32, new TestPciDevice()));
    }
}
