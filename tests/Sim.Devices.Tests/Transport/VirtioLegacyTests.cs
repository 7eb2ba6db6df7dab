using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Sim.Devices.Tests.Transport;

/// <summary>VIRTIO 1.2 §4.1.4.8, the legacy I/O BAR as seed 003's virtio-blk driver uses it.</summary>
public sealed class VirtioLegacyTests
{
    private static VirtioRig Legacy(int vectors = 0) =>
        new(
            new VirtioPciOptions
            {
                Mode = VirtioPciMode.Legacy,
                MsixVectors = vectors,
                UseIoEventFd = false,
            }
        );

    /// <summary>Linux virtio_pci_legacy setup of queue 0: select, read QUEUE_NUM, write the PFN.</summary>
    private static DriverQueue SetupQueue(VirtioRig rig, int q)
    {
        rig.Legacy(L.LegacyQueueSel, 2, (ulong)q);
        int size = (int)rig.Legacy(L.LegacyQueueNum, 2);
        var layout = SplitRingLayout.Legacy(new GuestAddress(VirtioRig.RingBase + ((ulong)q * 0x10000)), size);
        var dq = new DriverQueue(layout, eventIdx: false);
        dq.Initialize(rig.Memory);
        rig.Legacy(L.LegacyQueuePfn, 4, layout.DescTable.Value >> L.LegacyQueueAddressShift);
        return dq;
    }

    [Fact]
    public void Spec_4_1_4_8_RegisterLayout()
    {
        VirtioRig rig = Legacy();
        rig.Enumerate();
        ulong host = rig.Legacy(L.LegacyHostFeatures, 4);
        // No VERSION_1 (bit 32) in legacy.
        Assert.Equal((uint)(VirtioDevice.CommonFeatures | EchoDevice.FeatureEcho), host);
        Assert.Equal(0ul, rig.Legacy(L.LegacyGuestFeatures, 4));
        Assert.Equal(16ul, rig.Legacy(L.LegacyQueueNum, 2));
        rig.Legacy(L.LegacyQueueSel, 2, 1);
        Assert.Equal(1ul, rig.Legacy(L.LegacyQueueSel, 2));
        Assert.Equal(8ul, rig.Legacy(L.LegacyQueueNum, 2));
        Assert.Equal(0ul, rig.Legacy(L.LegacyQueuePfn, 4));
        Assert.Equal(0ul, rig.Legacy(L.LegacyStatus, 1));
        Assert.Equal(0xFFFFul, rig.Legacy(L.LegacyQueueNotify, 2)); // write-only: QEMU reads all-ones
        Assert.Equal(0x1234_5678ul, rig.Legacy(L.LegacyConfigNoMsix, 4)); // device config at 20 without MSI-X
        Assert.Equal(0xFFFF_FFFFul, rig.Legacy(L.LegacyConfigNoMsix + 8, 4)); // past the 8 config bytes
        Assert.Equal(32ul, rig.Transport.GetBar(L.LegacyBar)!.Size); // 20 + 8 rounded up
    }

    [Fact]
    public void Spec_4_1_4_8_MsixMovesDeviceConfigTo24AndExposesVectorRegisters()
    {
        VirtioRig rig = Legacy(vectors: 2);
        rig.Enumerate();
        Assert.Equal(0x1234_5678ul, rig.Legacy(L.LegacyConfigNoMsix, 4)); // MSI-X present but not enabled
        int cap = rig.Transport.Msix!.CapabilityOffset;
        rig.WriteConfig(cap + 2, 2, 0x8000); // MSI-X enable
        Assert.Equal(0x1234_5678ul, rig.Legacy(L.LegacyConfigMsix, 4));
        Assert.Equal((ulong)L.NoVector, rig.Legacy(L.LegacyConfigVector, 2));
        rig.Legacy(L.LegacyConfigVector, 2, 1);
        Assert.Equal(1ul, rig.Legacy(L.LegacyConfigVector, 2));
        rig.Legacy(L.LegacyQueueVector, 2, 7); // no such vector: recorded as none
        Assert.Equal((ulong)L.NoVector, rig.Legacy(L.LegacyQueueVector, 2));
    }

