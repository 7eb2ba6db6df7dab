using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Guest.Virtio;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Sim.Devices.Tests.Transport;

public sealed class VirtioStatusTests
{
    private static VirtioRig Modern(Flavour flavour = Flavour.Robust) =>
        new(
            new VirtioPciOptions
            {
                Mode = VirtioPciMode.Modern,
                Flavour = flavour,
                UseIoEventFd = false,
            }
        );

    [Fact]
    public void Spec_6_DeviceOffersVersion1EventIdxIndirectAndItsOwnBits_LegacyOnlyBitsHidden()
    {
        VirtioRig rig = Modern();
        rig.Enumerate();
        ulong f = rig.DeviceFeatures();
        Assert.Equal(
            EchoDevice.FeatureEcho
                | (1UL << VirtioSpec.FIndirectDesc)
                | (1UL << VirtioSpec.FEventIdx)
                | VirtioRig.Version1,
            f
        );
        rig.Common(L.CommonDeviceFeatureSelect, 4, 2);
        Assert.Equal(0ul, rig.Common(L.CommonDeviceFeature, 4));
    }

    [Fact]
    public void Spec_3_1_1_InitialisationSequenceReachesDriverOk()
    {
        VirtioRig rig = Modern();
        rig.ModernInit(VirtioRig.Version1 | EchoDevice.FeatureEcho);
        Assert.Equal(S.Acknowledge | S.Driver | S.FeaturesOk | S.DriverOk, rig.Status);
        Assert.True(rig.Device.HasFeature(0));
        Assert.True(rig.Device.GetQueue(0).Ready);
        Assert.Equal(2ul, rig.Common(L.CommonNumQueues, 2));
    }

    [Fact]
    public void Spec_3_1_1_RobustRefusesFeaturesOkForUnofferedBits()
    {
        VirtioRig rig = Modern();
        rig.Enumerate();
        rig.SetStatus(S.Acknowledge | S.Driver);
        rig.SetDriverFeatures(VirtioRig.Version1 | (1UL << 5)); // bit 5 was not offered
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        Assert.Equal(S.Acknowledge | S.Driver, rig.Status); // FEATURES_OK did not stick
        rig.SetDriverFeatures(VirtioRig.Version1);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        Assert.Equal(S.Acknowledge | S.Driver | S.FeaturesOk, rig.Status);
    }

    [Fact]
    public void Seed_QemuDropsUnofferedBitsAndAcceptsFeaturesOk()
    {
        VirtioRig rig = Modern(Flavour.Seed);
        rig.Enumerate();
        rig.SetStatus(S.Acknowledge | S.Driver);
        rig.SetDriverFeatures(VirtioRig.Version1 | (1UL << 5));
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        Assert.Equal(S.Acknowledge | S.Driver | S.FeaturesOk, rig.Status);
        Assert.Equal(VirtioRig.Version1, rig.Device.DriverFeatures);
    }

    [Fact]
    public void Spec_3_1_1_DeviceValidationCanRefuseFeaturesOk()
    {
        VirtioRig rig = Modern();
        rig.Device.RefuseFeatures = true;
        rig.Enumerate();
        rig.SetDriverFeatures(VirtioRig.Version1);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        Assert.Equal(S.None, rig.Status & S.FeaturesOk);
    }

    [Fact]
    public void Spec_2_2_FeaturesAreFrozenAfterFeaturesOk()
    {
        VirtioRig rig = Modern();
        rig.ModernInit(VirtioRig.Version1);
        rig.SetDriverFeatures(VirtioRig.Version1 | EchoDevice.FeatureEcho);
        Assert.False(rig.Device.HasFeature(0));
    }

