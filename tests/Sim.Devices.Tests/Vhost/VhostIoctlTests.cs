using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Xunit;

namespace Sim.Devices.Tests.Vhost;

/// <summary>Each ioctl's validation, as drivers/vhost/vhost.c does it.</summary>
public sealed class VhostIoctlTests
{
    private static (VhostDevice Dev, Simulation Sim, VmmAddressSpace Vmm) NewDevice(
        bool owned = true,
        VhostOptions? options = null
    )
    {
        var sim = new Simulation(new SimulationOptions { CheckpointInterval = 0 });
        var vmm = new VmmAddressSpace(sim.Memory);
        var dev = new VhostDevice(sim, vmm, 2, VhostFeatures.Default, options);
        if (owned)
            Assert.Equal(VhostResult.Ok, dev.SetOwner());
        return (dev, sim, vmm);
    }

    [Fact]
    public void SetOwner_Twice_Ebusy()
    {
        var (dev, _, _) = NewDevice();
        Assert.Equal(VhostResult.Busy, dev.SetOwner());
        Assert.NotNull(dev.Worker);
    }

    [Fact]
    public void WithoutOwner_Eperm_ExceptFeatures()
    {
        var (dev, sim, _) = NewDevice(owned: false);
        Assert.Equal(VhostResult.NotPermitted, dev.SetMemTable([]));
        Assert.Equal(VhostResult.NotPermitted, dev.SetVringNum(0, 8));
        Assert.Equal(VhostResult.NotPermitted, dev.SetVringAddr(0, new VhostVringAddr(0, 0, 0)));
        Assert.Equal(VhostResult.NotPermitted, dev.SetVringBase(0, 0));
        Assert.Equal(VhostResult.NotPermitted, dev.GetVringBase(0, out _));
        Assert.Equal(VhostResult.NotPermitted, dev.SetVringKick(0, sim.CreateEventFd()));
        Assert.Equal(VhostResult.NotPermitted, dev.SetVringCall(0, null));
        Assert.Equal(VhostResult.NotPermitted, dev.SetVringErr(0, null));
        Assert.Equal(VhostResult.NotPermitted, dev.ResetOwner());
        Assert.Equal(VhostResult.Ok, dev.GetFeatures(out ulong f));
        Assert.Equal(VhostFeatures.Default, f);
        Assert.Equal(VhostResult.Ok, dev.SetFeatures(f));
    }

    [Fact]
    public void SetFeatures_UnofferedBit_Eopnotsupp()
    {
        var (dev, _, _) = NewDevice();
        Assert.Equal(VhostResult.NotSupported, dev.SetFeatures(1UL << VhostFeatures.FLogAll));
        Assert.Equal(VhostResult.NotSupported, dev.SetFeatures(1UL << 63));
        Assert.Equal(VhostResult.Ok, dev.SetFeatures(1UL << 29));
        Assert.All(dev.Vqs, vq => Assert.True(vq.EventIdx));
    }

    [Fact]
    public void VringIoctl_IndexBeyondQueues_Enobufs()
    {
        var (dev, _, _) = NewDevice();
        Assert.Equal(VhostResult.NoBuffers, dev.SetVringNum(2, 8));
        Assert.Equal(VhostResult.NoBuffers, dev.SetVringBase(uint.MaxValue, 0));
        Assert.Equal(VhostResult.NoBuffers, dev.SetVringCall(7, null));
    }

    [Theory]
    [InlineData(0u, VhostResult.Invalid)]
    [InlineData(3u, VhostResult.Invalid)]
    [InlineData(0x10000u, VhostResult.Invalid)]
    [InlineData(0xffffu, VhostResult.Invalid)]
    [InlineData(1u, VhostResult.Ok)]
    [InlineData(256u, VhostResult.Ok)]
    [InlineData(32768u, VhostResult.Ok)]
    public void SetVringNum_Validation(uint num, VhostResult expected)
    {
        var (dev, _, _) = NewDevice();
        Assert.Equal(expected, dev.SetVringNum(0, num));
        Assert.Equal(expected == VhostResult.Ok ? num : 1u, dev.Vqs[0].Num);
    }

