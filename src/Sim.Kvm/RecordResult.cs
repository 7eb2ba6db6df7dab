namespace Sim.Kvm;

/// <summary>How a recording went: the guest's exit status, what crossed the boundary, and what it cost.</summary>
public sealed record RecordResult
{
    /// <summary>The value of the guest's 4-byte OUT to port 0xF4 (0 = success).</summary>
    public required uint GuestStatus { get; init; }

    /// <summary>Userspace exits served (MMIO and PIO, debug port included).</summary>
    public required long Exits { get; init; }

    /// <summary>Real ioeventfd wake-ups turned into kicks (with direct kernel-vhost wiring: the guest's kicks read
    /// from the queue's ioeventfd counter at the looks).</summary>
    public required long Kicks { get; init; }

    /// <summary>Interrupts sent to the real irqchip (line raises and MSIs; with direct kernel-vhost wiring also the
    /// kernel's own irqfd signals, counted by the module).</summary>
    public required long Interrupts { get; init; }

    /// <summary>Injections written to a real KVM_IRQFD eventfd (the vhost call, irqfd-mode MSI-X), and the real
    /// irqfds assigned.</summary>
    public long IrqFdSignals { get; init; }

    /// <summary>Real irqfds assigned (KVM_IRQFD).</summary>
    public int IrqFdsAssigned { get; init; }

    /// <summary>GuestWrite events from the dirty-log page diffs, and pages compared.</summary>
    public required long GuestStores { get; init; }

    /// <summary>Pages compared by the dirty-log page diffs.</summary>
    public required long PagesCompared { get; init; }

    /// <summary>Ioeventfds KVM refused (their writes exit to userspace instead).</summary>
    public required int IoEventFdsRefused { get; init; }

    /// <summary>Trace events written and the trace's size.</summary>
    public required ulong Events { get; init; }

    /// <summary>Size of the trace written.</summary>
    public required long TraceBytes { get; init; }

    /// <summary>False when the recorder was off (<see cref="RecordRequest.Trace"/>): no trace was written and
    /// <see cref="Events"/> counts the machine's events.</summary>
    public bool Traced { get; init; } = true;

    /// <summary>Time spent bringing the machine's memory up to date (dirty log + page diff), in ns.</summary>
    public long MemorySyncNs { get; init; }

    /// <summary>Host time from the first KVM_RUN to the guest's exit, in ns (the trace's clock).</summary>
    public required long GuestNs { get; init; }

    /// <summary>Process CPU time over the run, in ns (all threads).</summary>
    public required long CpuNs { get; init; }

    /// <summary>The guest's console lines, the scenario's device summary and the counters.</summary>
    public required IReadOnlyList<string> Report { get; init; }
}