    [Fact]
    public void Spec_2_7_2_LegacyPfnPlacesTheRingsWithTheLegacyLayout()
    {
        VirtioRig rig = Legacy();
        rig.Enumerate();
        DriverQueue dq = SetupQueue(rig, 0);
        var q = rig.Device.GetQueue(0);
        Assert.True(q.Ready);
        Assert.Equal(dq.Layout.DescTable, q.DescTable);
        Assert.Equal(dq.Layout.AvailRing, q.AvailRing);
        Assert.Equal(dq.Layout.UsedRing, q.UsedRing);
        Assert.Equal(0ul, q.UsedRing.Value % VirtioSpec.LegacyQueueAlign);
        Assert.Equal(dq.Layout.DescTable.Value >> 12, rig.Legacy(L.LegacyQueuePfn, 4));
    }

    [Fact]
    public void Seed003_LegacyDriverKicksThroughQueueNotifyAndGetsItsCompletion()
    {
        VirtioRig rig = Legacy();
        rig.Enumerate();
        rig.Legacy(L.LegacyStatus, 1, (byte)S.Acknowledge);
        rig.Legacy(L.LegacyStatus, 1, (byte)(S.Acknowledge | S.Driver));
        rig.Legacy(L.LegacyGuestFeatures, 4, EchoDevice.FeatureEcho);
        DriverQueue dq = SetupQueue(rig, 0);
        rig.Legacy(L.LegacyStatus, 1, (byte)(S.Acknowledge | S.Driver | S.DriverOk));
        rig.Post(dq, 0xAA, 0xBB);
        rig.Legacy(L.LegacyQueueNotify, 2, 0);
        Assert.True(dq.TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal(8u, len);
        Assert.Equal(0xBB_0000_00AAul, rig.ResponseOf());
        Assert.Equal(L.IsrQueue, (byte)rig.Legacy(L.LegacyIsr, 1));
        Assert.Equal(0ul, rig.Legacy(L.LegacyIsr, 1)); // read cleared it
    }

    [Fact]
    public void Qemu_LegacyPfnZeroResetsTheDevice()
    {
        VirtioRig rig = Legacy();
        rig.Enumerate();
        rig.Legacy(L.LegacyStatus, 1, (byte)(S.Acknowledge | S.Driver));
        SetupQueue(rig, 0);
        rig.Legacy(L.LegacyQueuePfn, 4, 0);
        Assert.Equal(S.None, rig.Device.Status);
        Assert.False(rig.Device.GetQueue(0).Ready);
    }

    [Fact]
    public void Qemu_LegacyAckDriverTurnsOnBusMastering()
    {
        VirtioRig rig = Legacy();
        rig.WriteConfig(R.Bar0, 4, VirtioRig.LegacyPort);
        rig.WriteConfig(R.Command, 2, R.CommandIoSpace);
        rig.Legacy(L.LegacyStatus, 1, (byte)(S.Acknowledge | S.Driver));
        Assert.True(rig.Transport.BusMasterEnabled);
    }

    [Fact]
    public void Spec_2_1_2_LegacyBrokenDeviceHasNoNeedsReset()
    {
        VirtioRig rig = Legacy();
        rig.Enumerate();
        rig.Legacy(L.LegacyStatus, 1, (byte)(S.Acknowledge | S.Driver | S.DriverOk));
        DriverQueue dq = SetupQueue(rig, 0);
        Assert.True(rig.Memory.TryWriteUInt16(dq.Layout.AvailEntry(0), 99)); // head out of range
        Assert.True(rig.Memory.TryWriteUInt16(dq.Layout.AvailIdx, 1));
        rig.Legacy(L.LegacyQueueNotify, 2, 0);
        Assert.True(rig.Device.IsBroken);
        Assert.Equal(S.None, rig.Device.Status & S.DeviceNeedsReset); // QEMU: NEEDS_RESET only with VERSION_1
    }
}
