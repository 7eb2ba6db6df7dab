using Sim.Engine;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Devices.Vhost.Frontend;

/// <summary>
/// QEMU's userspace guest notifier of one queue (VirtQueue.guest_notifier with the fd handler
/// virtio_queue_guest_notifier_read), used as the vhost call fd when no irqfd can serve the queue's vector
/// (INTx, MSI-X disabled or masked, irqfds off). A signal wakes the QEMU main loop once
/// (<see cref="LatencyModel.WorkerWakeupNs"/>, a context switch), which reads the eventfd (calls coalesce) and
/// raises the interrupt (virtio_irq: ISR bit 0, then the vector or INTx).
/// </summary>
internal sealed class VhostGuestNotifier : IEventFdListener, IEventHandler
{
    private readonly Simulation _simulation;
    private readonly uint _traceId;
    private readonly Action _raise;
    private bool _listening;
    private bool _wakeScheduled;

    public VhostGuestNotifier(Simulation simulation, uint traceId, int queueIndex, Action raise)
    {
        _simulation = simulation;
        _traceId = traceId;
        _raise = raise;
        QueueIndex = queueIndex;
        Fd = simulation.CreateEventFd(false, "vhost-guest-notifier");
    }

    public int QueueIndex { get; }

    public EventFd Fd { get; }

    /// <summary>Interrupts raised from this notifier.</summary>
    public long Raised { get; private set; }

    /// <summary>event_notifier_set_handler(guest_notifier, virtio_queue_guest_notifier_read).</summary>
    public void Attach()
    {
        if (_listening)
            return;
        Fd.AddListener(this);
        _listening = true;
    }

    /// <summary>Detaches the handler; QEMU virtio_queue_set_guest_notifier_fd_handler(assign=false) first reads
    /// the notifier once more "in case poll callback didn't have time to run". <paramref name="deliver"/> false
    /// consumes a pending call without raising (the queue was reset under it).</summary>
    public void Detach(bool deliver)
    {
        if (!_listening)
            return;
        Fd.RemoveListener(this);
        _listening = false;
        if (Fd.TryRead(out _) && deliver)
            Raise();
    }

    public void OnSignalled(EventFd fd)
    {
        if (_wakeScheduled)
            return;
        _wakeScheduled = true;
        _simulation.Loop.Schedule(_simulation.Kvm.Latency.WorkerWakeupNs, this);
    }

    public void Handle(EventLoop loop, in ScheduledEvent ev)
    {
        _wakeScheduled = false;
        if (!_listening || !Fd.IsReadable)
            return;
        _simulation.RecordContextSwitch(_traceId, Narrow.AsUInt64Bits(QueueIndex));
        if (Fd.TryRead(out _))
            Raise();
    }

    private void Raise()
    {
        Raised++;
        _raise();
    }
}
