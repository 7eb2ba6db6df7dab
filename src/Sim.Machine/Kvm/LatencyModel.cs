namespace Sim.Machine.Kvm;

/// <summary>
/// What each boundary crossing costs in virtual nanoseconds. Defaults, with their source:
/// <list type="bullet">
/// <item><see cref="UserspaceExitNs"/> 5400: measured on the project's real KVM host
///   (shared/KVM-HOST.md: "A KVM_EXIT_IO round trip ... costs about 5.4 µs").</item>
/// <item><see cref="IoEventFdNs"/> 1000: an exit that KVM handles itself (VM exit, io-bus lookup,
///   eventfd_signal, VM entry) skips the return to userspace, the ioctl return/re-entry and
///   QEMU's dispatch; a bare VM exit/entry round trip is a few hundred ns on current x86, so
///   about a fifth of the userspace round trip.</item>
/// <item><see cref="EoiNs"/> 1000: an EOI write to the in-kernel irqchip is the same kind of
///   in-kernel exit as an ioeventfd hit.</item>
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
/// Measured beside these on 2026-12-07 (<c>virtsim bench kvm</c>, docs/recording.md §7.1), process CPU time per
/// crossing on the build machines' own /dev/kvm (PVM flavour, kernel 6.18.44, AMD EPYC, loaded): userspace PIO or
/// MMIO exit 7.3–8.9 µs, ioeventfd-absorbed write 1.06–1.51 µs, one guest instruction 0.44–0.66 µs (PVM emulates
/// every guest instruction there). The ioeventfd figure agrees with <see cref="IoEventFdNs"/>; the exit figure is an
/// upper bound (an emulating, nested host), so the defaults stay until a hardware KVM host is measured. Kernel
/// vhost in the KVM lab (kvm_amd under TCG): slot for the lab's figures (docs/kvm-lab.md), not filled here.
/// </summary>
public sealed record LatencyModel
{
    public static LatencyModel Default { get; } = new();

    /// <summary>Every crossing free: the model of a machine whose vCPU is real (the KVM recorder and the
    /// replay of its traces), where time is the host's own clock read at each guest input.</summary>
    public static LatencyModel Zero { get; } = new()
    {
        UserspaceExitNs = 0, IoEventFdNs = 0, EoiNs = 0, IrqFdInjectNs = 0, UserspaceMsiNs = 0,
        ContextSwitchNs = 0, WorkerWakeupNs = 0, HaltWakeupNs = 0, InterruptDeliveryNs = 0, GuestStepNs = 0,
    };

    public long UserspaceExitNs { get; init; } = 5400;

    public long IoEventFdNs { get; init; } = 1000;

    public long EoiNs { get; init; } = 1000;

    public long IrqFdInjectNs { get; init; } = 500;

    public long UserspaceMsiNs { get; init; } = 1000;

    public long ContextSwitchNs { get; init; } = 2000;

    public long WorkerWakeupNs { get; init; } = 4000;

    public long HaltWakeupNs { get; init; } = 2000;

    public long InterruptDeliveryNs { get; init; } = 500;

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
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, "latency must not be negative");
    }
}
