using Sim.Engine.Time;

namespace Sim.Machine.Kvm;

/// <summary>
/// One KVM_IRQFD registration. Like Linux's irqfd_wakeup it consumes the eventfd's counter as soon
/// as it is signalled (several signals coalesce into one injection) and schedules the injection
/// <see cref="LatencyModel.IrqFdInjectNs"/> later (the MSI-route cost: see LatencyModel). Without a
/// resample fd the injection is an edge (kvm_set_irq 1 then 0); with one, the line is raised and
/// stays asserted until the guest's EOI, when KVM lowers it and signals the resample fd
/// (irqfd_resampler_ack).
/// </summary>
internal sealed class IrqFdBinding : IEventFdListener, IEventHandler
{
    private readonly KvmModel _kvm;
    private bool _injectScheduled;

    public IrqFdBinding(KvmModel kvm, uint id, EventFd fd, uint gsi, EventFd? resample)
    {
        _kvm = kvm;
        Id = id;
        Fd = fd;
        Gsi = gsi;
        Resample = resample;
    }

    /// <summary>Registration number (trace Source of its IrqInject events is Id + 1; 0 is a direct line).</summary>
    public uint Id { get; }

    public EventFd Fd { get; }

    public uint Gsi { get; }

    public EventFd? Resample { get; }

    public bool Active { get; set; } = true;

    public void OnSignalled(EventFd fd)
    {
        if (!Active)
            return;
        // irqfd_wakeup: eventfd_ctx_do_read, then schedule_work (a no-op if already queued).
        fd.TryRead(out _);
        if (_injectScheduled)
            return;
        _injectScheduled = true;
        _kvm.Simulation.Loop.Schedule(_kvm.Latency.IrqFdInjectNs, this);
    }

    public void Handle(EventLoop loop, in ScheduledEvent ev)
    {
        _injectScheduled = false;
        if (!Active)
            return;
        if (Resample is null)
            _kvm.Irqchip.Pulse(Gsi, Id + 1);
        else
            _kvm.Irqchip.Raise(Gsi, Id + 1);
    }
}
