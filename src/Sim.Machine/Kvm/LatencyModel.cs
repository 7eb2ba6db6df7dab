namespace Sim.Machine.Kvm;

/// <summary>
/// What each boundary crossing costs in virtual nanoseconds. Defaults, with their source:
/// <list type="bullet">
/// <item><see cref="UserspaceExitNs"/> 7500: measured (recalibrated 2026-12-07; before, 5400 from
///   shared/KVM-HOST.md's "A KVM_EXIT_IO round trip ... costs about 5.4 µs"). <c>virtsim bench kvm</c>, process CPU
///   per bare round trip of a 32-bit protected-mode guest (as our guests run) on the build machines' own /dev/kvm:
///   host kernel 6.18.44-fc-v1300, KVM flavour <c>pvm</c> (API 12), AMD EPYC, 2 CPUs, loaded; two runs that day:
///   KVM_EXIT_IO 7.3–7.7 µs, KVM_EXIT_MMIO 7.5–7.8 µs; one figure serves both, the middle of the range. PVM
///   emulates guest instructions and is itself a guest, so on a hardware KVM host an exit costs less: this is an
///   upper bound, the only exit figure measured on a host we have.</item>
/// <item><see cref="IoEventFdNs"/> 1060: measured on the same host the same day (<c>bench kvm</c>): an
///   ioeventfd-absorbed PIO write, 1.06 µs of CPU in both runs. KVM handles the exit itself (VM exit, io-bus
///   lookup, eventfd_signal, VM entry) without the return to userspace, the ioctl return/re-entry and the VMM's
///   dispatch: about a seventh of the userspace round trip there. Like the exit, an upper bound for hardware
///   KVM.</item>
/// <item><see cref="EoiNs"/> 1000: an EOI write to the in-kernel irqchip is the same kind of
///   in-kernel exit as an ioeventfd hit (not measured on its own; left at its estimate).</item>
/// <item><see cref="IrqFdInjectNs"/> 500: for an MSI route, irqfd_wakeup injects inline
///   (kvm_arch_set_irq_inatomic: eventfd wake-up, APIC delivery, vCPU kick) without a thread hop;
///   only pin routes fall back to the irqfd_inject workqueue. virtio-pci with MSI-X uses MSI routes.</item>
/// <item><see cref="UserspaceMsiNs"/> 1000: a userspace device model (QEMU's msix_notify →
///   kvm_send_msi) injects with the KVM_SIGNAL_MSI ioctl from its own thread: a syscall round trip
///   plus the same APIC delivery.</item>
/// <item><see cref="ContextSwitchNs"/> 2000: a Linux thread switch including its cache cost
///   (lmbench lat_ctx-class numbers: 1 to 3 µs).</item>
/// <item><see cref="WorkerWakeupNs"/> 4000: wake_up_process of a sleeping host thread (vhost
///   worker, QEMU iothread) until it runs: scheduler latency plus a context switch.</item>
/// <item><see cref="HaltWakeupNs"/> 2000: kvm_vcpu_kick of a vCPU blocked in HLT: a thread wake-up
///   plus VM entry.</item>
/// <item><see cref="InterruptDeliveryNs"/> 500: the guest's interrupt entry and IRET around a handler.</item>
/// <item><see cref="GuestStepNs"/> 100: guest instructions between two program steps (added to
///   every step on top of an explicit Compute).</item>
/// </list>
/// The other figures are estimates: the same host's guest instruction (0.44 µs of CPU for one LOOP, emulated) says
/// nothing about a hardware vCPU's, and the KVM lab's kvm_amd runs under TCG, two to three orders of magnitude
/// slower than hardware (docs/recording.md §7), so neither recalibrates a default. A figure from a hardware KVM
/// host would replace the PVM ones above.
/// </summary>
public sealed record LatencyModel
{
    /// <summary>The defaults listed above.</summary>
    public static LatencyModel Default { get; } = new();

    /// <summary>Every crossing free: the model of a machine whose vCPU is real (the KVM recorder and the
    /// replay of its traces), where time is the host's own clock read at each guest input.</summary>
    public static LatencyModel Zero { get; } =
        new()
        {
            UserspaceExitNs = 0,
            IoEventFdNs = 0,
            EoiNs = 0,
            IrqFdInjectNs = 0,
            UserspaceMsiNs = 0,
            ContextSwitchNs = 0,
            WorkerWakeupNs = 0,
            HaltWakeupNs = 0,
            InterruptDeliveryNs = 0,
            GuestStepNs = 0,
        };

    /// <summary>A guest PIO/MMIO access that exits to the VMM and back (KVM_RUN return and re-entry).</summary>
    public long UserspaceExitNs { get; init; } = 7500;

    /// <summary>A guest write absorbed by an ioeventfd (an in-kernel exit).</summary>
    public long IoEventFdNs { get; init; } = 1060;

    /// <summary>An EOI write to the in-kernel irqchip.</summary>
    public long EoiNs { get; init; } = 1000;

    /// <summary>An irqfd signal turned into an interrupt (MSI route, inline).</summary>
    public long IrqFdInjectNs { get; init; } = 500;

    /// <summary>A userspace device's KVM_SIGNAL_MSI.</summary>
    public long UserspaceMsiNs { get; init; } = 1000;

    /// <summary>A host thread switch.</summary>
    public long ContextSwitchNs { get; init; } = 2000;

    /// <summary>Waking a sleeping host worker until it runs.</summary>
    public long WorkerWakeupNs { get; init; } = 4000;

    /// <summary>Waking a vCPU blocked in HLT.</summary>
    public long HaltWakeupNs { get; init; } = 2000;

    /// <summary>The guest's interrupt entry and return around a handler.</summary>
    public long InterruptDeliveryNs { get; init; } = 500;

    /// <summary>Guest instructions between two program steps.</summary>
    public long GuestStepNs { get; init; } = 100;

    /// <summary>Throws if any latency is negative (a configuration error).</summary>
    public void Validate()
    {
        Check(UserspaceExitNs, nameof(UserspaceExitNs));
        Check(IoEventFdNs, nameof(IoEventFdNs));
        Check(EoiNs, nameof(EoiNs));
        Check(IrqFdInjectNs, nameof(IrqFdInjectNs));
        Check(UserspaceMsiNs, nameof(UserspaceMsiNs));
        Check(ContextSwitchNs, nameof(ContextSwitchNs));
        Check(WorkerWakeupNs, nameof(WorkerWakeupNs));
        Check(HaltWakeupNs, nameof(HaltWakeupNs));
        Check(InterruptDeliveryNs, nameof(InterruptDeliveryNs));
        Check(GuestStepNs, nameof(GuestStepNs));
    }

    private static void Check(long value, string name)
    {
        if (value < 0)
            throw new ArgumentOutOfRangeException(name, value, "latency must not be negative");
    }
}
