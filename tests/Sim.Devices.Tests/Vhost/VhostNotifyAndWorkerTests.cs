using Sim.Devices.Vhost;
using Sim.Devices.Virtio;
using Sim.Engine.Time;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Vhost;

/// <summary>Notification suppression (vhost_enable_notify / vhost_disable_notify / vhost_notify), weights and the
/// worker's queueing.</summary>
public sealed class VhostNotifyAndWorkerTests
{
    [Fact]
    public void DisableNotify_SetsUsedNoNotify_GuestSkipsKick()
    {
        var kit = new VhostKit();
        kit.Vq.DisableNotify();
        kit.Memory.TryReadUInt16(kit.Layout.UsedRing, out ushort flags);
        Assert.Equal(VirtioSpec.UsedFNoNotify, flags);
        kit.AddRequest(0, 0);
        using (kit.Memory.AsGuest())
            Assert.False(kit.Driver.NeedsNotify(kit.Memory));
    }

    [Fact]
    public void EnableNotify_ReCheck_ReportsBuffersPublishedWhileDisabled()
    {
        var kit = new VhostKit();
        kit.Vq.DisableNotify();
        Assert.Equal(16, kit.Vq.GetVqDesc(out _, out _)); // empty
        kit.AddRequest(0, 0); // the guest publishes in the window
        Assert.True(kit.Vq.EnableNotify()); // the re-check sees it
        kit.Memory.TryReadUInt16(kit.Layout.UsedRing, out ushort flags);
        Assert.Equal(0, flags);
        kit.Vq.DisableNotify();
        Assert.Equal(0, kit.Vq.GetVqDesc(out _, out _));
        Assert.False(kit.Vq.EnableNotify()); // nothing more
        Assert.False(kit.Vq.EnableNotify()); // already enabled: false without a re-check
    }

    [Fact]
    public void EnableNotify_EventIdx_WritesAvailEvent_NotFlags()
    {
        var kit = new VhostKit(eventIdx: true);
        var (h0, _) = kit.AddRequest(0, 0);
        var (h1, _) = kit.AddRequest(0, 0);
        kit.Vq.DisableNotify();
        kit.Memory.TryReadUInt16(kit.Layout.UsedRing, out ushort flags);
        Assert.Equal(0, flags); // with EVENT_IDX, disabling writes nothing
        Assert.Equal(h0, kit.Vq.GetVqDesc(out _, out _));
        Assert.Equal(h1, kit.Vq.GetVqDesc(out _, out _));
        Assert.False(kit.Vq.EnableNotify());
        kit.Memory.TryReadUInt16(kit.Layout.AvailEvent, out ushort availEvent);
        Assert.Equal(2, availEvent);
    }

    [Fact]
    public void Signal_NoInterruptFlag_SuppressesCall_WithoutEventIdx()
    {
        var kit = new VhostKit();
        using (kit.Memory.AsGuest())
            kit.Driver.DisableCallbacks(kit.Memory);
        kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        kit.Run();
        Assert.Equal(1, kit.UsedIdx());
        Assert.Equal(0, kit.Vq.CallSignals);
        Assert.Equal(0, kit.Sim.Counters.InterruptsInjected);
    }

    [Fact]
    public void Signal_EventIdx_FirstAlways_ThenOnlyWhenUsedEventCrossed()
    {
        var kit = new VhostKit(eventIdx: true);
        Assert.False(kit.Vq.SignalledUsedValid);
        // used_event = 0 (the ring is zeroed): the first completion moves used idx 0 → 1 and crosses it.
        kit.Vq.AddUsedAndSignal(0, 0);
        Assert.Equal(1, kit.Vq.CallSignals); // signalled_used_valid was false: signal unconditionally
        kit.Vq.AddUsedAndSignal(1, 0); // 1 → 2 does not cross used_event 0
        Assert.Equal(1, kit.Vq.CallSignals);
        using (kit.Memory.AsGuest())
            kit.Memory.TryWriteUInt16(kit.Layout.UsedEvent, 2);
        kit.Vq.AddUsedAndSignal(2, 0); // 2 → 3 crosses 2
        Assert.Equal(2, kit.Vq.CallSignals);
    }

    /// <summary>Linux vhost_add_used: each entry goes at last_used_idx modulo the ring size (VIRTIO 1.2 §2.7.8),
    /// so the fourth entry of a 4-entry ring lands in slot 3 and the fifth wraps to slot 0; used-&gt;idx counts
    /// on.</summary>
    [Fact]
    public void AddUsed_PastTheLastSlot_WrapsToSlotZero()
    {
        var kit = new VhostKit(queueSize: 4);
        VhostKit.Check(kit.Demo.SetRunning(false));
        VhostKit.Check(kit.Dev.SetVringBase(0, 0));
        VhostKit.Check(kit.Demo.SetRunning(true));
        for (uint head = 0; head < 3; head++)
            Assert.Equal(0, kit.Vq.AddUsed(head, 1));
        Assert.Equal(0, kit.Vq.AddUsed(3, 7));
        Assert.Equal(0, kit.Vq.AddUsed(0, 9));
        Assert.Equal(5, kit.UsedIdx());
        Assert.Equal(5, kit.Vq.LastUsedIdx);
        Assert.Equal((3u, 7u), kit.UsedEntry(3));
        Assert.Equal((0u, 9u), kit.UsedEntry(0));
    }