    [Fact]
    public void SetVringNumAndBase_WhileRunning_Ebusy()
    {
        var kit = new VhostKit();
        Assert.True(kit.Vq.HasBackend);
        Assert.Equal(VhostResult.Busy, kit.Dev.SetVringNum(0, 8));
        Assert.Equal(VhostResult.Busy, kit.Dev.SetVringBase(0, 3));
        VhostKit.Check(kit.Demo.SetRunning(false));
        Assert.Equal(VhostResult.Ok, kit.Dev.SetVringNum(0, 8));
    }

    [Fact]
    public void SetVringAddr_Alignment_Flags()
    {
        var (dev, _, vmm) = NewDevice();
        ulong b = vmm.RegionUserAddress(0);
        Assert.Equal(VhostResult.Invalid, dev.SetVringAddr(0, new VhostVringAddr(b, b + 1, b + 0x100)));
        Assert.Equal(VhostResult.Invalid, dev.SetVringAddr(0, new VhostVringAddr(b, b + 2, b + 0x102)));
        Assert.Equal(VhostResult.Invalid, dev.SetVringAddr(0, new VhostVringAddr(b, b + 2, b + 0x100, 0, 2)));
        Assert.Equal(VhostResult.NotSupported, dev.SetVringAddr(0, new VhostVringAddr(b, b + 2, b + 0x100, 2)));
        // Linux does not check the descriptor table's alignment.
        Assert.Equal(
            VhostResult.Ok,
            dev.SetVringAddr(0, new VhostVringAddr(b + 1, b + 2, b + 0x100, VhostVringAddr.FLog))
        );
    }

    [Fact]
    public void SetVringAddr_WhileRunning_AccessOkChecked()
    {
        var kit = new VhostKit();
        Assert.Equal(
            VhostResult.Invalid,
            kit.Dev.SetVringAddr(0, new VhostVringAddr(VhostLimits.UserAddressLimit - 8, 0x1000, 0x2000))
        );
        ulong b = kit.Vmm.RegionUserAddress(0);
        Assert.Equal(VhostResult.Ok, kit.Dev.SetVringAddr(0, new VhostVringAddr(b + 0x1000, b + 0x1100, b + 0x1200)));
    }

    [Fact]
    public void SetVringBase_Validation_And_GetVringBase()
    {
        var (dev, _, _) = NewDevice();
        Assert.Equal(VhostResult.Invalid, dev.SetVringBase(0, 0x10000));
        Assert.Equal(VhostResult.Ok, dev.SetVringBase(0, 0xfffe));
        Assert.Equal(VhostResult.Ok, dev.GetVringBase(0, out uint num));
        Assert.Equal(0xfffeu, num);
        Assert.Equal(0xfffe, dev.Vqs[0].AvailIdx);
    }

    [Fact]
    public void SetMemTable_TooManyRegions_E2big_Padding_Eopnotsupp()
    {
        var (dev, _, _) = NewDevice(options: new VhostOptions { MemRegionsMax = 4 });
        var five = Enumerable
            .Range(0, 5)
            .Select(i => new VhostMemoryRegion((ulong)i << 20, 1 << 20, 0x7f00_0000_0000 + ((ulong)i << 20)))
            .ToArray();
        Assert.Equal(VhostResult.TooBig, dev.SetMemTable(five));
        Assert.Equal(VhostResult.NotSupported, dev.SetMemTable(five.AsSpan(0, 4), padding: 1));
        Assert.Equal(VhostResult.Ok, dev.SetMemTable(five.AsSpan(0, 4)));
        Assert.Equal(4, dev.Umem!.Maps.Count);
    }

