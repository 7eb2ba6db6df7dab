using Sim.Devices.Pci;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Trace;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Sim.Devices.Tests.Transport;

public sealed class VirtioInterruptTests
{
    private const uint QueueGsi = 40;
    private const uint ConfigGsi = 41;

    private static VirtioRig Rig(int vectors, Flavour flavour = Flavour.Robust, bool irqfd = false) =>
        new(
            new VirtioPciOptions
            {
                Mode = VirtioPciMode.Modern,
                MsixVectors = vectors,
                Flavour = flavour,
                UseIoEventFd = false,
                UseIrqFd = irqfd,
            }
        );

    private static void Kick(VirtioRig rig) =>
        rig.Write(BusKind.Mmio, VirtioRig.ModernBase + L.ModernNotifyOffset, 2, 0);

    private static ulong Isr(VirtioRig rig, int offset = 0) =>
        rig.Read(BusKind.Mmio, VirtioRig.ModernBase + L.ModernIsrOffset + (ulong)offset, 1);

    /// <summary>Linux vp_request_msix_vectors: program table entries, enable MSI-X, assign vectors.</summary>
    private static void SetupMsix(VirtioRig rig, bool maskQueueVector = false)
    {
        ulong table = VirtioRig.MsixBase;
        MsiMessage q = MsiMessage.ForGsi(QueueGsi),
            c = MsiMessage.ForGsi(ConfigGsi);
        rig.Write(BusKind.Mmio, table + 0, 8, q.Address);
        rig.Write(BusKind.Mmio, table + 8, 4, q.Data);
        rig.Write(BusKind.Mmio, table + 12, 4, maskQueueVector ? 1u : 0u);
        rig.Write(BusKind.Mmio, table + 16, 8, c.Address);
        rig.Write(BusKind.Mmio, table + 24, 4, c.Data);
        rig.Write(BusKind.Mmio, table + 28, 4, 0);
        rig.WriteConfig(
            rig.Transport.Msix!.CapabilityOffset + MsixCapability.ControlOffset,
            2,
            MsixCapability.ControlEnable
        );
        rig.Common(L.CommonConfigMsixVector, 2, 1);
        Assert.Equal(1ul, rig.Common(L.CommonConfigMsixVector, 2));
    }

