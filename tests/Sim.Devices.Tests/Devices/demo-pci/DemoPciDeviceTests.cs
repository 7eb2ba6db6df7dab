using System.Buffers.Binary;
using Sim.Devices.Demo;
using Sim.Devices.Pci;
using Sim.Devices.Tests.Pci;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Xunit;
using static Sim.Devices.Tests.Pci.ConfigMechanism1;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Demo;

public sealed class DemoPciDeviceTests
{
    private const ulong Bar0Address = 0xFEB0_0000;

    /// <summary>What the guest kernel does before demo_probe's pci_iomap: size BAR0, place it, enable memory
    /// decoding.</summary>
    private static (DemoPciDevice Device, RecordingBarHost Host) Boot(Flavour flavour)
    {
        var host = new RecordingBarHost();
        var bridge = new PciHostBridge(host);
        var d = new DemoPciDevice(flavour);
        bridge.Attach(4, d);
        WriteConfig(bridge, 4, R.Bar0, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFF0_0000u, ReadConfig(bridge, 4, R.Bar0, 4)); // 1 MiB, 32-bit, non-prefetchable
        WriteConfig(bridge, 4, R.Bar0, 4, (uint)Bar0Address);
        WriteConfig(bridge, 4, R.Command, 2, R.CommandMemorySpace);
        return (d, host);
    }

    private static ulong Read(RecordingBarHost host, ulong offset, int size)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        Assert.True(host.TryRead(BusKind.Mmio, Bar0Address + offset, b[..size]));
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    private static void Write(RecordingBarHost host, ulong offset, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Assert.True(host.TryWrite(BusKind.Mmio, Bar0Address + offset, b[..size]));
    }

