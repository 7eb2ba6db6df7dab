using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// The vhost chain oracle (<see cref="VhostChainOracle"/>, <see cref="VhostChainReference"/>): the real
/// <see cref="VhostVirtqueue"/> pops hand-made chains and the Linux walk agrees (clean), each rule of
/// vhost_get_vq_desc / get_indirect named by the test; a wrong answer for the same chain (another result, a rejected
/// valid chain, one read too many) fires its site. Also the control-plane checks after a start and a reset.
/// </summary>
public sealed class VhostChainOracleTests
{
    private const int Size = 8;

    private static (VhostBackendRig Rig, ulong Desc, GuestActor Guest) Started(bool eventIdx = false)
    {
        Simulation sim = RingSimulation.Create(VhostBackendRig.EventsMax);
        var rig = new VhostBackendRig(sim, Flavour.Robust);
        (ulong desc, ulong avail, ulong used) = RingInput.Place(0, Size, 0);
        Assert.True(rig.Start(Size, desc, avail, used, 0, eventIdx));
        var guest = new GuestActor();
        guest.Reset(sim.Memory, desc, avail, Size);
        return (rig, desc, guest);
    }

    private static void Desc(GuestMemory m, ulong at, ulong addr, uint len, ushort flags, ushort next)
    {
        Assert.True(m.TryWriteUInt64(new GuestAddress(at), addr));
        Assert.True(m.TryWriteUInt32(new GuestAddress(at + 8), len));
        Assert.True(m.TryWriteUInt16(new GuestAddress(at + 12), flags));
        Assert.True(m.TryWriteUInt16(new GuestAddress(at + 14), next));
    }

    private static int Pop(VhostBackendRig rig)
    {
        using (rig.Simulation.Memory.As(MemoryActor.Device))
            return rig.Vq.GetVqDesc(out _, out _);
    }

    [Fact]
    public void ChainOfExactlyNumDescriptors_AcrossTheRegionBoundary_IsAcceptedAndAgreed()
    {
        (VhostBackendRig rig, ulong desc, GuestActor guest) = Started();
        GuestMemory m = rig.Simulation.Memory;
        for (int i = 0; i < Size; i++)
        {
            ushort flags = (ushort)(i < Size - 1 ? 1 : 0);
            Desc(m, desc + (16UL * (ulong)i), RingInput.RegionSize - 8, 16, flags, (ushort)(i + 1));
        }
        guest.Publish(0);
        Assert.Equal(0, Pop(rig));
        Assert.Equal(1, rig.Chain.Judged);
        Assert.Equal(0, rig.Chain.Violations);
        Assert.Equal(Size, Pop(rig)); // nothing more: returns num
        Assert.Equal(0, rig.Chain.Violations);
    }

    [Fact]
    public void Loop_IsLoopDetectedAfterNumReads_AndAgreed()
    {
        (VhostBackendRig rig, ulong desc, GuestActor guest) = Started();
        Desc(rig.Simulation.Memory, desc, RingInput.BufferBase, 8, 1, 0);
        guest.Publish(0);
        Assert.True(Pop(rig) < 0);
        Assert.Equal(VqErrorCode.LoopDetected, rig.Vq.LastError);
        Assert.Equal(0, rig.Chain.Violations);
    }

    [Fact]
    public void IndirectTables_ValidAndRunningPastTheirEnd_AreAgreed()
    {
        (VhostBackendRig rig, ulong desc, GuestActor guest) = Started();
        GuestMemory m = rig.Simulation.Memory;
        ulong table = RingInput.IndirectTable(0);
        Desc(m, table, RingInput.BufferBase, 8, 1, 1);
        Desc(m, table + 16, RingInput.BufferBase + 64, 8, 2, 0);
        Desc(m, desc, table, 32, 4, 0);
        guest.Publish(0);
        Assert.Equal(0, Pop(rig));
        // The same table with NEXT on its last entry: get_indirect's ++found > count.
        Desc(m, table + 16, RingInput.BufferBase + 64, 8, 3, 0);
        guest.Publish(0);
        Assert.True(Pop(rig) < 0);
        Assert.Equal(VqErrorCode.IndirectFailure, rig.Vq.LastError);
        Assert.Equal(2, rig.Chain.Judged);
        Assert.Equal(0, rig.Chain.Violations);
    }

    [Fact]
    public void HeadOutOfRange_IsMetAgainOnTheNextPop_AndAgreed()
    {
        (VhostBackendRig rig, _, GuestActor guest) = Started();
        guest.Publish(Size);
        guest.Publish(0);
        Assert.True(Pop(rig) < 0);
        Assert.Equal(VqErrorCode.HeadOutOfRange, rig.Vq.LastError);
        // vhost never advances past a bad head: the cached avail idx is used and the same slot read again.
        Assert.True(Pop(rig) < 0);
        Assert.Equal(0, rig.Chain.Violations);
        Assert.Equal(2, rig.Chain.Judged);
    }

