using Sim.Devices.Vhost;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;
using Xunit;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Sim.Devices.Tests.VhostFrontend;

/// <summary>The QEMU side of vhost-demo: vhost start on DRIVER_OK, stop on leaving it or reset, ring hand-over and
/// hand-back (last_avail_idx through GET_VRING_BASE), the kick/call eventfd wiring and the fallbacks.</summary>
public sealed class VhostFrontendLifecycleTests
{
    [Fact]
    public void DriverOk_StartsVhost_KickIsHostNotifier_CallIsVectorIrqFd()
    {
        FrontendRig rig = FrontendRig.Vhost();
        Assert.False(rig.Frontend.VhostStarted);
        rig.Init();
        VhostDemoFrontendDevice dev = rig.Frontend;
        Assert.True(dev.VhostStarted);
        Assert.Equal(1, dev.Starts);
        Assert.True(rig.Vq.HasBackend);
        Assert.Same(rig.Transport.GetHostNotifier(0), rig.Vq.Kick);
        Assert.Same(rig.Transport.GetVectorEventFd(0), rig.Vq.Call);
        Assert.Equal(VhostCallPath.IrqFd, dev.GetCallPath(0));
        Assert.Equal((uint)FrontendRig.QueueSize, rig.Vq.Num);
    }

    [Fact]
    public void Request_GoesThroughVhost_NotThroughQemu()
    {
        FrontendRig rig = FrontendRig.Vhost();
        rig.Init();
        GuestAddress w = rig.Post(1, 0xABCD);
        rig.Kick();
        GuestAddress r = rig.Post(0, 0);
        rig.Kick();
        rig.Run();
        Assert.Equal([8u, 8u], rig.Reap().Select(u => u.Len));
        Assert.Equal(0xABCD_0000_0001UL, rig.Response(w));
        Assert.Equal(0xABCD_0000_0000UL, rig.Response(r));
        Assert.Equal(0, rig.Frontend.QemuHandlerRuns); // the empty vhost_demo_handle never ran
        Assert.Equal(0, rig.Transport.NotifyExits - 2); // two kicks, both forwarded to the eventfd
        Assert.True(rig.Vq.CallSignals >= 1);
        Assert.True(rig.Sim.Kvm.Irqchip.IsPending(FrontendRig.QueueGsi));
        Assert.Equal(0xABCDu, rig.Frontend.Backend.Buff);
    }

    [Fact]
    public void LeavingDriverOk_StopsVhost_HandsLastAvailBack_ThenRestartResumes()
    {
        FrontendRig rig = FrontendRig.Vhost();
        rig.Init();
        for (uint i = 0; i < 3; i++)
            rig.Post(1, 0x100 + i);
        rig.Kick();
        rig.Run();
        Assert.Equal(3, rig.Reap().Count);

        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk); // DRIVER_OK cleared
        VhostDemoFrontendDevice dev = rig.Frontend;
        Assert.False(dev.VhostStarted);
        Assert.Equal(1, dev.Stops);
        Assert.False(rig.Vq.HasBackend);
        Assert.Null(rig.Vq.Kick);
        Assert.Null(rig.Vq.Call);
        Assert.Equal(VhostCallPath.None, dev.GetCallPath(0));
        Assert.Equal((ushort)3, dev.GetStoppedAvailIdx(0));
        var q = dev.GetQueue(0);
        Assert.Equal((ushort)3, q.NextAvail.Value); // virtio_queue_set_last_avail_idx
        Assert.Equal((ushort)3, q.ShadowAvail.Value);
        Assert.Equal((ushort)3, q.UsedIdx.Value); // virtio_queue_update_used_idx
        Assert.False(q.SignalledUsedValid); // virtio_queue_invalidate_signalled_used

        // QEMU owns the queue again, but without DRIVER_OK: the robust transport ignores the kick (VIRTIO 1.2 §3.1.2;
        // QEMU's core would run its empty handler); nothing is answered either way.
        rig.Post(0, 0);
        rig.Kick();
        rig.Run();
        Assert.Equal(0, dev.QemuHandlerRuns);
        Assert.Empty(rig.Reap());

