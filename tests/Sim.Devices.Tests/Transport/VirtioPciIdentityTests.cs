using Sim.Devices.Pci;
using Sim.Devices.Virtio.Transport;
using Xunit;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Transport;

public sealed class VirtioPciIdentityTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Spec_4_1_2_ModernOnlyIdsAndRevision()
    {
        var rig = new VirtioRig(new VirtioPciOptions { Mode = VirtioPciMode.Modern });
        Assert.Equal(((uint)(L.ModernDeviceIdBase + EchoDevice.Id) << 16) | L.VendorId, rig.ReadConfig(R.VendorId, 4));
        Assert.Equal(1u, rig.ReadConfig(R.RevisionId, 1));
        Assert.Equal(((uint)EchoDevice.Id << 16) | L.VendorId, rig.ReadConfig(R.SubsystemVendorId, 4));
        Assert.Equal(1u, rig.ReadConfig(R.InterruptPin, 1));
        Assert.Null(rig.Transport.GetBar(L.LegacyBar));
    }

    [Fact]
    public void Spec_4_1_2_TransitionalIdsAndRevision()
    {
        var rig = new VirtioRig(new VirtioPciOptions { Mode = VirtioPciMode.Transitional, LegacyPciDeviceId = 0x1013 });
        Assert.Equal(0x1013u, rig.ReadConfig(R.DeviceId, 2));
        Assert.Equal(0u, rig.ReadConfig(R.RevisionId, 1));
        Assert.Equal((uint)EchoDevice.Id, rig.ReadConfig(R.SubsystemId, 2));
        Assert.Equal(PciBarKind.Io, rig.Transport.GetBar(L.LegacyBar)!.Kind);
    }

    [Fact]
    public void Spec_4_1_4_VendorCapabilitiesDescribeTheModernBar()
    {
        var rig = new VirtioRig(new VirtioPciOptions { Mode = VirtioPciMode.Modern, MsixVectors = 3 });
        var found = new Dictionary<byte, (uint Bar, uint Offset, uint Length, int At)>();
        bool msix = false;
        int next = (int)rig.ReadConfig(R.CapabilitiesPointer, 1);
        for (int guard = 0; next != 0 && guard < R.CapabilityWalkMax; guard++)
        {
            uint id = rig.ReadConfig(next, 1);
            if (id == R.CapabilityIdMsix) msix = true;
            if (id == R.CapabilityIdVendor)
            {
                byte type = (byte)rig.ReadConfig(next + L.CapCfgTypeOffset, 1);
                found[type] = (rig.ReadConfig(next + L.CapBarOffset, 1), rig.ReadConfig(next + L.CapOffsetOffset, 4), rig.ReadConfig(next + L.CapLengthOffset, 4), next);
            }
            next = (int)rig.ReadConfig(next + 1, 1) & 0xFC;
        }
        Assert.True(msix);
        Assert.Equal(((uint)L.ModernBar, (uint)L.ModernCommonOffset, (uint)L.ModernRegionSize), (found[L.CapCommonCfg].Bar, found[L.CapCommonCfg].Offset, found[L.CapCommonCfg].Length));
        Assert.Equal((uint)L.ModernIsrOffset, found[L.CapIsrCfg].Offset);
        Assert.Equal((uint)L.ModernDeviceOffset, found[L.CapDeviceCfg].Offset);
        Assert.Equal((uint)L.ModernNotifyOffset, found[L.CapNotifyCfg].Offset);
        Assert.Equal((uint)L.NotifyOffMultiplier, rig.ReadConfig(found[L.CapNotifyCfg].At + L.CapNotifyMultiplierOffset, 4));
        Assert.Contains(L.CapPciCfg, found.Keys);
        // 64-bit prefetchable memory BAR 4 of 16 KiB.
        rig.WriteConfig(R.Bar0 + 16, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_C00Cu, rig.ReadConfig(R.Bar0 + 16, 4));
    }

    [Fact]
    public void Spec_4_1_4_9_PciCfgWindowReadsAndWritesTheModernBar()
    {
        var rig = new VirtioRig(new VirtioPciOptions { Mode = VirtioPciMode.Modern });
        int cap = 0;
        for (int next = (int)rig.ReadConfig(R.CapabilitiesPointer, 1); next != 0; next = (int)rig.ReadConfig(next + 1, 1))
        {
            if (rig.ReadConfig(next + L.CapCfgTypeOffset, 1) == L.CapPciCfg) cap = next;
        }
        Assert.NotEqual(0, cap);
        rig.WriteConfig(cap + L.CapBarOffset, 1, L.ModernBar);
        rig.WriteConfig(cap + L.CapOffsetOffset, 4, L.ModernCommonOffset + L.CommonNumQueues);
        rig.WriteConfig(cap + L.CapLengthOffset, 4, 2);
        Assert.Equal(2u, rig.ReadConfig(cap + L.CapPciCfgDataOffset, 2)); // two queues, BAR not even mapped
        rig.WriteConfig(cap + L.CapOffsetOffset, 4, L.ModernCommonOffset + L.CommonDeviceStatus);
        rig.WriteConfig(cap + L.CapLengthOffset, 4, 1);
        rig.WriteConfig(cap + L.CapPciCfgDataOffset, 1, (uint)VirtioStatus.Acknowledge);
        Assert.Equal(VirtioStatus.Acknowledge, rig.Device.Status);
    }

    [Fact]
    public void GuestRegisterFuzzNeverThrows()
    {
        // Random writes and reads over every register window of a transitional device with MSI-X:
        // nothing the guest does may raise a host exception.
        var rig = new VirtioRig(new VirtioPciOptions { MsixVectors = 3 });
        rig.Enumerate();
        const ulong seed = 0xF022;
        output.WriteLine($"Prng seed 0x{seed:x} (reproduce: same seed)");
        var prng = new Sim.Engine.Random.Prng(seed);
        int[] sizes = [1, 2, 4, 8];
        for (int i = 0; i < 20_000; i++)
        {
            int size = sizes[prng.IntLessThan(sizes.Length)];
            ulong value = prng.NextUInt64();
            if (size < 8) value &= (1UL << (size * 8)) - 1;
            switch (prng.IntLessThan(4))
            {
                case 0:
                    ulong m = VirtioRig.ModernBase + (ulong)prng.IntLessThan(0x4000);
                    if (prng.IntLessThan(2) == 0) rig.Read(Sim.Engine.Kvm.BusKind.Mmio, m, size);
                    else rig.Write(Sim.Engine.Kvm.BusKind.Mmio, m, size, value);
                    break;
                case 1:
                    ulong p = VirtioRig.LegacyPort + (ulong)prng.IntLessThan(64);
                    if (prng.IntLessThan(2) == 0) rig.Read(Sim.Engine.Kvm.BusKind.Pio, p, Math.Min(size, 4));
                    else rig.Write(Sim.Engine.Kvm.BusKind.Pio, p, Math.Min(size, 4), value & 0xFFFF_FFFF);
                    break;
                case 2:
                    ulong x = VirtioRig.MsixBase + (ulong)prng.IntLessThan(0x1000);
                    if (prng.IntLessThan(2) == 0) rig.Read(Sim.Engine.Kvm.BusKind.Mmio, x, size);
                    else rig.Write(Sim.Engine.Kvm.BusKind.Mmio, x, size, value);
                    break;
                default:
                    int reg = 0x40 + prng.IntLessThan(0xC0);
                    if (prng.IntLessThan(2) == 0) rig.ReadConfig(reg, Math.Min(size, 4));
                    else rig.WriteConfig(reg, Math.Min(size, 4), (uint)value);
                    break;
            }
            if (prng.IntLessThan(64) == 0) rig.Device.ChangeConfig();
            if (prng.IntLessThan(512) == 0) rig.Enumerate();
        }
        rig.Transport.Reset();
        Assert.Equal(VirtioStatus.None, rig.Device.Status);
    }
}
