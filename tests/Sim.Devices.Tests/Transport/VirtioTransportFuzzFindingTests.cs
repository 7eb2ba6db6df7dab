using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Transport;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Sim.Devices.Tests.Transport;

/// <summary>Regressions for what the virtio-pci fuzz target (virtio-pci-qemu-robust) found: the robust transport now
/// follows the spec's letter where QEMU is lax; the seed flavour keeps QEMU's behaviour.</summary>
public sealed class VirtioTransportFuzzFindingTests
{
    private static VirtioRig Modern(Flavour flavour) =>
        new(
            new VirtioPciOptions
            {
                Mode = VirtioPciMode.Modern,
                Flavour = flavour,
                UseIoEventFd = false,
            }
        );

    private static void Kick(VirtioRig rig) =>
        rig.Write(BusKind.Mmio, VirtioRig.ModernBase + L.ModernNotifyOffset, 2, 0);

    [Theory]
    [InlineData(Flavour.Robust, 0)]
    [InlineData(Flavour.Seed, 1)]
    public void Spec_3_1_2_KickBeforeDriverOk_IsIgnoredByRobust_QemuRunsTheHandler(Flavour flavour, int handled)
    {
        VirtioRig rig = Modern(flavour);
        rig.Enumerate();
        rig.SetStatus(S.Acknowledge | S.Driver);
        rig.SetDriverFeatures(VirtioRig.Version1);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        DriverQueue dq = rig.SetupModernQueue(0, 16, eventIdx: false);
        rig.Post(dq, 1, 2);
        Kick(rig);
        Assert.Equal(handled, rig.Device.Handled);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk | S.DriverOk);
        Kick(rig);
        Assert.Equal(handled + 1, rig.Device.Handled); // after DRIVER_OK the request is served either way
    }

    [Theory]
    [InlineData(Flavour.Robust, S.Acknowledge)]
    [InlineData(Flavour.Seed, S.Acknowledge | S.DeviceNeedsReset)]
    public void Spec_2_1_1_DriverWrittenNeedsReset_IsDroppedByRobust_QemuStoresIt(Flavour flavour, S expected)
    {
        VirtioRig rig = Modern(flavour);
        rig.Enumerate();
        rig.SetStatus(S.Acknowledge | S.DeviceNeedsReset);
        Assert.Equal(expected, rig.Status);
    }

    [Fact]
    public void Spec_2_1_2_RobustKeepsTheDevicesOwnNeedsReset_AcrossDriverWrites_UntilReset()
    {
        VirtioRig rig = Modern(Flavour.Robust);
        rig.ModernInit(VirtioRig.Version1);
        rig.Device.SetBroken("test");
        Assert.Equal(S.DeviceNeedsReset, rig.Status & S.DeviceNeedsReset);
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk | S.DriverOk); // without the bit
        Assert.Equal(S.DeviceNeedsReset, rig.Status & S.DeviceNeedsReset);
        rig.SetStatus(S.None);
        Assert.Equal(S.None, rig.Status);
    }

    [Fact]
    public void Robust_ALoneNeedsResetWrite_LeavesStatus0_ButIsNotAReset()
    {
        VirtioRig rig = Modern(Flavour.Robust);
        rig.Enumerate();
        rig.Common(L.CommonQueueSelect, 2, 1);
        rig.Common(L.CommonDeviceFeatureSelect, 4, 1);
        rig.SetStatus(S.DeviceNeedsReset);
        Assert.Equal(S.None, rig.Status);
        Assert.Equal(1ul, rig.Common(L.CommonQueueSelect, 2)); // a reset would have cleared the selectors
        Assert.Equal(1ul, rig.Common(L.CommonDeviceFeatureSelect, 4));
    }

    [Theory]
    [InlineData(Flavour.Robust, false)]
    [InlineData(Flavour.Seed, true)]
    public void Spec_2_2_2_ModernDriverAcceptingALegacyOnlyBit_IsRefusedByRobust(Flavour flavour, bool accepted)
    {
        VirtioRig rig = Modern(flavour);
        rig.Enumerate();
        rig.SetStatus(S.Acknowledge | S.Driver);
        rig.SetDriverFeatures(VirtioRig.Version1 | (1UL << VirtioSpec.FNotifyOnEmpty)); // hidden from device_feature
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        Assert.Equal(accepted, (rig.Status & S.FeaturesOk) != 0);
    }
}
