using Sim.Devices.Vhost;
using Sim.Engine.Time;
using Sim.Engine.Trace;
using Xunit;

namespace Sim.Devices.Tests.Vhost;

public sealed class VhostDemoTests
{
    [Fact]
    public void Robust_EndToEnd_KickEventFd_CallEventFd_IrqFd_Interrupt()
    {
        var kit = new VhostKit(Flavour.Robust);
        var (h1, r1) = kit.AddRequest(0, 0); // read: initial 0x1333
        var (h2, r2) = kit.AddRequest(1, 0x2333); // write
        var (h3, r3) = kit.AddRequest(0, 0); // read back
        kit.KickIfNeeded();
        Assert.Equal(StopReason.Idle, kit.Run());

        var used = kit.Reap();
        Assert.Equal([(h1, 8u), (h2, 8u), (h3, 8u)], used);
        Assert.Equal((0u, 0x1333u), kit.ReadResponse(r1));
        Assert.Equal((1u, 0x2333u), kit.ReadResponse(r2));
        Assert.Equal((0u, 0x2333u), kit.ReadResponse(r3));
        Assert.Equal(0x2333u, kit.Demo.Buff);
        // Completions reached the guest: call eventfd → irqfd → GSI injected.
        Assert.True(kit.Vq.CallSignals >= 1);
        Assert.True(kit.Sim.Counters.InterruptsInjected >= 1);
        Assert.True(kit.Sim.Kvm.Irqchip.IsPending(VhostKit.Gsi));
        Assert.Contains(kit.Sink.Events, e => e.Kind == TraceEventKind.IrqInject && e.Address == VhostKit.Gsi);
        // One wake-up of the worker, one context switch, one handler run; no self-requeue.
        Assert.Equal(1, kit.Dev.Worker!.Wakeups);
        Assert.Equal(1, kit.Sim.Counters.ContextSwitches);
        Assert.Equal(1, kit.Dev.Worker.HandlerRuns);
        Assert.Equal(0, kit.Dev.Worker.SelfRequeues);
        Assert.True(kit.Dev.Worker.Sleeping);
    }

    [Fact]
    public void Robust_OtherOpt_EchoesRequestBuff_StateUnchanged()
    {
        var kit = new VhostKit(Flavour.Robust);
        var (_, r) = kit.AddRequest(7, 0xABCD);
        kit.KickIfNeeded();
        kit.Run();
        Assert.Single(kit.Reap());
        Assert.Equal((7u, 0xABCDu), kit.ReadResponse(r));
        Assert.Equal(VhostDemo.InitialBuff, kit.Demo.Buff);
    }

    [Fact]
    public void Robust_ShortRequest_UsedLenZero_NoWrite_StateUnchanged()
    {
        var kit = new VhostKit(Flavour.Robust);
        var (h1, r1) = kit.AddRequest(1, 0x5555, outLen: 4, inLen: 8);
        var (h2, r2) = kit.AddRequest(1, 0x6666, outLen: 8, inLen: 7);
        kit.KickIfNeeded();
        kit.Run();
        Assert.Equal([(h1, 0u), (h2, 0u)], kit.Reap());
        Assert.Equal((0xEEEEEEEEu, 0xEEEEEEEEu), kit.ReadResponse(r1));
        Assert.Equal((0xEEEEEEEEu, 0xEEEEEEEEu), kit.ReadResponse(r2));
        Assert.Equal(VhostDemo.InitialBuff, kit.Demo.Buff);
        Assert.Equal(2, kit.Demo.ShortRequests);
    }

    [Fact]
    public void Robust_WithEventIdx_EndToEnd()
    {
        var kit = new VhostKit(Flavour.Robust, eventIdx: true);
        for (int round = 0; round < 3; round++)
        {
            var (h, r) = kit.AddRequest(1, (uint)(0x100 + round));
            kit.KickIfNeeded();
            kit.Run();
            Assert.Equal([(h, 8u)], kit.Reap());
            Assert.Equal((1u, (uint)(0x100 + round)), kit.ReadResponse(r));
        }
        Assert.Equal(3, kit.Dev.Worker!.HandlerRuns);
        Assert.True(kit.Sim.Counters.InterruptsInjected >= 1);
    }

    [Fact]
    public void BackendDetach_FaultsWithoutAMemoryTable_AsVhostNetSetBackend()
    {
        // vhost_net_set_backend checks vhost_vq_access_ok before the fd: a detach on a device with an owner but no
        // memory table is EFAULT on Linux (the KVM lab's lab/vhost-demo said so), and EPERM without an owner.
        var kit = new VhostKit(Flavour.Robust);
        Assert.Equal(VhostResult.Ok, kit.Dev.ResetOwner());
        Assert.Equal(VhostResult.NotPermitted, kit.Demo.SetRunning(false));
        Assert.Equal(VhostResult.Ok, kit.Dev.SetOwner());
        Assert.Equal(VhostResult.Ok, kit.Demo.SetRunning(false)); // RESET_OWNER leaves an empty table: access ok
        Assert.Equal(VhostResult.Ok, kit.Dev.SetVringAddr(0, new VhostVringAddr(VhostLimits.UserAddressLimit, 0, 0)));
        Assert.Equal(VhostResult.Fault, kit.Demo.SetRunning(false));
    }

