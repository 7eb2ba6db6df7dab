using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Devices.Pci;
using Sim.Devices.Virtio.Transport;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Transport;

public sealed class VirtioPciIdentityTests
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
            if (id == R.CapabilityIdMsix)
                msix = true;
            if (id == R.CapabilityIdVendor)
            {
                byte type = (byte)rig.ReadConfig(next + L.CapCfgTypeOffset, 1);
                found[type] = (
                    rig.ReadConfig(next + L.CapBarOffset, 1),
                    rig.ReadConfig(next + L.CapOffsetOffset, 4),
                    rig.ReadConfig(next + L.CapLengthOffset, 4),
                    next
                );
            }
            next = (int)rig.ReadConfig(next + 1, 1) & 0xFC;
        }
        Assert.True(msix);
        Assert.Equal(
            ((uint)L.ModernBar, (uint)L.ModernCommonOffset, (uint)L.ModernRegionSize),
            (found[L.CapCommonCfg].Bar, found[L.CapCommonCfg].Offset, found[L.CapCommonCfg].Length)
        );
        Assert.Equal((uint)L.ModernIsrOffset, found[L.CapIsrCfg].Offset);
        Assert.Equal((uint)L.ModernDeviceOffset, found[L.CapDeviceCfg].Offset);
        Assert.Equal((uint)L.ModernNotifyOffset, found[L.CapNotifyCfg].Offset);
        Assert.Equal(
            (uint)L.NotifyOffMultiplier,
            rig.ReadConfig(found[L.CapNotifyCfg].At + L.CapNotifyMultiplierOffset, 4)
        );
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
        for (
            int next = (int)rig.ReadConfig(R.CapabilitiesPointer, 1);
            next != 0;
            next = (int)rig.ReadConfig(next + 1, 1)
        )
        {
            if (rig.ReadConfig(next + L.CapCfgTypeOffset, 1) == L.CapPciCfg)
                cap = next;
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

    /// <summary>One guest access: which window (0 modern BAR, 1 legacy ports, 2 MSI-X table, 3 config space), the
    /// offset in it, read or write, the width and the value; and the rare side events (config change,
    /// re-enumeration).</summary>
    private static readonly Gen<(int Window, int Offset, bool Read, int Size, ulong Value, int Event)> Access =
        from window in Gen.Choose(0, 3)
        from offset in Gen.Choose(0, 0x3fff)
        from read in Gen.Elements(true, false)
        from size in Gen.Elements(1, 2, 4, 8)
        from value in Gen.Zip(Gen.Choose(int.MinValue, int.MaxValue), Gen.Choose(int.MinValue, int.MaxValue))
            .Select(t => ((ulong)(uint)t.Item1 << 32) | (uint)t.Item2)
        from ev in Gen.Choose(0, 511)
        select (window, offset, read, size, size < 8 ? value & ((1UL << (size * 8)) - 1) : value, ev);

    /// <summary>Random writes and reads over every register window of a transitional device with MSI-X: nothing the
    /// guest does may raise a host exception, and a reset still returns the device to status 0.</summary>
    [Property(MaxTest = 100, Replay = "(61474,11400714819323198485)")]
    public Property GuestRegisterFuzzNeverThrows() =>
        Prop.ForAll(Gen.ListOf(Access).Select(l => l.Take(400).ToArray()).ToArbitrary(), accesses =>
        {
            var rig = new VirtioRig(new VirtioPciOptions { MsixVectors = 3 });
            rig.Enumerate();
            foreach ((int window, int offset, bool read, int size, ulong value, int ev) in accesses)
            {
                switch (window)
                {
                    case 0:
                        ulong m = VirtioRig.ModernBase + (ulong)offset;
                        if (read)
                            rig.Read(Sim.Machine.Kvm.BusKind.Mmio, m, size);
                        else
                            rig.Write(Sim.Machine.Kvm.BusKind.Mmio, m, size, value);
                        break;
                    case 1:
                        ulong p = VirtioRig.LegacyPort + (ulong)(offset % 64);
                        if (read)
                            rig.Read(Sim.Machine.Kvm.BusKind.Pio, p, Math.Min(size, 4));
                        else
                            rig.Write(Sim.Machine.Kvm.BusKind.Pio, p, Math.Min(size, 4), value & 0xFFFF_FFFF);
                        break;
                    case 2:
                        ulong x = VirtioRig.MsixBase + (ulong)(offset % 0x1000);
                        if (read)
                            rig.Read(Sim.Machine.Kvm.BusKind.Mmio, x, size);
                        else
                            rig.Write(Sim.Machine.Kvm.BusKind.Mmio, x, size, value);
                        break;
                    default:
                        int reg = 0x40 + (offset % 0xC0);
                        if (read)
                            rig.ReadConfig(reg, Math.Min(size, 4));
                        else
                            rig.WriteConfig(reg, Math.Min(size, 4), (uint)value);
                        break;
                }
                if (ev % 64 == 1)
                    rig.Device.ChangeConfig();
                if (ev == 0)
                    rig.Enumerate();
            }
            rig.Transport.Reset();
            return rig.Device.Status == VirtioStatus.None;
        });
}