    [Fact]
    public void Worker_TwoKicksBeforeItRuns_OneWork()
    {
        var kit = new VhostKit();
        kit.AddRequest(0, 0);
        kit.Kick.Signal();
        kit.AddRequest(1, 5);
        kit.Kick.Signal();
        Assert.Equal(1, kit.Dev.Worker!.Pending);
        Assert.Equal(1, kit.Vq.Work!.Coalesced);
        kit.Run();
        Assert.Equal(1, kit.Dev.Worker.HandlerRuns);
        Assert.Equal(1, kit.Dev.Worker.Wakeups);
        Assert.Equal(2, kit.Reap().Count);
    }

    [Fact]
    public void Worker_WakesAfterWorkerWakeupLatency()
    {
        var kit = new VhostKit();
        kit.AddRequest(0, 0);
        long t0 = kit.Sim.Now;
        kit.Kick.Signal();
        kit.Run();
        var sw = kit.Sink.Events.First(e => e.Kind == Sim.Engine.Trace.TraceEventKind.ContextSwitch);
        Assert.Equal(t0 + kit.Sim.Kvm.Latency.WorkerWakeupNs, sw.Time);
        Assert.Equal(7u, sw.Source);
    }

    [Fact]
    public void Weight_PacketWeight_StopsAndRequeues()
    {
        var kit = new VhostKit(options: new VhostOptions { PacketWeight = 2 });
        for (int k = 0; k < 5; k++)
            kit.AddRequest(1, (uint)k);
        kit.KickIfNeeded();
        Assert.Equal(StopReason.Idle, kit.Run());
        Assert.Equal(5, kit.Reap().Count);
        VhostWorker w = kit.Dev.Worker!;
        Assert.Equal(3, w.HandlerRuns); // 2 + 2 + 1
        Assert.Equal(2, w.SelfRequeues); // requeued by vhost_exceeds_weight, with progress
        Assert.Equal(0, w.IdleSelfRequeues);
        Assert.Equal(1, w.Wakeups); // the requeued work runs without sleeping
    }

    [Fact]
    public void Weight_ByteWeight_StopsAndRequeues()
    {
        var kit = new VhostKit(options: new VhostOptions { ByteWeight = 32 });
        for (int k = 0; k < 5; k++)
            kit.AddRequest(1, (uint)k); // 16 bytes each
        kit.KickIfNeeded();
        kit.Run();
        Assert.Equal(5, kit.Reap().Count);
        Assert.Equal(3, kit.Dev.Worker!.HandlerRuns);
    }

    [Fact]
    public void Worker_NoOwner_QueueDropped()
    {
        var kit = new VhostKit(start: false);
        kit.Vq.PollQueue();
        Assert.Null(kit.Dev.Worker);
        Assert.Equal(StopReason.Idle, kit.Run());
    }

    [Fact]
    public void Seed_UsedRingOverlappingAvailRing_IterationBoundStopsTheSoftLockup()
    {
        // The guest points the used ring at the available ring: every used-idx write bumps avail idx, so the seed's
        // loop (pkts 0, zero-length buffers keep total_len 0) never runs dry. Linux would spin; the model bounds it.
        var kit = new VhostKit(
            Flavour.Seed,
            queueSize: 4,
            options: new VhostOptions { HandlerIterationsMax = 200, HandlerRunsMax = 3 },
            start: false
        );
        kit.WriteDesc(0, 0x10000, 0, 0, 0);
        using (kit.Memory.AsGuest())
        {
            for (int s = 0; s < 4; s++)
                kit.Memory.TryWriteUInt16(kit.Layout.AvailEntry(s), 0);
        }
        // avail idx 1 before the start: vhost_vq_init_access reads it as used->idx, so last_used_idx stays one
        // ahead of last_avail_idx and each completion publishes one more "available" head.
        kit.PublishRaw(0);
        Assert.Equal(VhostResult.Ok, VhostBackendStarter.Init(kit.Demo, out _, out _));
        VhostRingStart ring = new(
            4,
            kit.Layout.DescTable,
            kit.Layout.AvailRing,
            kit.Layout.AvailRing,
            0,
            kit.Kick,
            kit.Call
        );
        Assert.Equal(VhostResult.Ok, VhostBackendStarter.Start(kit.Demo, kit.Features, [ring], out _));
        Assert.Equal(1, kit.Vq.LastUsedIdx);
        kit.Kick.Signal();
        Assert.Equal(StopReason.Idle, kit.Run());
        Assert.Equal(3, kit.Demo.IterationBoundHits);
        Assert.True(kit.Demo.Requests >= 3 * 190);
    }
}
