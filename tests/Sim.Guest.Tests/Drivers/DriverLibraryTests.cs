using Sim.Devices.Demo;
using Sim.Devices.Tests.Drivers;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Demo;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Scenarios;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Guest.Tests.Drivers;

public sealed class DriverLibraryTests
{
    /// <summary>Runs <paramref name="body"/> as the guest program; interrupts go to <paramref name="onIrq"/> then
    /// EOI.</summary>
    private sealed class Program(Func<GuestContext, IEnumerable<VcpuStep>> body, Action<uint>? onIrq = null)
        : GuestProgram
    {
        public override IEnumerator<VcpuStep> Run(GuestContext guest) => body(guest).GetEnumerator();

        public override void OnInterrupt(GuestContext guest, uint gsi)
        {
            onIrq?.Invoke(gsi);
            guest.Eoi(gsi);
        }
    }

    private static PciMachine Machine() => new(new SimulationOptions { Seed = 7, CheckpointInterval = 0 });

    [Fact]
    public void Enumeration_FindsDemoDevice_SizesAndProgramsBar0()
    {
        PciMachine m = Machine();
        var dev = new DemoPciDevice();
        m.Attach(6, dev);
        GuestPciFunction? found = null;
        uint readBack = 0;
        m.Simulation.Kvm.Start(new Program(g => Body(g)));
        m.Simulation.Run();
        Assert.NotNull(found);
        Assert.Equal(6, found!.Slot);
        PciBarAssignment bar = Assert.NotNull(found.GetBar(0));
        Assert.Equal(DemoPciDevice.Bar0Size, bar.Size);
        Assert.Equal(PciResourceWindows.MmioBaseDefault, bar.Address);
        Assert.Equal(bar.Address, dev.Bar0.MappedAddress);
        Assert.Equal(0x2333u, readBack);
        Assert.Equal(0x2333u, dev.Buff);

        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            var drv = new DemoPciDriver(g);
            Assert.True(drv.Probe(new PciResourceWindows()));
            found = PciEnumerator.Find(
                g,
                DemoPciDevice.VendorIdQemu,
                DemoPciDevice.DeviceIdDemo,
                new PciResourceWindows()
            );
            drv.Write(0x2333);
            readBack = drv.Read();
            yield break;
        }
    }

    [Fact]
    public void Enumeration_AbsentDevice_ReturnsNull()
    {
        PciMachine m = Machine();
        bool ran = false;
        m.Simulation.Kvm.Start(new Program(g => Body(g)));
        m.Simulation.Run();
        Assert.True(ran);

        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            Assert.Null(PciEnumerator.Find(g, 0x1234, 0x9999, new PciResourceWindows()));
            Assert.Null(VirtioPciDriver.FindDevice(g, 99, new PciResourceWindows()));
            ran = true;
            yield break;
        }
    }

    [Theory]
    [InlineData(VirtioDriverTransport.Modern, VirtioInterruptMode.Msix)]
    [InlineData(VirtioDriverTransport.Modern, VirtioInterruptMode.Intx)]
    [InlineData(VirtioDriverTransport.Legacy, VirtioInterruptMode.Msix)]
    [InlineData(VirtioDriverTransport.Legacy, VirtioInterruptMode.Intx)]
    public void Negotiation_And_QueueSetup_MatchDeviceState(VirtioDriverTransport transport, VirtioInterruptMode irq)
    {
        PciMachine m = Machine();
        var dev = new VirtioDemoDevice();
        var pci = new VirtioPciTransport(
            m.Simulation,
            dev,
            new VirtioPciOptions
            {
                Mode = transport == VirtioDriverTransport.Modern ? VirtioPciMode.Modern : VirtioPciMode.Legacy,
                MsixVectors = irq == VirtioInterruptMode.Msix ? 2 : 0,
            }
        );
        m.Attach(4, pci);
        VirtioPciDriver? drv = null;
        VirtioDriverQueue? vq = null;
        int callbacks = 0;
        m.Simulation.Kvm.Start(new Program(g => Body(g), gsi => drv?.HandleInterrupt(gsi)));
        m.Simulation.Run();

        Assert.NotNull(drv);
        Assert.NotNull(vq);
        AssertDeviceStateMatches(dev, drv!, vq!, transport, irq);
        Assert.Equal(1, callbacks);
        Assert.Equal(1, vq.Notifies);
        Assert.Equal(0x77u, dev.Buff);

        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            GuestPciFunction? fn = VirtioPciDriver.FindDevice(
                g,
                VirtioDemoDevice.VirtioIdDemo,
                new PciResourceWindows(),
                m.IntxGsi
            );
            Assert.NotNull(fn);
            drv = VirtioPciDriver.Probe(fn!, transport, irq);
            Assert.NotNull(drv);
            Assert.True(drv!.TryNegotiate(1UL << VirtioSpec.FEventIdx));
            drv.SetupInterrupts(1);
            var dma = new GuestDmaAllocator(new GuestAddress(0x10_0000), 0x10_0000);
            vq = drv.SetupQueue(0, dma);
            Assert.NotNull(vq);
            vq!.Callback = v => v.DrainUsed((_, _) => callbacks++);
            drv.DriverOk();
            GuestAddress buf = dma.Allocate(16);
            g.Memory.TryWriteUInt32(buf, 1);
            g.Memory.TryWriteUInt32(new GuestAddress(buf.Value + 4), 0x77);
            Assert.True(
                vq.Ring.TryAdd(
                    g.Memory,
                    [new Guest.Virtio.GuestBuffer(buf, 8)],
                    [new Guest.Virtio.GuestBuffer(new GuestAddress(buf.Value + 8), 8)],
                    out _
                )
            );
            vq.Kick();
            while (callbacks == 0)
                yield return VcpuStep.Halt;
        }
    }

    /// <summary>What the driver negotiated and set up is what the device holds: status, features, queue
    /// addresses (legacy: aligned) and MSI-X vectors.</summary>
    private static void AssertDeviceStateMatches(
        VirtioDemoDevice dev,
        VirtioPciDriver drv,
        VirtioDriverQueue vq,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq
    )
    {
        Assert.Equal(VirtioDemoDevice.VirtioIdDemo, drv.VirtioDeviceId);
        Assert.Equal(irq, drv.InterruptMode);
        Assert.True(dev.DriverOk);
        Assert.Equal(
            VirtioStatus.Acknowledge
                | VirtioStatus.Driver
                | VirtioStatus.DriverOk
                | (transport == VirtioDriverTransport.Modern ? VirtioStatus.FeaturesOk : 0),
            dev.Status
        );
        Assert.Equal(transport == VirtioDriverTransport.Modern, dev.HasFeature(VirtioSpec.FVersion1));
        var q = dev.GetQueue(0);
        Assert.True(q.Ready);
        Assert.Equal(vq.Ring.Layout.DescTable, q.DescTable);
        Assert.Equal(vq.Ring.Layout.AvailRing, q.AvailRing);
        Assert.Equal(vq.Ring.Layout.UsedRing, q.UsedRing);
        if (transport == VirtioDriverTransport.Legacy)
            Assert.Equal(0ul, q.DescTable.Value % VirtioSpec.LegacyQueueAlign);
        if (irq == VirtioInterruptMode.Msix)
        {
            Assert.Equal(0, dev.ConfigVector);
            Assert.Equal(1, dev.GetQueueVector(0));
        }
    }

    [Fact]
    public void Kick_SkipsNotify_WhenDeviceSuppressed()
    {
        PciMachine m = Machine();
        var dev = new VirtioDemoDevice();
        m.Attach(
            4,
            new VirtioPciTransport(
                m.Simulation,
                dev,
                new VirtioPciOptions { Mode = VirtioPciMode.Modern, MsixVectors = 2 }
            )
        );
        VirtioDriverQueue? vq = null;
        m.Simulation.Kvm.Start(new Program(g => Body(g)));
        m.Simulation.Run();
        Assert.Equal(0, vq!.Notifies);
        Assert.Equal(1, vq.NotifiesSuppressed);

        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            var drv = VirtioPciDriver.Probe(
                VirtioPciDriver.FindDevice(g, VirtioDemoDevice.VirtioIdDemo, new PciResourceWindows())!,
                VirtioDriverTransport.Modern,
                VirtioInterruptMode.Msix
            )!;
            Assert.True(drv.TryNegotiate(0));
            drv.SetupInterrupts(1);
            var dma = new GuestDmaAllocator(new GuestAddress(0x10_0000), 0x10_0000);
            vq = drv.SetupQueue(0, dma)!;
            drv.DriverOk();
            // The device sets VIRTQ_USED_F_NO_NOTIFY (as a polling backend would).
            g.Memory.TryWriteUInt16(vq.Ring.Layout.UsedRing, 1);
            GuestAddress buf = dma.Allocate(16);
            Assert.True(
                vq.Ring.TryAdd(
                    g.Memory,
                    [new Guest.Virtio.GuestBuffer(buf, 8)],
                    [new Guest.Virtio.GuestBuffer(new GuestAddress(buf.Value + 8), 8)],
                    out _
                )
            );
            Assert.False(vq.Kick());
            yield break;
        }
    }

    [Fact]
    public void PerRequestReport_FormatIsStable()
    {
        Assert.Equal(
            "per_request: requests=4 exits=2.00 (mmio=0.50 pio=1.50) ioeventfd=0.25 eventfd_signals=1.00 "
                + "interrupts=1.00 ctx_switches=0.00 latency_ns=12400",
            PerRequestReport.Format(4, 2, 6, 1, 4, 4, 0, 49_600)
        );
        var counters = new RunCounters();
        var report = new PerRequestReport(counters);
        Assert.Equal("per_request: incomplete", report.Line());
        report.Start(1000);
        counters.MmioWriteExits += 3;
        counters.InterruptsDelivered += 3;
        report.Stop(31_000);
        report.Requests = 3;
        Assert.Equal(
            "per_request: requests=3 exits=1.00 (mmio=1.00 pio=0.00) ioeventfd=0.00 eventfd_signals=0.00 "
                + "interrupts=1.00 ctx_switches=0.00 latency_ns=10000",
            report.Line()
        );
    }

    [Fact]
    public void ResourceWindows_AlignAndExhaust()
    {
        var w = new PciResourceWindows(0x1000, 0x4000, 0xC000, 0xC100);
        Assert.True(w.TryAllocate(false, 0x1000, out ulong a));
        Assert.Equal(0x1000ul, a);
        Assert.True(w.TryAllocate(false, 0x2000, out ulong b));
        Assert.Equal(0x2000ul, b);
        Assert.False(w.TryAllocate(false, 0x1000, out _));
        Assert.False(w.TryAllocate(true, 3, out _));
        Assert.True(w.TryAllocate(true, 0x40, out ulong io));
        Assert.Equal(0xC000ul, io);
    }
}