    [Fact]
    public void SetMemTable_DefaultLimitIs64()
    {
        var (dev, _, _) = NewDevice();
        var regions = Enumerable
            .Range(0, 65)
            .Select(i => new VhostMemoryRegion((ulong)i << 20, 1 << 20, 0x7f00_0000_0000 + ((ulong)i << 20)))
            .ToArray();
        Assert.Equal(VhostResult.TooBig, dev.SetMemTable(regions));
        Assert.Equal(VhostResult.Ok, dev.SetMemTable(regions.AsSpan(0, 64)));
    }

    [Fact]
    public void SetMemTable_ZeroSizeOrWrap_Efault_OldTableKept()
    {
        var (dev, _, vmm) = NewDevice();
        Assert.Equal(VhostResult.Ok, dev.SetMemTable(vmm.MemoryTable()));
        VhostIotlb before = dev.Umem!;
        Assert.Equal(VhostResult.Fault, dev.SetMemTable([new VhostMemoryRegion(0x1000, 0, 0x7f00_0000_0000)]));
        Assert.Equal(
            VhostResult.Fault,
            dev.SetMemTable([new VhostMemoryRegion(ulong.MaxValue - 0xfff, 0x2000, 0x7f00_0000_0000)])
        );
        Assert.Same(before, dev.Umem);
    }

    [Fact]
    public void SetMemTable_ZeroSizeAtGpa0_MapsWholeSpace_SplitInTwo()
    {
        var (dev, _, _) = NewDevice();
        Assert.Equal(VhostResult.Ok, dev.SetMemTable([new VhostMemoryRegion(0, 0, 0x1000)]));
        Assert.Equal(
            [
                new VhostIotlbMap(0, long.MaxValue, 0x1000),
                new VhostIotlbMap(1UL << 63, ulong.MaxValue, 0x1000 + (1UL << 63)),
            ],
            dev.Umem!.Maps
        );
    }

    [Fact]
    public void SetMemTable_Overlap_AcceptedAsLinux_LowestStartWins()
    {
        var (dev, _, _) = NewDevice();
        Assert.Equal(
            VhostResult.Ok,
            dev.SetMemTable([
                new VhostMemoryRegion(0x1000, 0x3000, 0xA000),
                new VhostMemoryRegion(0x0, 0x2000, 0x50000),
            ])
        );
        Span<UserIovec> iov = new UserIovec[4];
        Assert.True(dev.Umem!.TryTranslate(0x1800, 0x1000, iov, out int n, out _));
        // [0, 0x2000) starts lowest: 0x800 bytes from it, the rest from [0x1000, 0x4000).
        Assert.Equal(2, n);
        Assert.Equal(new UserIovec(0x51800, 0x800), iov[0]);
        Assert.Equal(new UserIovec(0xB000, 0x800), iov[1]);
    }

    [Fact]
    public void SetMemTable_WhileRunning_UserRangeChecked()
    {
        var kit = new VhostKit();
        Assert.Equal(
            VhostResult.Fault,
            kit.Dev.SetMemTable([new VhostMemoryRegion(0, 1 << 20, VhostLimits.UserAddressLimit - 0x1000)])
        );
        Assert.Equal(VhostResult.Ok, kit.Dev.SetMemTable(kit.Vmm.MemoryTable()));
    }

    [Fact]
    public void StartVring_WithoutMemTable_Efault_UnmappedUsedRing_Efault()
    {
        var kit = new VhostKit(start: false);
        VhostKit.Check(kit.Dev.SetOwner());
        Assert.Equal(VhostResult.Fault, kit.Demo.SetRunning(true)); // no memory table: vhost_vq_access_ok fails
        VhostKit.Check(kit.Dev.SetMemTable(kit.Vmm.MemoryTable()));
        VhostKit.Check(kit.Dev.SetVringNum(0, 16));
        // Not in the VMM's mappings.
        VhostKit.Check(kit.Dev.SetVringAddr(0, new VhostVringAddr(0x1000, 0x2000, 0x3000)));
        Assert.Equal(VhostResult.Fault, kit.Demo.SetRunning(true)); // vhost_vq_init_access: used->flags write faults
        Assert.False(kit.Vq.HasBackend);
    }