    [Fact]
    public void Spec_2_1_FailedAndOtherBitsReadBack_WritingZeroResets()
    {
        VirtioRig rig = Modern();
        DriverQueue dq = rig.ModernInit(VirtioRig.Version1 | (1UL << VirtioSpec.FEventIdx));
        rig.SetStatus(rig.Status | S.Failed);
        Assert.Equal(S.Failed, rig.Status & S.Failed);
        rig.SetStatus(S.None);
        Assert.Equal(S.None, rig.Status);
        Assert.Equal(0ul, rig.Device.DriverFeatures);
        Assert.False(rig.Device.GetQueue(0).Ready);
        Assert.Equal(0ul, rig.Common(L.CommonQueueEnable, 2));
        Assert.Equal(0ul, rig.Common(L.CommonQueueDesc, 8));
        Assert.Equal(16ul, rig.Common(L.CommonQueueSize, 2)); // back to the maximum
        Assert.Equal(2, rig.Device.Resets); // ModernInit began with a reset too
        _ = dq;
    }

    [Fact]
    public void Spec_2_4_ResetMidRequestDropsInFlightElements()
    {
        VirtioRig rig = Modern();
        rig.Device.Hold = true;
        DriverQueue dq = rig.ModernInit(VirtioRig.Version1);
        rig.Post(dq, 1, 0x1333);
        rig.Write(Sim.Machine.Kvm.BusKind.Mmio, VirtioRig.ModernBase + L.ModernNotifyOffset, 2, 0);
        Assert.Equal(1, rig.Device.Held);
        Assert.Equal(1, rig.Device.GetQueue(0).InUse);
        long resets = rig.Device.ResetCount;

        rig.SetStatus(S.None);
        Assert.Equal(0, rig.Device.GetQueue(0).InUse);
        Assert.False(rig.Device.GetQueue(0).Ready);
        Assert.Equal(resets + 1, rig.Device.ResetCount);
        Assert.False(rig.Device.TryPush(0, new QueueElement(), 8)); // a late completion is dropped

        // The driver starts over: a fresh ring, and the request is served from index 0.
        rig.Device.Hold = false;
        DriverQueue fresh = rig.ModernInit(VirtioRig.Version1);
        rig.Post(fresh, 7, 9);
        rig.Write(Sim.Machine.Kvm.BusKind.Mmio, VirtioRig.ModernBase + L.ModernNotifyOffset, 2, 0);
        Assert.True(fresh.TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal(8u, len);
        Assert.Equal(1, rig.Device.GetQueue(0).UsedIdx.Value);
        _ = dq;
    }

    [Fact]
    public void Spec_2_1_2_BrokenDeviceSetsNeedsResetRaisesConfigInterruptAndIgnoresKicks()
    {
        VirtioRig rig = Modern();
        DriverQueue dq = rig.ModernInit(VirtioRig.Version1);
        // avail.idx 100 ahead of a 16-entry ring: QEMU "Guest moved used index".
        Assert.True(rig.Memory.TryWriteUInt16(dq.Layout.AvailIdx, 100));
        rig.Write(Sim.Machine.Kvm.BusKind.Mmio, VirtioRig.ModernBase + L.ModernNotifyOffset, 2, 0);
        Assert.True(rig.Device.IsBroken);
        Assert.Equal(S.DeviceNeedsReset, rig.Status & S.DeviceNeedsReset);
        Assert.Equal(L.IsrConfig, rig.Device.Isr & L.IsrConfig);
        Assert.Contains(rig.Trace.Events, e =>
            e.Kind == TraceEventKind.DeviceResult
            && e.Address == VirtioDevice.ResultBroken
            && e.Value == (ulong)QueueError.AvailIndexTooFar
        );
        int handled = rig.Device.Handled;
        rig.Write(Sim.Machine.Kvm.BusKind.Mmio, VirtioRig.ModernBase + L.ModernNotifyOffset, 2, 0);
        Assert.Equal(handled, rig.Device.Handled);
        rig.SetStatus(S.None);
        Assert.False(rig.Device.IsBroken);
        Assert.Equal(S.None, rig.Status);
    }

    [Fact]
    public void Qemu_QueueEnableZeroBreaksTheDevice()
    {
        VirtioRig rig = Modern();
        rig.ModernInit(VirtioRig.Version1);
        rig.Common(L.CommonQueueEnable, 2, 0);
        Assert.True(rig.Device.IsBroken);
    }

    [Fact]
    public void RingsOutsideMemoryBreakTheDeviceAtEnable()
    {
        VirtioRig rig = Modern();
        rig.Enumerate();
        rig.SetDriverFeatures(VirtioRig.Version1);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        rig.Common(L.CommonQueueDesc, 8, 0xFFFF_FFFF_0000);
        rig.Common(L.CommonQueueEnable, 2, 1);
        Assert.True(rig.Device.IsBroken);
        Assert.False(rig.Device.GetQueue(0).Ready);
    }

    [Fact]
    public void QueueRegistersOfAbsentQueuesReadZeroAndIgnoreWrites()
    {
        VirtioRig rig = Modern();
        rig.Enumerate();
        rig.Common(L.CommonQueueSelect, 2, 5);
        Assert.Equal(5ul, rig.Common(L.CommonQueueSelect, 2));
        Assert.Equal(0ul, rig.Common(L.CommonQueueSize, 2));
        rig.Common(L.CommonQueueEnable, 2, 1);
        rig.Common(L.CommonQueueSelect, 2, 2000); // beyond VIRTIO_QUEUE_MAX: ignored
        Assert.Equal(5ul, rig.Common(L.CommonQueueSelect, 2));
        rig.Common(L.CommonQueueSelect, 2, 1);
        rig.Common(L.CommonQueueSize, 2, 6); // not a power of two: ignored
        Assert.Equal(8ul, rig.Common(L.CommonQueueSize, 2));
        rig.Common(L.CommonQueueSize, 2, 4);
        Assert.Equal(4ul, rig.Common(L.CommonQueueSize, 2));
    }

    [Fact]
    public void Spec_4_1_5_1_3_BusMasterClearDropsDriverOk()
    {
        VirtioRig rig = Modern();
        rig.ModernInit(VirtioRig.Version1);
        rig.WriteConfig(Sim.Spec.Pci.PciConfigRegisters.Command, 2, Sim.Spec.Pci.PciConfigRegisters.CommandMemorySpace);
        Assert.Equal(S.None, rig.Status & S.DriverOk);
        Assert.Equal(S.FeaturesOk, rig.Status & S.FeaturesOk);
    }

    [Fact]
    public void Spec_4_1_4_3_DeviceConfigReadsThroughTheDeviceRegion()
    {
        VirtioRig rig = Modern();
        rig.Enumerate();
        ulong cfg = VirtioRig.ModernBase + L.ModernDeviceOffset;
        Assert.Equal(0x1234_5678ul, rig.Read(Sim.Machine.Kvm.BusKind.Mmio, cfg, 4));
        Assert.Equal(0x34ul, rig.Read(Sim.Machine.Kvm.BusKind.Mmio, cfg + 2, 1));
        Assert.Equal(0xFFFF_FFFFul, rig.Read(Sim.Machine.Kvm.BusKind.Mmio, cfg + 8, 4)); // past the 8 config bytes
        rig.Write(Sim.Machine.Kvm.BusKind.Mmio, cfg + 4, 4, 0xCAFE);
        Assert.Equal(0xCAFEul, rig.Read(Sim.Machine.Kvm.BusKind.Mmio, cfg + 4, 4)); // QEMU stores config writes
    }

    [Fact]
    public void CommonRegistersMatchByExactOffsetAndSplitWideAccesses()
    {
        VirtioRig rig = Modern();
        rig.Enumerate();
        rig.Common(L.CommonQueueSelect, 2, 1);
        // A 4-byte read at queue_select is split (QEMU memory_access_size) into queue_select | queue_size << 16.
        Assert.Equal(1ul | (8ul << 16), rig.Common(L.CommonQueueSelect, 4));
        rig.Common(L.CommonQueueDesc, 8, 0x1_2345_6000);
        Assert.Equal(0x2345_6000ul, rig.Common(L.CommonQueueDesc, 4));
        Assert.Equal(0x1ul, rig.Common(L.CommonQueueDesc + 4, 4));
        Assert.Equal(0ul, rig.Common(0x05, 1)); // inside device_feature: no register at that exact offset
    }
}
