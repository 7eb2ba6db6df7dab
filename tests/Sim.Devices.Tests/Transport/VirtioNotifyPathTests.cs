using Sim.Devices.Virtio.Transport;
using Sim.Engine.Trace;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Sim.Devices.Tests.Transport;

/// <summary>Queue notifications: ioeventfd inside KVM (QEMU ioeventfd=on after DRIVER_OK) against the
/// userspace exit path.</summary>
public sealed class VirtioNotifyPathTests
{
    private const ulong Notify0 = VirtioRig.ModernBase + L.ModernNotifyOffset;

    private static (VirtioRig Rig, DriverQueue Queue) Ready(bool ioeventfd, VirtioPciMode mode = VirtioPciMode.Modern)
    {
        var rig = new VirtioRig(new VirtioPciOptions { Mode = mode, UseIoEventFd = ioeventfd });
        DriverQueue dq = rig.ModernInit(VirtioRig.Version1);
        rig.Sim.Run(); // let the start-of-ioeventfd kick run (QEMU kicks every queue once)
        return (rig, dq);
    }

    [Fact]
    public void IoEventFd_KickIsAbsorbedByKvmAndHandledOnTheMainLoopLater()
    {
        (VirtioRig rig, DriverQueue dq) = Ready(ioeventfd: true);
        Assert.True(rig.Transport.IoEventFdStarted);
        int handledBefore = rig.Device.Handled;
        long kickTime = -1;
        bool completedAtKick = true;
        var program = new ScriptProgram(g => Body(g));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            rig.Post(dq, 5, 6);
            kickTime = g.Now;
            g.MmioWrite(Notify0, 2, 0);
            completedAtKick = dq.HasUsed(g.Memory);
            yield return VcpuStep.Compute(50_000);
        }
        rig.Sim.Kvm.Start(program);
        rig.Sim.Run();
        Assert.False(completedAtKick); // nothing ran on the vCPU
        Assert.Equal(1, rig.Trace.Count(TraceEventKind.IoEventFd));
        Assert.Equal(0, rig.Trace.Count(TraceEventKind.MmioWrite));
        Assert.Equal(handledBefore + 1, rig.Device.Handled);
        Assert.True(dq.TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal(8u, len);
        Assert.Equal(0, rig.Transport.NotifyExits);
        var sw = rig.Trace.Events.Last(e => e.Kind == TraceEventKind.ContextSwitch);
        Assert.True(sw.Time >= kickTime + rig.Sim.Kvm.Latency.WorkerWakeupNs);
    }

    [Fact]
    public void ExitPath_KickIsHandledSynchronouslyOnTheVcpu()
    {
        (VirtioRig rig, DriverQueue dq) = Ready(ioeventfd: false);
        Assert.False(rig.Transport.IoEventFdStarted);
        bool completedAtKick = false;
        var program = new ScriptProgram(g => Body(g));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            rig.Post(dq, 5, 6);
            g.MmioWrite(Notify0, 2, 0);
            completedAtKick = dq.HasUsed(g.Memory);
            yield return VcpuStep.Yield;
        }
        rig.Sim.Kvm.Start(program);
        rig.Sim.Run();
        Assert.True(completedAtKick);
        Assert.Equal(0, rig.Trace.Count(TraceEventKind.IoEventFd));
        Assert.Equal(1, rig.Trace.Count(TraceEventKind.MmioWrite));
        Assert.Equal(1, rig.Transport.NotifyExits);
    }

    [Fact]
    public void Legacy_DataMatchedTwoByteWriteUsesIoEventFd_OtherWidthsExitButStillReachTheEventFd()
    {
        var rig = new VirtioRig(new VirtioPciOptions { Mode = VirtioPciMode.Legacy, UseIoEventFd = true });
        rig.Enumerate();
        rig.Legacy(L.LegacyStatus, 1, (byte)(S.Acknowledge | S.Driver));
        rig.Legacy(L.LegacyQueueSel, 2, 0);
        var layout = SplitRingLayout.Legacy(new Sim.Engine.Memory.GuestAddress(VirtioRig.RingBase), 16);
        var dq = new DriverQueue(layout, eventIdx: false);
        dq.Initialize(rig.Memory);
        rig.Legacy(L.LegacyQueuePfn, 4, layout.DescTable.Value >> 12);
        rig.Legacy(L.LegacyStatus, 1, (byte)(S.Acknowledge | S.Driver | S.DriverOk));
        rig.Sim.Run();
        int handled = rig.Device.Handled;
        ushort port = (ushort)(VirtioRig.LegacyPort + L.LegacyQueueNotify);
        bool syncAfterWideWrite = true;
        var program = new ScriptProgram(g => Body(g));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            rig.Post(dq, 1, 1, slot: 0);
            g.PioOut(port, 2, 0); // matches the ioeventfd (length 2, datamatch 0)
            yield return VcpuStep.Compute(50_000);
            rig.Post(dq, 2, 2, slot: 1);
            g.PioOut(port, 4, 0); // wrong width: a userspace exit, forwarded to the host notifier
            syncAfterWideWrite = rig.Device.Handled != handled + 1;
            yield return VcpuStep.Compute(50_000);
        }
        rig.Sim.Kvm.Start(program);
        rig.Sim.Run();
        Assert.Equal(1, rig.Trace.Count(TraceEventKind.IoEventFd));
        Assert.Equal(1, rig.Trace.Events.Count(e => e.Kind == TraceEventKind.PioOut && e.Address == port));
        Assert.False(syncAfterWideWrite);
        Assert.Equal(handled + 2, rig.Device.Handled);
        Assert.Equal(2, rig.Device.GetQueue(0).UsedIdx.Value);
    }

    [Fact]
    public void StoppingIoEventFdDrainsAPendingKickAndUnregisters()
    {
        (VirtioRig rig, DriverQueue dq) = Ready(ioeventfd: true);
        Assert.Equal(2, rig.Sim.Kvm.IoEventFdCount); // one per queue at the modern notify address
        int handled = rig.Device.Handled;
        rig.Post(dq, 5, 6);
        rig.Transport.GetHostNotifier(0)!.Signal(); // a kick KVM delivered, main loop not yet run
        rig.SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk); // DRIVER_OK cleared
        Assert.False(rig.Transport.IoEventFdStarted);
        Assert.Equal(0, rig.Sim.Kvm.IoEventFdCount);
        Assert.Equal(handled + 1, rig.Device.Handled); // drained synchronously
        Assert.True(dq.HasUsed(rig.Memory));
        rig.Sim.Run(); // the scheduled wake-up finds nothing left
        Assert.Equal(handled + 1, rig.Device.Handled);
    }

    [Fact]
    public void MovingTheBarMovesTheIoEventFds()
    {
        (VirtioRig rig, _) = Ready(ioeventfd: true);
        const ulong moved = 0xFD00_0000;
        rig.WriteConfig(Sim.Spec.Pci.PciConfigRegisters.Bar0 + 16, 4, (uint)moved);
        Assert.Equal(2, rig.Sim.Kvm.IoEventFdCount);
        Assert.False(
            rig.Sim.Kvm.UnregisterIoEventFd(BusKind.Mmio, Notify0, 0, null, rig.Transport.GetHostNotifier(0)!)
        );
        Assert.True(
            rig.Sim.Kvm.UnregisterIoEventFd(
                BusKind.Mmio,
                moved + L.ModernNotifyOffset,
                0,
                null,
                rig.Transport.GetHostNotifier(0)!
            )
        );
    }
}
