using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Transport;

/// <summary>The vhost-core oracles fire on deliberately wrong results (a device that would answer as these fakes do
/// is caught), and the target's seeds run clean.</summary>
public sealed class VhostCoreOracleTests
{
    private const ulong Offered = VhostFeatures.Default;

    private static (VhostIoctlModel Model, VmmAddressSpace Vmm, FuzzContext Context) Make()
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x8000);
        var vmm = new VmmAddressSpace(memory);
        var context = new FuzzContext();
        return (new VhostIoctlModel(vmm, 1, Offered, 4) { Context = context }, vmm, context);
    }

    [Fact]
    public void Linux_BackendDetach_ChecksTheRingsLikeAnAttach()
    {
        // drivers/vhost/net.c vhost_net_set_backend: vhost_vq_access_ok before get_socket(fd), fd -1 included.
        (VhostIoctlModel m, _, FuzzContext c) = Make();
        m.Stop(0, VhostResult.NotPermitted);
        m.SetOwner(VhostResult.Ok);
        m.Stop(0, VhostResult.Fault); // owner, but no memory table yet
        Assert.Null(c.Finding);
        m.Stop(0, VhostResult.Ok);
        Assert.Equal("errno/set-backend-stop", c.Finding?.Site);
    }

    [Fact]
    public void Linux_SetOwnerTwice_IsEbusy_AnOkIsCaught()
    {
        (VhostIoctlModel m, _, FuzzContext c) = Make();
        m.SetOwner(VhostResult.Ok);
        m.SetOwner(VhostResult.Busy);
        Assert.Null(c.Finding);
        m.SetOwner(VhostResult.Ok);
        Assert.Equal("errno/set-owner", c.Finding?.Site);
    }

    [Fact]
    public void Linux_VringIoctlsWithoutOwner_AreEperm_BeforeTheIndexCheck()
    {
        (VhostIoctlModel m, _, FuzzContext c) = Make();
        m.SetVringNum(7, 3, VhostResult.NotPermitted);
        Assert.Null(c.Finding);
        m.SetVringNum(7, 3, VhostResult.NoBuffers);
        Assert.Equal("errno/set-vring-num", c.Finding?.Site);
    }

    [Theory]
    [InlineData(0x1000UL, 0UL, VhostResult.Fault)] // empty region away from GPA 0
    [InlineData(0UL, 0UL, VhostResult.Ok)] // the whole space: Linux splits it
    [InlineData(ulong.MaxValue - 0xFFF, 0x2000UL, VhostResult.Fault)] // wraps past 2^64
    [InlineData(0UL, 1UL << 40, VhostResult.Ok)] // huge but not wrapping
    public void Linux_SetMemTable_RegionRules(ulong gpa, ulong size, VhostResult linux)
    {
        (VhostIoctlModel m, VmmAddressSpace vmm, FuzzContext c) = Make();
        m.SetOwner(VhostResult.Ok);
        VhostMemoryRegion[] table = [new(gpa, size, vmm.RegionUserAddress(0))];
        m.SetMemTable(table, 0, linux);
        Assert.Null(c.Finding);
        m.SetMemTable(table, 0, linux == VhostResult.Ok ? VhostResult.Fault : VhostResult.Ok);
        Assert.Equal("errno/set-mem-table", c.Finding?.Site);
    }

    [Fact]
    public void Linux_TooManyRegionsAndPadding()
    {
        (VhostIoctlModel m, VmmAddressSpace vmm, FuzzContext c) = Make();
        m.SetOwner(VhostResult.Ok);
        var five = Enumerable.Repeat(new VhostMemoryRegion(0, 0x1000, vmm.RegionUserAddress(0)), 5).ToArray();
        m.SetMemTable(five, 0, VhostResult.TooBig);
        m.SetMemTable(five.AsSpan(0, 1), 1, VhostResult.NotSupported);
        Assert.Null(c.Finding);
        m.SetMemTable(five.AsSpan(0, 1), 1, VhostResult.Ok);
        Assert.NotNull(c.Finding);
    }

    [Fact]
    public void Linux_GetVringBase_ReturnsWhatWasSet_UntilTheWorkerRuns()
    {
        (VhostIoctlModel m, _, FuzzContext c) = Make();
        m.SetOwner(VhostResult.Ok);
        m.SetVringBase(0, 9, VhostResult.Ok);
        m.GetVringBase(0, VhostResult.Ok, 9);
        m.WorkerMayHaveRun();
        m.GetVringBase(0, VhostResult.Ok, 12);
        Assert.Null(c.Finding);
        m.SetVringBase(0, 3, VhostResult.Ok);
        m.GetVringBase(0, VhostResult.Ok, 4);
        Assert.Equal("errno/get-vring-base-value", c.Finding?.Site);
    }

    [Fact]
    public void Linux_BackendStart_NeedsATableAndMappedRings()
    {
        (VhostIoctlModel m, VmmAddressSpace vmm, FuzzContext c) = Make();
        m.SetOwner(VhostResult.Ok);
        m.Start(0, VhostResult.Fault); // no memory table
        m.SetMemTable([new(0, 0x8000, vmm.RegionUserAddress(0))], 0, VhostResult.Ok);
        ulong u = vmm.RegionUserAddress(0);
        m.SetVringAddr(0, new VhostVringAddr(u, u + 0x100, u + 0x200), VhostResult.Ok);
        m.Start(0, VhostResult.Ok);
        m.SetVringNum(0, 4, VhostResult.Busy);
        Assert.Null(c.Finding);
        m.SetVringBase(0, 1, VhostResult.Ok);
        Assert.Equal("errno/set-vring-base", c.Finding?.Site);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Linux_BackendStart_AvailRingEndingAtTheUserLimit_Starts(bool eventIdx)
    {
        // vq_access_ok: access_ok(avail, vhost_get_avail_size) with 4 + 2 * num bytes, + 2 with EVENT_IDX (VIRTIO 1.2
        // §2.7.6). A ring that ends exactly at the limit passes; an EFAULT there (a size one byte too large) is caught.
        (VhostIoctlModel m, VmmAddressSpace vmm, FuzzContext c) = Make();
        m.SetOwner(VhostResult.Ok);
        m.SetFeatures(eventIdx ? 1UL << Sim.Spec.Virtio.VirtioSpec.FEventIdx : 0, VhostResult.Ok);
        m.SetMemTable([new(0, 0x8000, vmm.RegionUserAddress(0))], 0, VhostResult.Ok);
        ulong u = vmm.RegionUserAddress(0);
        ulong avail = VhostLimits.UserAddressLimit - (eventIdx ? 8UL : 6UL); // num 1
        m.SetVringAddr(0, new VhostVringAddr(u, avail, u + 0x200), VhostResult.Ok);
        m.Start(0, VhostResult.Ok);
        Assert.Null(c.Finding);
        m.Stop(0, VhostResult.Ok);
        m.SetVringAddr(0, new VhostVringAddr(u, avail + 2, u + 0x200), VhostResult.Ok);
        m.Start(0, VhostResult.Fault); // two bytes past the limit
        Assert.Null(c.Finding);
        m.SetVringAddr(0, new VhostVringAddr(u, avail, u + 0x200), VhostResult.Ok);
        m.Start(0, VhostResult.Fault);
        Assert.Equal("errno/set-backend", c.Finding?.Site);
    }

    [Fact]
    public void Permission_DeviceAccessOutsideTheTableAndRings_IsCaught()
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x8000);
        var vmm = new VmmAddressSpace(memory);
        var context = new FuzzContext();
        var m = new VhostIoctlModel(vmm, 1, Offered, 4) { Context = context };
        var checker = new VhostAccessChecker(vmm, m) { Context = context };
        memory.Observer = checker;
        m.SetOwner(VhostResult.Ok);
        // GPA 0.. lives at 0x4000..
        m.SetMemTable([new(0, 0x1000, vmm.RegionUserAddress(0) + 0x4000)], 0, VhostResult.Ok);
        memory.TryReadUInt32(new GuestAddress(0x4010), out _);
        using (memory.As(MemoryActor.Guest))
            memory.TryReadUInt32(new GuestAddress(0x10), out _);
        Assert.Null(context.Finding);
        memory.TryReadUInt32(new GuestAddress(0x10), out _); // GPA 0x10 itself is not where the table points
        Assert.Equal("permission/vhost-outside-table", context.Finding?.Site);
    }

    [Fact]
    public void Target_RunsItsSeedsClean()
    {
        var target = new VhostCoreTarget();
        foreach (byte[] seed in target.SeedCorpus())
        {
            var context = new FuzzContext();
            target.Execute(seed, context);
            Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        }
    }

    /// <summary>Seed 11 completes three requests of one kick with EVENT_IDX and NOTIFY_ON_EMPTY acked and used_event 0:
    /// vhost signals the first (signalled_used not valid after the start) and the last (ring empty), which the signal
    /// oracle accepts (Linux drivers/vhost/vhost.c vhost_notify).</summary>
    [Fact]
    public void Target_SignalSeed_SignalsTheFirstAndTheLastCompletion()
    {
        byte[] seed = new VhostCoreTarget().SeedCorpus().ToArray()[^2];
        var target = new VhostCoreTarget { LongTablePeriod = 0 };
        var context = new FuzzContext();
        target.Execute(seed, context);
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        VhostVirtqueue vq = target.LastDevice.Vqs[0];
        Assert.Equal(3, vq.LastUsedIdx);
        Assert.Equal(2, vq.CallSignals);
    }

    /// <summary>Regression (vhost-core seed 3's campaign): with NOTIFY_ON_EMPTY acked, the first completion signals
    /// because the ring is empty, which returns from Linux vhost_notify before signalled_used is touched, so the next
    /// completion (ring not empty) signals because signalled_used is still invalid since the start. The signal oracle
    /// must neither judge the first signal nor count it as the previous one.</summary>
    [Fact]
    public void Target_SignalAfterANotifyOnEmptySignal_IsNotJudged_LinuxVhostNotify()
    {
        byte[] input = Convert.FromHexString(
            "0003000000000000ff0000000000000000000000000000000000000000000000000000000000000000060000000000000000"
                + "0000000000000000000000050001000000000000000000000000000000000009000000000000000000000000000000000000"
                + "000a0000000000000000000000000000000000000004000000000000000000000000000000000000000c0100000000000000"
                + "00000000000000000000000f030000000000000000000000000000000000000d000000000000000000000000000000000000"
                + "000e000000000000000000000000000000000000000f030000000000000000000000000000000000000f0300000000000000"
                + "00000000000000000000000d000000000000000000000000000000000000000e"
        );
        var target = new VhostCoreTarget { LongTablePeriod = 0 };
        var context = new FuzzContext();
        target.Execute(input, context);
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        Assert.Equal(3, target.LastDevice.Vqs[0].CallSignals);
    }

    /// <summary>Seed 10's indirect table straddles the two memory-table regions: get_indirect reads its descriptor
    /// across the table's two iovecs (Linux drivers/vhost/vhost.c get_indirect, copy_from_iter) and the chain pops
    /// with no vq_err; every oracle stays quiet.</summary>
    [Fact]
    public void Target_StraddlingTableSeed_ReadsTheDescriptorAcrossTwoIovecs()
    {
        byte[] seed = new VhostCoreTarget().SeedCorpus().ToArray()[^3];
        var target = new VhostCoreTarget { LongTablePeriod = 0 };
        var context = new FuzzContext();
        target.Execute(seed, context);
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        VhostVirtqueue vq = target.LastDevice.Vqs[0];
        Assert.Equal(1, vq.LastAvailIdx);
        Assert.Equal(0, vq.VqErrors);
    }

    /// <summary>Seed 9 switches a running vring's kick to the call eventfd, unbinds it and binds the kick again (Linux
    /// vhost_vring_ioctl VHOST_SET_VRING_KICK at each step): the control-plane oracle and every other stay quiet, and
    /// the
    /// request kicked after the rebind is served.</summary>
    [Fact]
    public void Target_KickSwitchSeed_RunsClean_AndServesTheRequestAfterTheRebind()
    {
        byte[][] seeds = new VhostCoreTarget().SeedCorpus().ToArray();
        byte[] seed = seeds[^4];
        var target = new VhostCoreTarget { LongTablePeriod = 0 };
        var context = new FuzzContext();
        target.Execute(seed, context);
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        VhostVirtqueue vq = target.LastDevice.Vqs[0];
        Assert.Equal(2, vq.LastUsedIdx);
        Assert.Equal(0, vq.VqErrors);
    }

    /// <summary>Seed 8 pops a long indirect table needing exactly UIO_MAXIOV (1,024) iovecs and completes it, then one
    /// needing 1,025, which vq_errs "Translation failure" (ENOBUFS, Linux translate_desc in get_indirect); without long
    /// tables neither chain is long.</summary>
    [Fact]
    public void Target_IovecBoundSeed_Pops1024Iovecs_AndFails1025WithEnobufs()
    {
        byte[] seed = new VhostCoreTarget().SeedCorpus().Last();
        Assert.True(VhostCoreTarget.LongTablesByDefault(seed));
        var target = new VhostCoreTarget();
        var context = new FuzzContext();
        target.Execute(seed, context);
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        VhostVirtqueue vq = target.LastDevice.Vqs[0];
        Assert.Equal(1, vq.LastUsedIdx);
        // get_indirect's "Translation failure" (ENOBUFS), then vhost_get_vq_desc's "Failure indirect descriptor".
        Assert.Equal(2, vq.VqErrors);
        Assert.Equal(VqErrorCode.IndirectFailure, vq.LastError);

        var plain = new VhostCoreTarget { LongTablePeriod = 0 };
        plain.Execute(seed, new FuzzContext());
        Assert.Equal(0, plain.LastDevice.Vqs[0].VqErrors);
    }
}