        // DRIVER_OK again: vhost resumes at last_avail 3 and finds the request posted meanwhile.
        rig.SetStatus(FrontendRig.Ready);
        Assert.True(dev.VhostStarted);
        Assert.Equal(2, dev.Starts);
        rig.Run();
        Assert.Equal([8u], rig.Reap().Select(u => u.Len));
        Assert.Equal((ushort)4, rig.Vq.LastAvailIdx);
    }

    [Fact]
    public void Reset_StopsVhost_BackendStateSurvives_QueueStaysReset()
    {
        FrontendRig rig = FrontendRig.Vhost();
        rig.Init();
        rig.Post(1, 0x7777);
        rig.Kick();
        rig.Run();
        rig.SetStatus(S.None);
        VhostDemoFrontendDevice dev = rig.Frontend;
        Assert.False(dev.VhostStarted);
        Assert.Equal(1, dev.Stops);
        Assert.False(rig.Vq.HasBackend);
        Assert.False(dev.GetQueue(0).Ready);
        Assert.Equal((ushort)0, dev.GetQueue(0).NextAvail.Value); // the reset wins over the hand-back
        Assert.Equal(0x7777u, dev.Backend.Buff); // known difference: kernel state survives

        // A fresh probe (new rings) starts vhost again from index 0.
        rig.Init();
        Assert.True(dev.VhostStarted);
        GuestAddress r = rig.Post(0, 0);
        rig.Kick();
        rig.Run();
        Assert.Equal([(0, 8u)], rig.Reap().Select(u => ((int)u.Id, u.Len)));
        Assert.Equal(0x7777_0000_0000UL, rig.Response(r));
    }

    [Fact]
    public void Intx_FallsBackToUserspaceGuestNotifier_SettingIsrAndIntx()
    {
        FrontendRig rig = FrontendRig.Vhost(msix: false);
        rig.Init();
        VhostDemoFrontendDevice dev = rig.Frontend;
        Assert.Equal(VhostCallPath.Userspace, dev.GetCallPath(0));
        Assert.NotNull(rig.Vq.Call);
        rig.Post(1, 5);
        rig.Kick();
        rig.Run();
        Assert.Single(rig.Reap());
        Assert.Equal(1, dev.GetUserspaceCalls(0));
        Assert.Equal(VirtioPciLayout.IsrQueue, dev.Isr);
        Assert.True(rig.Transport.IntxAsserted);
    }

    [Fact]
    public void NoIoEventFd_StartFails_AndIsReported()
    {
        FrontendRig rig = FrontendRig.Vhost(ioEventFd: false);
        rig.Init();
        VhostDemoFrontendDevice dev = rig.Frontend;
        Assert.False(dev.VhostStarted);
        Assert.Equal(1, dev.StartFailures);
        Assert.Contains("host notifiers", dev.LastStartError, StringComparison.Ordinal);
        Assert.False(rig.Vq.HasBackend);
        rig.Post(1, 5);
        rig.Kick();
        rig.Run();
        Assert.Empty(rig.Reap()); // userspace virtio is the empty handler
        Assert.Equal(1, dev.QemuHandlerRuns);
    }

    [Fact]
    public void SeedBackend_Livelocks_ButTheRunEnds()
    {
        FrontendRig rig = FrontendRig.Vhost(Flavour.Seed, eventsMax: 20_000);
        rig.Init();
        rig.Post(1, 0x1333);
        rig.Kick();
        Assert.Equal(Sim.Engine.Time.StopReason.EventLimit, rig.Run());
        Assert.Equal([(0, 0u)], rig.Reap().Select(u => ((int)u.Id, u.Len)));
        VhostWorker w = rig.Frontend.Backend.Device.Worker!;
        Assert.True(w.LivelocksDetected >= 1);
        Assert.False(w.Sleeping);
    }
}
