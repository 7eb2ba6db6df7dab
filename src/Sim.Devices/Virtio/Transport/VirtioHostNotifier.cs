using Sim.Engine;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Devices.Virtio.Transport;

/// <summary>
/// A queue's host notifier (QEMU VirtQueue.host_notifier): the eventfd KVM signals on an ioeventfd
/// hit. Its wake-up queues the QEMU main loop once (<see cref="LatencyModel.WorkerWakeupNs"/>), which
/// then reads the eventfd (kicks coalesce) and runs the queue's handler
/// (virtio_queue_host_notifier_read → virtio_queue_notify_vq).
/// </summary>
internal sealed class VirtioHostNotifier : IEventFdListener, IEventHandler
{
    private readonly Simulation _simulation;
    private readonly VirtioDevice _device;
    private bool _wakeScheduled;

    public VirtioHostNotifier(Simulation simulation, VirtioDevice device, int queueIndex)
    {
        _simulation = simulation;
        _device = device;
        QueueIndex = queueIndex;
        Fd = simulation.CreateEventFd(false, "virtio-host-notifier");
        Fd.AddListener(this);
    }

    public int QueueIndex { get; }

    public EventFd Fd { get; }

    /// <summary>Address of the MMIO (modern) ioeventfd registered for this queue, or
    /// <see cref="Pci.PciBar.Unmapped"/>.</summary>
    public ulong ModernAddress { get; set; } = Pci.PciBar.Unmapped;

    /// <summary>Port of the PIO (legacy QUEUE_NOTIFY) ioeventfd registered for this queue, or
    /// <see cref="Pci.PciBar.Unmapped"/>.</summary>
    public ulong LegacyAddress { get; set; } = Pci.PciBar.Unmapped;

    /// <summary>False while a vhost backend owns the eventfd (QEMU detaches its fd handler in
    /// vhost_dev_enable_notifiers): signals then wake nothing here and nothing reads the eventfd.</summary>
    public bool HandlerAttached { get; set; } = true;

    public void OnSignalled(EventFd fd)
    {
        if (_wakeScheduled || !HandlerAttached)
            return;
        _wakeScheduled = true;
        _simulation.Loop.Schedule(_simulation.Kvm.Latency.WorkerWakeupNs, this);
    }

    public void Handle(EventLoop loop, in ScheduledEvent ev)
    {
        _wakeScheduled = false;
        if (!HandlerAttached || !Fd.IsReadable)
            return; // drained when ioeventfd was stopped
        _simulation.RecordContextSwitch(_device.TraceId, Narrow.AsUInt64Bits(QueueIndex));
        Drain();
    }

    /// <summary>virtio_queue_host_notifier_read: if the eventfd holds kicks, consume them and run the handler
    /// once.</summary>
    public void Drain()
    {
        if (HandlerAttached && Fd.TryRead(out _))
            _device.DispatchQueueNotify(QueueIndex);
    }
}