    [Fact]
    public void ValidChainReportedAsRejected_Fires()
    {
        (VhostBackendRig rig, ulong desc, GuestActor guest) = Started();
        Desc(rig.Simulation.Memory, desc, RingInput.BufferBase, 8, 0, 0);
        guest.Publish(0);
        var observer = (IVhostPopObserver)rig.Chain;
        observer.BeforePop(rig.Vq);
        observer.AfterPop(rig.Vq, -(int)VhostResult.Invalid, 0, 0);
        Assert.Equal("vhost-chain/valid-chain-rejected", rig.Chain.LastSite);
    }

    [Fact]
    public void OneReadMoreThanTheRule_Fires()
    {
        (VhostBackendRig rig, _, _) = Started();
        var observer = (IVhostPopObserver)rig.Chain;
        GuestMemory m = rig.Simulation.Memory;
        observer.BeforePop(rig.Vq);
        Span<byte> extra = stackalloc byte[16];
        using (m.As(MemoryActor.Device))
        {
            Assert.True(m.TryRead(new GuestAddress(0), extra));
            Assert.True(m.TryRead(new GuestAddress(RingInput.Place(0, Size, 0).Avail + 2), extra[..2]));
        }
        observer.AfterPop(rig.Vq, Size, 0, 0);
        Assert.Equal("vhost-chain/descriptor-reads-differ", rig.Chain.LastSite);
    }

