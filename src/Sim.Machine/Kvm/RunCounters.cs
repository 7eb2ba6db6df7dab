using System.Text;

namespace Sim.Machine.Kvm;

/// <summary>What happened in a run, counted. Part of every report, and two runs with the same seed
/// must produce equal counters. Device models increment the host-side ones
/// (<see cref="ContextSwitches"/>) themselves.</summary>
public sealed class RunCounters
{
    /// <summary>Virtual time at the end of the last Run, in ns.</summary>
    public long TimeNs { get; set; }

    /// <summary>MMIO reads that exited to userspace.</summary>
    public long MmioReadExits { get; set; }

    /// <summary>MMIO writes that exited to userspace (not absorbed by an ioeventfd).</summary>
    public long MmioWriteExits { get; set; }

    /// <summary>Port reads that exited to userspace.</summary>
    public long PioInExits { get; set; }

    /// <summary>PIO writes that exited to userspace, debug-port writes included.</summary>
    public long PioOutExits { get; set; }

    /// <summary>Userspace exits that no device claimed (reads saw all-ones, writes were dropped).</summary>
    public long UnmappedAccesses { get; set; }

    /// <summary>Guest writes absorbed in KVM by a matching ioeventfd.</summary>
    public long IoEventFdSignals { get; set; }

    /// <summary>Successful eventfd writes (by anyone).</summary>
    public long EventFdSignals { get; set; }

    /// <summary>Successful eventfd reads (by anyone).</summary>
    public long EventFdReads { get; set; }

    /// <summary>Interrupt requests that set a GSI pending.</summary>
    public long InterruptsInjected { get; set; }

    /// <summary>Interrupt requests that found their GSI already asserted or pending (merged).</summary>
    public long InterruptsCoalesced { get; set; }

    /// <summary>Interrupts the vCPU took (handler runs).</summary>
    public long InterruptsDelivered { get; set; }

    /// <summary>EOIs written to the irqchip.</summary>
    public long Eois { get; set; }

    /// <summary>HLT instructions executed (blocking or not).</summary>
    public long Halts { get; set; }

    /// <summary>Host thread switches (counted by device models that run on a thread of their own).</summary>
    public long ContextSwitches { get; set; }

    /// <summary>Virtual timer expiries.</summary>
    public long TimerFirings { get; set; }

    /// <summary>One line, fixed order: <c>time_ns=.. mmio_read=.. ...</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(256);
        sb.Append("time_ns=").Append(TimeNs);
        sb.Append(" mmio_read=").Append(MmioReadExits);
        sb.Append(" mmio_write=").Append(MmioWriteExits);
        sb.Append(" pio_in=").Append(PioInExits);
        sb.Append(" pio_out=").Append(PioOutExits);
        sb.Append(" unmapped=").Append(UnmappedAccesses);
        sb.Append(" ioeventfd=").Append(IoEventFdSignals);
        sb.Append(" eventfd_signal=").Append(EventFdSignals);
        sb.Append(" eventfd_read=").Append(EventFdReads);
        sb.Append(" irq_injected=").Append(InterruptsInjected);
        sb.Append(" irq_coalesced=").Append(InterruptsCoalesced);
        sb.Append(" irq_delivered=").Append(InterruptsDelivered);
        sb.Append(" eoi=").Append(Eois);
        sb.Append(" halt=").Append(Halts);
        sb.Append(" ctx_switch=").Append(ContextSwitches);
        sb.Append(" timer=").Append(TimerFirings);
        return sb.ToString();
    }

    /// <summary>A copy, for comparing two runs.</summary>
    public RunCounters Clone() => (RunCounters)MemberwiseClone();
}