    [Fact]
    public void Robust_NotRunning_KickDoesNothing()
    {
        var kit = new VhostKit(Flavour.Robust);
        Assert.Equal(VhostResult.Ok, kit.Demo.SetRunning(false));
        kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        kit.Run();
        Assert.Empty(kit.Reap());
        Assert.Equal(1, kit.Dev.Worker!.HandlerRuns);
    }

    [Fact]
    public void Seed_UsedLenIsZero_AlthoughEightBytesWritten()
    {
        var kit = new VhostKit(Flavour.Seed, eventsMax: 200);
        var (h1, r1) = kit.AddRequest(1, 0x2333);
        var (h2, r2) = kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        kit.Run();
        Assert.Equal([(h1, 0u), (h2, 0u)], kit.Reap());
        // v1 = 1 → v4 = v2: the write's response is {1, 0x2333}.
        Assert.Equal((1u, 0x2333u), kit.ReadResponse(r1));
        // opt 0: v3 = v1 = 0, v4 unchanged = 0x2333 (the seed's "read").
        Assert.Equal((0u, 0x2333u), kit.ReadResponse(r2));
        Assert.Equal(0x2333u, kit.Demo.V4);
    }

    [Fact]
    public void Seed_ShortOutBuffer_LeavesStaleV2()
    {
        var kit = new VhostKit(Flavour.Seed, eventsMax: 200);
        kit.AddRequest(1, 0x1111); // v1 = 1, v2 = 0x1111, v4 = 0x1111
        kit.KickIfNeeded();
        kit.Run();
        kit.Reap();
        // A 4-byte out buffer {opt = 1}: only v1 is copied, v2 keeps 0x1111 from the previous request although this
        // request's buff bytes (0x9999) were never offered.
        var (_, r) = kit.AddRequest(1, 0x9999, outLen: 4, inLen: 8);
        kit.Kick.Signal();
        kit.Run();
        kit.Reap();
        Assert.Equal(0x1111u, kit.Demo.V2);
        Assert.Equal((1u, 0x1111u), kit.ReadResponse(r));
    }

    [Fact]
    public void Seed_ShortInBuffer_PartialWrite()
    {
        var kit = new VhostKit(Flavour.Seed, eventsMax: 200);
        var (_, r) = kit.AddRequest(1, 0x44332211, outLen: 8, inLen: 5);
        kit.KickIfNeeded();
        kit.Run();
        kit.Reap();
        // 5 of the 8 bytes {v3 = 1, v4 = 0x44332211}: v3 and the low byte of v4; the rest keeps the 0xEE fill.
        Assert.Equal((1u, 0xEEEEEE11u), kit.ReadResponse(r));
    }

    [Fact]
    public void Seed_UnconditionalRequeue_IsALivelock_DetectedByBudget()
    {
        var options = new VhostOptions { IdleRequeuesMax = 50 };
        var kit = new VhostKit(Flavour.Seed, options: options, eventsMax: 500);
        kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        StopReason stop = kit.Run();

        // The worker never sleeps again: the loop's EventsMax stops the run.
        Assert.Equal(StopReason.EventLimit, stop);
        VhostWorker w = kit.Dev.Worker!;
        Assert.False(w.Sleeping);
        Assert.True(w.HandlerRuns > 100);
        Assert.Equal(w.HandlerRuns, w.SelfRequeues);
        Assert.Equal(w.HandlerRuns - 1, w.IdleSelfRequeues);
        Assert.Equal(1, w.LivelocksDetected);
        Assert.Contains(kit.Sink.Events, e =>
            e.Kind == TraceEventKind.DeviceResult && e.Address == VhostTraceCode.LivelockSuspected
        );
        // Only one wake-up: a spinning worker switches no context.
        Assert.Equal(1, w.Wakeups);
    }

    [Fact]
    public void Seed_Livelock_StoppedByTimeMaxToo()
    {
        var kit = new VhostKit(Flavour.Seed, eventsMax: 100_000_000);
        kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        kit.Sim.Loop.EventsMax = long.MaxValue;
        StopReason stop = kit.Sim.Loop.Run(kit.Sim.Now + 1_000_000); // 1 ms of virtual time
        Assert.Equal(StopReason.TimeLimit, stop);
        Assert.True(kit.Dev.Worker!.HandlerRuns >= 1_000_000 / VhostOptions.Default.WorkRunNs - 10);
    }

    [Fact]
    public void Seed_HandlerRunsMax_StopsTheWorker()
    {
        var options = new VhostOptions { HandlerRunsMax = 20 };
        var kit = new VhostKit(Flavour.Seed, options: options, eventsMax: 10_000);
        kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        Assert.Equal(StopReason.Idle, kit.Run());
        Assert.True(kit.Dev.Worker!.BudgetExhausted);
        Assert.Equal(20, kit.Dev.Worker.HandlerRuns);
        Assert.Contains(kit.Sink.Events, e =>
            e.Kind == TraceEventKind.DeviceResult && e.Address == VhostTraceCode.HandlerBudgetExhausted
        );
    }

    [Fact]
    public void Robust_NoLivelock_WorkerSleeps()
    {
        var kit = new VhostKit(Flavour.Robust);
        kit.AddRequest(0, 0);
        kit.KickIfNeeded();
        Assert.Equal(StopReason.Idle, kit.Run());
        Assert.Equal(0, kit.Dev.Worker!.LivelocksDetected);
    }
}