    /// <summary>Issue 12 (a vq_err outside a pop): the used ring moved to a VMM address nothing maps, without
    /// EVENT_IDX. vhost_disable_notify's used->flags write faults and the real vring raises vq_err, as does
    /// vhost_enable_notify's, and the oracle agrees; a notification change that faults without the vq_err (the
    /// surviving mutant: DisableNotify's vq_err removed) fires vhost-notify/vq-err-differs.</summary>
    [Fact]
    public void NotifyChange_FaultingUsedFlagsWrite_IsAVqErr_AndAMissingOneFires()
    {
        (VhostBackendRig rig, _, _) = Started();
        VhostVirtqueue vq = rig.Vq;
        VhostDevice dev = rig.Demo.Device;
        ulong unmapped = dev.Vmm.HostBase + (8 * VmmAddressSpace.RegionStride);
        Assert.Equal(VhostResult.Ok, dev.SetVringAddr(0, new VhostVringAddr(vq.Desc, vq.Avail, unmapped)));
        long errors = vq.VqErrors;
        using (rig.Simulation.Memory.As(MemoryActor.Device))
        {
            vq.DisableNotify();
            Assert.Equal(errors + 1, vq.VqErrors);
            Assert.Equal(VqErrorCode.UsedFlagsWrite, vq.LastError);
            Assert.False(vq.EnableNotify());
            Assert.Equal(errors + 2, vq.VqErrors);
        }
        Assert.Equal(0, rig.Chain.Violations);
        // NO_NOTIFY set again, then a disable whose faulting write raises nothing.
        using (rig.Simulation.Memory.As(MemoryActor.Device))
            vq.DisableNotify();
        Assert.Equal(0, rig.Chain.Violations);
        var observer = (IVhostPopObserver)rig.Chain;
        observer.BeforeEnableNotify(vq);
        observer.AfterNotifyChange(vq);
        Assert.Equal("vhost-notify/vq-err-differs", rig.Chain.LastSite);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NotifyChange_StoresTheFieldLinuxStores_AndAStoreSkippedOrMisplacedFires(bool eventIdx)
    {
        // VIRTIO 1.2 §2.7.10 / Linux vhost_disable_notify, vhost_enable_notify: without EVENT_IDX both store
        // used->flags (NO_NOTIFY set, then cleared); with it, disabling stores nothing and enabling stores
        // avail_event = the cached avail idx.
        (VhostBackendRig rig, _, _) = Started(eventIdx);
        VhostVirtqueue vq = rig.Vq;
        VhostDevice dev = rig.Demo.Device;
        GuestMemory m = rig.Simulation.Memory;
        (_, _, ulong used) = RingInput.Place(0, Size, 0);
        var availEvent = new GuestAddress(used + 4 + (8UL * Size));
        Assert.True(m.TryWriteUInt16(availEvent, 0xBEEF));
        using (m.As(MemoryActor.Device))
        {
            vq.DisableNotify();
            Assert.False(vq.EnableNotify());
        }
        Assert.Equal(0, rig.Chain.Violations);
        Assert.True(m.TryReadUInt16(availEvent, out ushort stored));
        Assert.Equal(eventIdx ? vq.AvailIdx : (ushort)0xBEEF, stored);

        // An enable that stores nothing (the store skipped) fires.
        using (m.As(MemoryActor.Device))
            vq.DisableNotify();
        var observer = (IVhostPopObserver)rig.Chain;
        observer.BeforeEnableNotify(vq);
        observer.AfterNotifyChange(vq);
        Assert.Equal("vhost-notify/store-differs", rig.Chain.LastSite);

        // A disable with EVENT_IDX that stores used->flags anyway (the feature test turned around) fires too.
        if (eventIdx)
        {
            int before = rig.Chain.Violations;
            using (m.As(MemoryActor.Device))
            {
                Assert.False(vq.EnableNotify());
                observer.BeforeDisableNotify(vq);
                Assert.True(dev.Vmm.TryWriteUInt16(vq.Used, 1));
                observer.AfterNotifyChange(vq);
            }
            Assert.Equal(before + 1, rig.Chain.Violations);
        }
    }

    [Fact]
    public void ControlPlane_StartAndResetOwner_LeaveLinuxState()
    {
        (VhostBackendRig rig, ulong desc, _) = Started();
        VhostDevice dev = rig.Demo.Device;
        (_, ulong avail, ulong used) = RingInput.Place(0, Size, 0);
        var ring = new VhostRingStart(
            Size,
            new GuestAddress(desc),
            new GuestAddress(avail),
            new GuestAddress(used),
            0,
            rig.Kick,
            rig.Call
        );
        Assert.Null(VhostControlPlaneOracle.AfterStart(dev, 1UL << 32, ring));
        Assert.NotNull(VhostControlPlaneOracle.AfterStart(dev, 1UL << 33, ring));
        Assert.NotNull(VhostControlPlaneOracle.AfterResetOwner(dev, dev.Worker));
        VhostWorker? worker = dev.Worker;
        Assert.Equal(VhostResult.Ok, dev.ResetOwner());
        Assert.Null(VhostControlPlaneOracle.AfterResetOwner(dev, worker));
    }

    /// <summary>Linux drivers/vhost/vhost.c vhost_notify with EVENT_IDX: once signalled_used is valid, a signal needs
    /// used_event inside the entries added since the previous decision (vring_need_event); a second signal with
    /// nothing added and used_event 0 is one Linux never sends. After <c>Forget</c> (a control-plane ioctl) the next
    /// signal is not judged.</summary>
    [Fact]
    public void SignalOracle_SecondSignalWithNothingAdded_Fires_LinuxVhostNotify()
    {
        (VhostBackendRig rig, _, _) = Started(eventIdx: true);
        var context = new FuzzContext();
        var oracle = new VhostSignalOracle(rig.Vq, rig.Demo.Device.Vmm) { Context = context };
        oracle.OnSignalled(rig.Call);
        Assert.Null(context.Finding);
        oracle.Forget();
        oracle.OnSignalled(rig.Call);
        Assert.Null(context.Finding);
        oracle.OnSignalled(rig.Call);
        Assert.Equal("vhost-notify/signal-not-needed", context.Finding?.Site);
    }

    /// <summary>Linux drivers/vhost/vhost.c vhost_vring_ioctl, VHOST_SET_VRING_KICK: a new eventfd stops the poll of
    /// the old one (vhost_poll_stop) and starts one on the new (vhost_poll_start); VHOST_FILE_UNBIND only stops. The
    /// control-plane oracle accepts what the device does and names a kick that is not the one set.</summary>
    [Fact]
    public void ControlPlane_SetVringKick_PollsExactlyTheNewEventfd_LinuxVhostVringIoctl()
    {
        (VhostBackendRig rig, _, _) = Started();
        VhostDevice dev = rig.Demo.Device;
        VhostVirtqueue vq = rig.Vq;
        Assert.Same(rig.Kick, vq.Poll.Polling);

        Assert.Equal(VhostResult.Ok, dev.SetVringKick(0, rig.Call));
        Assert.Same(rig.Call, vq.Poll.Polling);
        Assert.Null(VhostControlPlaneOracle.AfterSetVringKick(dev, 0, rig.Call));
        long wakeups = vq.Poll.Wakeups;
        rig.Kick.Signal();
        Assert.Equal(wakeups, vq.Poll.Wakeups);
        rig.Call.Signal();
        Assert.Equal(wakeups + 1, vq.Poll.Wakeups);
        Assert.NotNull(VhostControlPlaneOracle.AfterSetVringKick(dev, 0, rig.Kick));

        Assert.Equal(VhostResult.Ok, dev.SetVringKick(0, null));
        Assert.Null(vq.Poll.Polling);
        Assert.Null(VhostControlPlaneOracle.AfterSetVringKick(dev, 0, null));
        Assert.Equal(VhostResult.Ok, dev.SetVringKick(0, rig.Kick));
        Assert.Same(rig.Kick, vq.Poll.Polling);
        Assert.Null(VhostControlPlaneOracle.AfterSetVringKick(dev, 0, rig.Kick));
    }
}