    private static DriverQueue Init(VirtioRig rig, bool msix, bool maskQueueVector = false)
    {
        rig.Enumerate();
        rig.SetStatus(S.Acknowledge | S.Driver);
        rig.SetDriverFeatures(VirtioRig.Version1);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        if (msix)
            SetupMsix(rig, maskQueueVector);
        DriverQueue dq = rig.SetupModernQueue(0, 16, eventIdx: false);
        if (msix)
            rig.Common(L.CommonQueueMsixVector, 2, 0);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk | S.DriverOk);
        return dq;
    }

    [Fact]
    public void Spec_4_1_4_5_IntxFollowsIsrAndIsrReadClearsAndDeasserts()
    {
        VirtioRig rig = Rig(vectors: 0);
        DriverQueue dq = Init(rig, msix: false);
        rig.Post(dq, 1, 2);
        Kick(rig);
        InterruptController irq = rig.Sim.Kvm.Irqchip;
        Assert.True(irq.IsAsserted(rig.IntxGsi));
        Assert.True(irq.IsLevelTriggered(rig.IntxGsi));
        Assert.True(rig.Transport.IntxAsserted);
        Assert.Equal((ulong)L.IsrQueue, Isr(rig));
        Assert.False(irq.IsAsserted(rig.IntxGsi));
        Assert.Equal(0ul, Isr(rig));
    }

    [Fact]
    public void Spec_4_1_4_5_RobustIsrIsOneByteSeedClearsAtAnyOffset()
    {
        foreach (Flavour flavour in new[] { Flavour.Robust, Flavour.Seed })
        {
            VirtioRig rig = Rig(vectors: 0, flavour);
            DriverQueue dq = Init(rig, msix: false);
            rig.Post(dq, 1, 2);
            Kick(rig);
            ulong atOne = Isr(rig, 1);
            if (flavour == Flavour.Robust)
            {
                Assert.Equal(0ul, atOne);
                Assert.Equal((ulong)L.IsrQueue, Isr(rig));
            }
            else
            {
                Assert.Equal((ulong)L.IsrQueue, atOne); // QEMU virtio_pci_isr_read ignores the offset
                Assert.Equal(0ul, Isr(rig));
            }
        }
    }

    [Fact]
    public void Spec_4_1_4_3_1_ConfigChangeBumpsGenerationAndRaisesConfigInterrupt()
    {
        VirtioRig robust = Rig(vectors: 0, Flavour.Robust);
        robust.Enumerate();
        robust.Device.ChangeConfig(); // before DRIVER_OK: generation moves, no interrupt
        Assert.Equal(1ul, robust.Common(L.CommonConfigGeneration, 1));
        Assert.Equal(0, robust.Device.Isr);
        Init(robust, msix: false);
        robust.Device.ChangeConfig();
        Assert.Equal(2ul, robust.Common(L.CommonConfigGeneration, 1));
        Assert.True(robust.Transport.IntxAsserted);
        Assert.Equal((ulong)L.IsrConfig, Isr(robust));

        VirtioRig seed = Rig(vectors: 0, Flavour.Seed);
        seed.Enumerate();
        seed.Device.ChangeConfig(); // QEMU virtio_notify_config returns early before DRIVER_OK
        Assert.Equal(0ul, seed.Common(L.CommonConfigGeneration, 1));
        Init(seed, msix: false);
        seed.Device.ChangeConfig();
        Assert.Equal(1ul, seed.Common(L.CommonConfigGeneration, 1));
        Assert.Equal((ulong)(L.IsrQueue | L.IsrConfig), Isr(seed)); // QEMU sets 3
    }

    [Fact]
    public void Spec_4_1_5_1_MsixVectorReachesItsGsiAndNotIntx()
    {
        VirtioRig rig = Rig(vectors: 2);
        DriverQueue dq = Init(rig, msix: true);
        rig.Post(dq, 1, 2);
        Kick(rig);
        InterruptController irq = rig.Sim.Kvm.Irqchip;
        Assert.False(irq.IsPending(QueueGsi)); // QEMU's KVM_SIGNAL_MSI lands after its ioctl cost
        rig.Sim.Loop.Run();
        Assert.True(irq.IsPending(QueueGsi));
        Assert.False(irq.IsPending(ConfigGsi));
        Assert.False(rig.Transport.IntxAsserted);
        rig.Device.ChangeConfig();
        rig.Sim.Loop.Run();
        Assert.True(irq.IsPending(ConfigGsi));
        Assert.Equal(2, rig.Trace.Count(TraceEventKind.IrqInject));
    }

    [Fact]
    public void Pci_6_8_2_MaskedVectorIsPendingAndSentOnUnmask()
    {
        VirtioRig rig = Rig(vectors: 2);
        DriverQueue dq = Init(rig, msix: true, maskQueueVector: true);
        rig.Post(dq, 1, 2);
        Kick(rig);
        InterruptController irq = rig.Sim.Kvm.Irqchip;
        Assert.False(irq.IsPending(QueueGsi));
        Assert.True(rig.Transport.Msix!.IsPending(0));
        Assert.Equal(1ul, rig.Read(BusKind.Mmio, VirtioRig.MsixBase + rig.Transport.Msix.PbaOffset, 4) & 1);
        rig.Write(BusKind.Mmio, VirtioRig.MsixBase + 12, 4, 0); // unmask
        rig.Sim.Loop.Run();
        Assert.True(irq.IsPending(QueueGsi));
        Assert.False(rig.Transport.Msix.IsPending(0));
    }

    [Fact]
    public void Spec_4_1_5_1_NoVectorMeansNoInterrupt()
    {
        VirtioRig rig = Rig(vectors: 2);
        DriverQueue dq = Init(rig, msix: true);
        rig.Common(L.CommonQueueSelect, 2, 0);
        rig.SetStatus(S.None); // reset clears vectors
        dq = Init(rig, msix: false); // MSI-X still enabled in PCI, but no vectors assigned
        rig.Post(dq, 1, 2);
        Kick(rig);
        Assert.Equal(0, rig.Trace.Count(TraceEventKind.IrqInject));
        Assert.False(rig.Transport.IntxAsserted);
    }

    [Fact]
    public void IrqFd_MsixGoesThroughAnEventFdAndIsInjectedLater()
    {
        VirtioRig rig = Rig(vectors: 2, irqfd: true);
        DriverQueue dq = Init(rig, msix: true);
        rig.Post(dq, 1, 2);
        Kick(rig);
        InterruptController irq = rig.Sim.Kvm.Irqchip;
        Assert.False(irq.IsPending(QueueGsi)); // not yet: irqfd_inject runs from a workqueue
        Assert.NotNull(rig.Transport.GetVectorEventFd(0));
        Assert.Equal(1, rig.Sim.Kvm.IrqFdCount);
        rig.Sim.Run();
        Assert.True(irq.IsPending(QueueGsi));
        var inject = rig.Trace.Events.Single(e => e.Kind == TraceEventKind.IrqInject);
        Assert.Equal(rig.Sim.Kvm.Latency.IrqFdInjectNs, inject.Time);
        Assert.NotEqual(0u, inject.Source); // from an irqfd, not a direct line
    }

    [Fact]
    public void MisprogrammedMsiIsDropped()
    {
        VirtioRig rig = Rig(vectors: 2);
        DriverQueue dq = Init(rig, msix: true);
        rig.Write(BusKind.Mmio, VirtioRig.MsixBase + 8, 4, 0x05); // vector 5: below 0x20, no GSI
        rig.Post(dq, 1, 2);
        Kick(rig);
        Assert.Equal(1, rig.Transport.MsiDropped);
        Assert.Equal(0, rig.Trace.Count(TraceEventKind.IrqInject));
    }
}
