using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Xunit;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Pci;

public sealed class PciBarMappingTests
{
    private static void Write(PciDevice d, int offset, int size, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        d.ConfigWrite(offset, b[..size]);
    }

    private static (TestPciDevice Device, RecordingBarHost Host) Make()
    {
        var d = new TestPciDevice();
        d.AddBar(0, PciBarKind.Io, 0x40);
        d.AddBar(1, PciBarKind.Memory32, 0x1000);
        d.AddBar(4, PciBarKind.Memory64, 0x4000, prefetchable: true);
        var host = new RecordingBarHost();
        d.Connect(host);
        return (d, host);
    }

    [Fact]
    public void Pci_6_2_2_BarsMapOnlyWhileTheirSpaceIsEnabled()
    {
        (TestPciDevice d, RecordingBarHost host) = Make();
        Write(d, R.Bar0, 4, 0xC040);
        Write(d, R.Bar0 + 4, 4, 0xFEB0_0000);
        Write(d, R.Bar0 + 16, 4, 0x0000_0000);
        Write(d, R.Bar0 + 20, 4, 0x0000_0008); // 64-bit BAR at 0x8_0000_0000
        Assert.Empty(host.Log); // programmed but not enabled

        Write(d, R.Command, 2, R.CommandMemorySpace);
        Assert.Equal(["map bar1 Mmio 0xfeb00000+0x1000", "map bar4 Mmio 0x800000000+0x4000"], host.Log);
        Assert.Equal(0xFEB0_0000ul, d.GetBar(1)!.MappedAddress);

        host.Log.Clear();
        Write(d, R.Command, 2, R.CommandMemorySpace | R.CommandIoSpace);
        Assert.Equal(["map bar0 Pio 0xc040+0x40"], host.Log);

        host.Log.Clear();
        Write(d, R.Command, 2, 0);
        Assert.Equal(
            ["unmap bar0 Pio 0xc040+0x40", "unmap bar1 Mmio 0xfeb00000+0x1000", "unmap bar4 Mmio 0x800000000+0x4000"],
            host.Log
        );
        Assert.Empty(host.Mapped);
    }

    [Fact]
    public void MovingAnEnabledBarUnmapsTheOldPlaceFirst()
    {
        (TestPciDevice d, RecordingBarHost host) = Make();
        Write(d, R.Bar0 + 4, 4, 0xFEB0_0000);
        Write(d, R.Command, 2, R.CommandMemorySpace);
        host.Log.Clear();
        Write(d, R.Bar0 + 4, 4, 0xFEC0_1000);
        Assert.Equal(["unmap bar1 Mmio 0xfeb00000+0x1000", "map bar1 Mmio 0xfec01000+0x1000"], host.Log);
    }

    [Fact]
    public void SizingWithDecodingEnabledMapsNothing()
    {
        // QEMU pci_bar_address: all-ones makes the BAR wrap past 4 GiB (or 64 KiB for I/O), so it is not decoded.
        (TestPciDevice d, RecordingBarHost host) = Make();
        Write(d, R.Command, 2, R.CommandMemorySpace | R.CommandIoSpace);
        Write(d, R.Bar0, 4, 0xFFFF_FFFF);
        Write(d, R.Bar0 + 4, 4, 0xFFFF_FFFF);
        Assert.Empty(host.Log);
        Assert.False(d.GetBar(0)!.IsMapped);
        Assert.False(d.GetBar(1)!.IsMapped);
    }

    [Fact]
    public void AddressZeroAndOutOfSpaceAddressesAreNotDecoded()
    {
        (TestPciDevice d, RecordingBarHost host) = Make();
        Write(d, R.Command, 2, R.CommandMemorySpace | R.CommandIoSpace);
        Write(d, R.Bar0, 4, 0x1_0000); // I/O BAR above 64 KiB: outside port space (bits above are writable)
        // 32-bit BAR whose last byte is 0xFFFFFFFF (QEMU: last_addr >= UINT32_MAX)
        Write(d, R.Bar0 + 4, 4, 0xFFFF_F000);
        Assert.Empty(host.Log);
        Write(d, R.Bar0, 4, 0xFFC0); // last I/O BAR that fits: 0xFFC0..0xFFFF
        Assert.Equal(["map bar0 Pio 0xffc0+0x40"], host.Log);
    }

    [Fact]
    public void SixtyFourBitBarUsesBothDwords()
    {
        (TestPciDevice d, RecordingBarHost host) = Make();
        Write(d, R.Command, 2, R.CommandMemorySpace);
        Write(d, R.Bar0 + 20, 4, 0x1); // upper dword first: address 0x1_0000_0000
        Assert.Equal(["map bar4 Mmio 0x100000000+0x4000"], host.Log);
    }

    [Fact]
    public void AccessesReachTheRegionThroughTheMapping()
    {
        var d = new Demo.DemoPciDeviceStub();
        var host = new RecordingBarHost();
        d.Connect(host);
        Write(d, R.Bar0, 4, 0xE000_0000);
        Write(d, R.Command, 2, R.CommandMemorySpace);
        Span<byte> data = stackalloc byte[4];
        Assert.True(host.TryRead(BusKind.Mmio, 0xE000_0010, data));
        Assert.Equal(0x10ul, d.LastOffset);
        Assert.False(host.TryRead(BusKind.Mmio, 0xE000_1000, data));
    }

    [Fact]
    public void ResetUnmapsClearsAddressesAndDisablesDecoding()
    {
        (TestPciDevice d, RecordingBarHost host) = Make();
        Write(d, R.Bar0 + 4, 4, 0xFEB0_0000);
        Write(d, R.InterruptLine, 1, 11);
        Write(d, R.Command, 2, R.CommandMemorySpace | R.CommandBusMaster);
        d.Reset();
        Assert.Equal(1, d.Resets);
        Assert.Empty(host.Mapped);
        Assert.Equal(0, d.Command);
        Assert.Equal(0u, d.Config.GetUInt32(R.Bar0 + 4));
        Assert.Equal(R.BarSpaceIo, d.Config.GetUInt32(R.Bar0));
        Assert.Equal(R.BarMemoryType64 | R.BarMemoryPrefetchable, d.Config.GetUInt32(R.Bar0 + 16));
        Assert.Equal(0, d.Config.GetByte(R.InterruptLine));
    }

    [Fact]
    public void Pci_6_2_2_IntxFollowsRequestUnlessInterruptDisable()
    {
        var d = new TestPciDevice();
        var sink = new IntxRecorder();
        d.IntxSink = sink;
        d.Irq(true);
        Assert.True(d.IntxAsserted);
        Assert.NotEqual(0, d.Config.GetUInt16(R.Status) & R.StatusInterrupt);
        Write(d, R.Command, 2, R.CommandIntxDisable);
        Assert.False(d.IntxAsserted);
        Assert.NotEqual(0, d.Config.GetUInt16(R.Status) & R.StatusInterrupt); // status still shows the request
        Write(d, R.Command, 2, 0);
        d.Irq(false);
        Assert.Equal([true, false, true, false], sink.Levels);
        Assert.Equal(0, d.Config.GetUInt16(R.Status) & R.StatusInterrupt);
    }

    private sealed class IntxRecorder : IPciIntxSink
    {
        public List<bool> Levels { get; } = [];

        public void SetIntx(PciDevice device, bool asserted) => Levels.Add(asserted);
    }
}