    private static ulong Ones(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Seed000_Lab1_IdentityAndBar0(Flavour flavour)
    {
        var bridge = new PciHostBridge(new RecordingBarHost());
        bridge.Attach(4, new DemoPciDevice(flavour));
        Assert.Equal(
            ((uint)DemoPciDevice.DeviceIdDemo << 16) | DemoPciDevice.VendorIdQemu,
            ReadConfig(bridge, 4, R.VendorId, 4)
        );
        Assert.Equal(0xFF00_0000u, ReadConfig(bridge, 4, R.RevisionId, 4) & 0xFFFF_FF00);
        Assert.Equal(0x1100_1AF4u, ReadConfig(bridge, 4, R.SubsystemVendorId, 4));
        Assert.Equal(0u, ReadConfig(bridge, 4, R.InterruptPin, 1));
        Assert.Equal(0u, ReadConfig(bridge, 4, R.Bar0, 4));
        WriteConfig(bridge, 4, R.Bar0 + 4, 4, 0xFFFF_FFFF);
        Assert.Equal(0u, ReadConfig(bridge, 4, R.Bar0 + 4, 4)); // only BAR0 exists
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Seed000_Lab1_TestProgramWritesAndReadsBack(Flavour flavour)
    {
        (DemoPciDevice d, RecordingBarHost host) = Boot(flavour);
        Assert.Equal(["map bar0 Mmio 0xfeb00000+0x100000"], host.Log);
        foreach (uint v in new uint[] { 0x1333, 0x2333, 0x3333 })
        {
            Write(host, 0, 4, v); // writel(val, bar0)
            Assert.Equal(v, Read(host, 0, 4)); // readl(bar0)
            Assert.Equal(v, d.Buff);
        }
    }

    [Theory]
    [InlineData(Flavour.Robust, 0ul, 1)]
    [InlineData(Flavour.Robust, 0ul, 2)]
    [InlineData(Flavour.Robust, 4ul, 4)]
    [InlineData(Flavour.Robust, 1ul, 4)]
    [InlineData(Flavour.Robust, 2ul, 2)]
    [InlineData(Flavour.Robust, 0xFFFFCul, 4)]
    [InlineData(Flavour.Robust, 8ul, 8)]
    [InlineData(Flavour.Robust, 0ul, 8)]
    [InlineData(Flavour.Seed, 0ul, 1)]
    [InlineData(Flavour.Seed, 0ul, 2)]
    [InlineData(Flavour.Seed, 4ul, 4)]
    [InlineData(Flavour.Seed, 1ul, 4)]
    [InlineData(Flavour.Seed, 2ul, 2)]
    [InlineData(Flavour.Seed, 0xFFFFCul, 4)]
    [InlineData(Flavour.Seed, 8ul, 8)]
    [InlineData(Flavour.Seed, 4ul, 8)]
    public void Seed000_Lab1_OtherOffsetsAndSizesReadAllOnesAndIgnoreWrites(Flavour flavour, ulong offset, int size)
    {
        (DemoPciDevice d, RecordingBarHost host) = Boot(flavour);
        Write(host, 0, 4, 0x1333);
        Assert.Equal(Ones(size), Read(host, offset, size));
        Write(host, offset, size, 0xDEAD_BEEF_CAFE_F00D);
        Assert.Equal(0x1333u, d.Buff);
        Assert.Equal(0x1333ul, Read(host, 0, 4));
    }

    [Fact]
    public void Seed000_Lab1_SeedFlavourSplitsEightByteAccessAtZero()
    {
        // QEMU splits an 8-byte access to ops without valid/impl sizes into two 4-byte calls:
        // (0, 4) reaches buff, (4, 4) reads ~0 / is ignored.
        (DemoPciDevice d, RecordingBarHost host) = Boot(Flavour.Seed);
        Write(host, 0, 4, 0x1333);
        Assert.Equal(0xFFFF_FFFF_0000_1333ul, Read(host, 0, 8));
        Write(host, 0, 8, 0x1111_2222_0000_2333);
        Assert.Equal(0x2333u, d.Buff);
    }

    [Fact]
    public void Seed000_Lab1_RobustFlavourIgnoresEightByteAccessAtZero()
    {
        (DemoPciDevice d, RecordingBarHost host) = Boot(Flavour.Robust);
        Write(host, 0, 4, 0x1333);
        Assert.Equal(ulong.MaxValue, Read(host, 0, 8));
        Write(host, 0, 8, 0x1111_2222_0000_2333);
        Assert.Equal(0x1333u, d.Buff);
    }

    [Theory]
    [InlineData(Flavour.Robust, 0u)]
    [InlineData(Flavour.Seed, 0x3333u)]
    public void Seed000_Lab1_ResetClearsBuffOnlyInRobustFlavour(Flavour flavour, uint expected)
    {
        (DemoPciDevice d, RecordingBarHost host) = Boot(flavour);
        Write(host, 0, 4, 0x3333);
        d.Reset();
        Assert.Empty(host.Mapped); // BAR unmapped by the PCI reset in both flavours
        Assert.Equal(expected, d.Buff);
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Seed000_Lab1_DisablingMemoryDecodingUnmapsBar0(Flavour flavour)
    {
        (DemoPciDevice d, RecordingBarHost host) = Boot(flavour);
        d.ConfigWrite(R.Command, [0, 0]);
        Span<byte> b = stackalloc byte[4];
        Assert.False(host.TryRead(BusKind.Mmio, Bar0Address, b));
    }
}

public sealed class DemoOnKvmTests
{
    /// <summary>Seed 000 lab 1 end to end on the KVM model: the guest's test program writes and reads
    /// BAR0 through MMIO exits, which the trace records with the bytes the device returned.</summary>
    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Seed000_Lab1_TestProgramThroughMmioExits(Flavour flavour)
    {
        const ulong bar0 = 0xFEB0_0000;
        var sim = new Sim.Machine.Simulation.Simulation(
            new Sim.Machine.Simulation.SimulationOptions { CheckpointInterval = 0 }
        );
        var events = new List<(Sim.Engine.Trace.TraceEventKind Kind, ulong Address, byte[] Data)>();
        sim.AddSink(new Sink(events));
        var bridge = new PciHostBridge(new KvmBarHost(sim.Kvm));
        Assert.True(
            sim.Kvm.Pio.TryRegister(PciHostBridge.ConfigAddressPort, PciHostBridge.PortCount, bridge, "pci-host")
        );
        bridge.Attach(4, new DemoPciDevice(flavour));
        var reads = new List<ulong>();
        sim.Kvm.Start(new Program(g => Body(g)));
        sim.Run();
        Assert.Equal([0x1333ul, 0x2333ul, 0x3333ul], reads);
        Assert.Equal(3, events.Count(e => e.Kind == Sim.Engine.Trace.TraceEventKind.MmioWrite && e.Address == bar0));
        Assert.Equal([0x33, 0x33, 0, 0], events.Last(e => e.Kind == Sim.Engine.Trace.TraceEventKind.MmioRead).Data);

        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            // Firmware: BAR0 at 0xFEB00000, memory decoding on (mechanism #1).
            g.PioOut(0xCF8, 4, ConfigMechanism1.Address(4, R.Bar0));
            g.PioOut(0xCFC, 4, bar0);
            g.PioOut(0xCF8, 4, ConfigMechanism1.Address(4, R.Command));
            g.PioOut(0xCFC, 2, R.CommandMemorySpace);
            foreach (uint v in new uint[] { 0x1333, 0x2333, 0x3333 })
            {
                g.MmioWrite(bar0, 4, v); // writel(val, bar0)
                reads.Add(g.MmioRead(bar0, 4)); // readl(bar0)
                yield return VcpuStep.Yield;
            }
        }
    }

    private sealed class Program(Func<GuestContext, IEnumerable<VcpuStep>> body) : GuestProgram
    {
        public override IEnumerator<VcpuStep> Run(GuestContext guest) => body(guest).GetEnumerator();
    }

    private sealed class Sink(List<(Sim.Engine.Trace.TraceEventKind, ulong, byte[])> events)
        : Sim.Engine.Trace.ITraceSink
    {
        public void Write(in Sim.Engine.Trace.TraceEvent ev) => events.Add((ev.Kind, ev.Address, ev.Data.ToArray()));
    }
}