    [Fact]
    public void StartVring_ReadsLastUsedIdxFromGuest()
    {
        var kit = new VhostKit(start: false);
        using (Sim.Guest.Virtio.GuestMemoryExtensions.AsGuest(kit.Memory))
            kit.Memory.TryWriteUInt16(kit.Layout.UsedIdx, 5);
        kit.Start();
        Assert.Equal(5, kit.Vq.LastUsedIdx);
        Assert.False(kit.Vq.SignalledUsedValid);
    }

    [Fact]
    public void SetVringKick_StartsPoll_ReadableFdQueuesAtOnce_UnbindStops()
    {
        var kit = new VhostKit();
        EventFd2(kit, out var fd2);
        fd2.Signal();
        Assert.Equal(VhostResult.Ok, kit.Dev.SetVringKick(0, fd2));
        Assert.Same(fd2, kit.Vq.Poll.Polling);
        Assert.Equal(0, kit.Kick.ListenerCount);
        Assert.True(kit.Vq.Work!.Queued); // already readable: vhost_poll_start queued the work
        Assert.Equal(VhostResult.Ok, kit.Dev.SetVringKick(0, null));
        Assert.Null(kit.Vq.Poll.Polling);
        Assert.Equal(0, fd2.ListenerCount);
    }

    private static void EventFd2(VhostKit kit, out Sim.Machine.Kvm.EventFd fd) =>
        fd = kit.Sim.CreateEventFd(name: "kick2");

    [Fact]
    public void ResetOwner_ResetsVrings_DropsWorker_EmptyTable()
    {
        var kit = new VhostKit();
        Assert.Equal(VhostResult.Ok, kit.Dev.ResetOwner());
        Assert.False(kit.Dev.HasOwner);
        Assert.Null(kit.Dev.Worker);
        Assert.Empty(kit.Dev.Umem!.Maps);
        Assert.Equal(1u, kit.Vq.Num);
        Assert.Null(kit.Vq.Kick);
        Assert.Null(kit.Vq.Call);
        Assert.False(kit.Vq.HasBackend);
        Assert.Equal(0, kit.Kick.ListenerCount);
        Assert.Equal(VhostResult.Ok, kit.Dev.SetOwner());
    }

    [Fact]
    public void Starter_StopReturnsLastAvail_AndUnbindsKick()
    {
        var kit = new VhostKit();
        kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        kit.Run();
        Span<ushort> last = stackalloc ushort[1];
        Assert.Equal(VhostResult.Ok, VhostBackendStarter.Stop(kit.Demo, last, out VhostStartStep step));
        Assert.Equal(VhostStartStep.None, step);
        Assert.Equal(1, last[0]);
        Assert.Equal(0, kit.Kick.ListenerCount);
    }

    [Fact]
    public void Starter_RingOutsideRam_FailsAtMapRing()
    {
        var kit = new VhostKit(start: false);
        Assert.Equal(VhostResult.Ok, VhostBackendStarter.Init(kit.Demo, out ulong f, out _));
        Assert.Equal(VhostFeatures.Default, f);
        VhostRingStart ring = new(
            16,
            new GuestAddress(8UL << 20),
            kit.Layout.AvailRing,
            kit.Layout.UsedRing,
            0,
            kit.Kick,
            kit.Call
        );
        Assert.Equal(
            VhostResult.Fault,
            VhostBackendStarter.Start(kit.Demo, kit.Features, [ring], out VhostStartStep step)
        );
        Assert.Equal(VhostStartStep.MapRing, step);
    }
}
