using System.Numerics;
using Sim.Engine;
using Sim.Engine.Trace;

namespace Sim.Machine.Kvm;

/// <summary>
/// A small in-kernel irqchip (KVM_CREATE_IRQCHIP) in one place: <see cref="GsiMax"/> GSIs, each
/// with an asserted line, a pending request (IRR), an in-service bit (ISR) and a mask; vector =
/// <see cref="VectorBase"/> + GSI (0x25 for GSI 5, as on the real KVM host's 8259 after the guest's
/// ICW2 of 0x20); highest priority = lowest GSI; the vCPU's interrupt flag (IF) lives here too.
/// <para>
/// Edge GSIs latch a request on each rising edge (<see cref="Raise"/> of a low line, or
/// <see cref="Pulse"/>, which is what an edge irqfd does: kvm_set_irq 1 then 0). Level GSIs
/// (<see cref="SetLevelTriggered"/>; PCI INTx, resampling irqfds) request while the line is high:
/// lowering it withdraws an undelivered request, and an EOI while it is still high re-requests
/// (the IOAPIC's remote-IRR behaviour). A masked GSI keeps its request and is delivered after
/// unmasking (as the 8259's IMR does). A GSI in service is not delivered again until its EOI.
/// </para>
/// </summary>
public sealed class InterruptController
{
    /// <summary>GSIs 0..63: 0..23 are IOAPIC-style pins, the rest room for MSI-like routes.</summary>
    public const int GsiMax = 64;

    /// <summary>Vector of GSI 0.</summary>
    public const uint VectorBase = 0x20;

    private readonly KvmModel _kvm;
    private ulong _asserted;
    private ulong _pending;
    private ulong _inService;
    private ulong _masked;
    private ulong _level;
    private bool _interruptsEnabled;

    private readonly bool _externalMode;

    internal InterruptController(KvmModel kvm)
    {
        _kvm = kvm;
        _externalMode = kvm.Simulation.Options.ExternalVcpu;
    }

    /// <summary>Where line changes and MSIs go when the vCPU is external
    /// (<see cref="Sim.Machine.Simulation.SimulationOptions.ExternalVcpu"/>): the real irqchip of the KVM recorder,
    /// or null (replay, which only compares the IrqInject events). In that mode this controller keeps only the line
    /// states: a rising line or a pulse emits IrqInject and is forwarded; pending, in-service and EOI are the real
    /// irqchip's business (the guest's EOIs never leave the kernel).</summary>
    public IExternalIrqChip? External { get; set; }

    /// <summary>The vCPU's RFLAGS.IF. The guest sets it (STI/CLI through <see cref="GuestContext"/>,
    /// STI;HLT, interrupt entry and IRET); device models must leave it alone.</summary>
    public bool InterruptsEnabled
    {
        get => _interruptsEnabled;
        set
        {
            _interruptsEnabled = value;
            if (value && DeliverableMask != 0)
                _kvm.OnInterruptDeliverable();
        }
    }

    /// <summary>The vector the guest sees for <paramref name="gsi"/> (VectorBase + gsi, as the PICs are
    /// programmed).</summary>
    public static uint VectorOf(uint gsi) => VectorBase + gsi;

    /// <summary>Whether <paramref name="gsi"/> is a line this irqchip has (below GsiMax).</summary>
    public static bool IsValidGsi(uint gsi) => gsi < GsiMax;

    /// <summary>Requests not masked and not in service, regardless of IF.</summary>
    private ulong DeliverableMask => _pending & ~_masked & ~_inService;

    /// <summary>True when the vCPU would take an interrupt now (IF=1 and a deliverable request).</summary>
    public bool CanDeliver => _interruptsEnabled && DeliverableMask != 0;

    /// <summary>True when a deliverable request waits, whatever IF says.</summary>
    public bool HasPendingRequest => DeliverableMask != 0;

    /// <summary>Whether the input line of <paramref name="gsi"/> is high now.</summary>
    public bool IsAsserted(uint gsi) => (_asserted & Bit(gsi)) != 0;

    /// <summary>Whether <paramref name="gsi"/> is requested and not yet taken by the vCPU (IRR).</summary>
    public bool IsPending(uint gsi) => (_pending & Bit(gsi)) != 0;

    /// <summary>Whether the vCPU took <paramref name="gsi"/> and has not yet written its EOI (ISR).</summary>
    public bool IsInService(uint gsi) => (_inService & Bit(gsi)) != 0;

    /// <summary>Whether <paramref name="gsi"/> is masked (IMR).</summary>
    public bool IsMasked(uint gsi) => (_masked & Bit(gsi)) != 0;

    /// <summary>Whether <paramref name="gsi"/> is level-triggered (ELCR) rather than edge-triggered.</summary>
    public bool IsLevelTriggered(uint gsi) => (_level & Bit(gsi)) != 0;

    /// <summary>Chooses level (true) or edge (false, the default) triggering for a GSI.</summary>
    public void SetLevelTriggered(uint gsi, bool level)
    {
        ulong bit = Bit(gsi);
        _level = level ? _level | bit : _level & ~bit;
    }

    /// <summary>Masks or unmasks <paramref name="gsi"/> (a guest write of the IMR).</summary>
    public void SetMasked(uint gsi, bool masked)
    {
        ulong bit = Bit(gsi);
        _masked = masked ? _masked | bit : _masked & ~bit;
        if (!masked && CanDeliver)
            _kvm.OnInterruptDeliverable();
    }

    /// <summary>Drives the line high. A rising edge (or a level line going high) requests the
    /// interrupt unless a request is already pending (then it coalesces). Returns true when a new
    /// request was latched. <paramref name="source"/> is the trace Source (irqfd id + 1, or 0 for a
    /// direct line).</summary>
    public bool Raise(uint gsi, uint source = 0)
    {
        ulong bit = Bit(gsi);
        if ((_asserted & bit) != 0)
        {
            _kvm.Counters.InterruptsCoalesced++;
            return false;
        }
        _asserted |= bit;
        if (_externalMode)
            return ForwardRaise(gsi, source);
        return Request(gsi, bit, source);
    }

    private bool ForwardRaise(uint gsi, uint source)
    {
        _kvm.Counters.InterruptsInjected++;
        _kvm.Simulation.Emit(TraceEventKind.IrqInject, source, gsi, VectorOf(gsi), default);
        External?.SetLine(gsi, true);
        return true;
    }

    /// <summary>Drives the line low. On a level GSI an undelivered request is withdrawn.</summary>
    public void Lower(uint gsi)
    {
        ulong bit = Bit(gsi);
        if (_externalMode)
        {
            if ((_asserted & bit) != 0)
                External?.SetLine(gsi, false);
            _asserted &= ~bit;
            return;
        }
        _asserted &= ~bit;
        if ((_level & bit) != 0)
            _pending &= ~bit;
    }

    /// <summary>An edge: raise then lower (an edge irqfd's injection, an MSI). Returns true when a
    /// new request was latched.</summary>
    public bool Pulse(uint gsi, uint source = 0)
    {
        if (_externalMode)
        {
            Bit(gsi); // range check
            _kvm.Counters.InterruptsInjected++;
            _kvm.Simulation.Emit(TraceEventKind.IrqInject, source, gsi, VectorOf(gsi), default);
            // Source = irqfd id + 1 (IrqFdBinding): the real irqchip may inject through its own irqfd.
            if (source != 0)
                External?.IrqFdInject(source - 1, gsi, VectorOf(gsi));
            else
                External?.Pulse(gsi, VectorOf(gsi));
            return true;
        }
        bool latched = Raise(gsi, source);
        Lower(gsi);
        if (IsLevelTriggered(gsi) && latched)
        {
            // A pulse on a level GSI still delivers once: keep the request Lower withdrew.
            _pending |= Bit(gsi);
        }
        return latched;
    }

    private bool Request(uint gsi, ulong bit, uint source)
    {
        if ((_pending & bit) != 0)
        {
            _kvm.Counters.InterruptsCoalesced++;
            return false;
        }
        _pending |= bit;
        _kvm.Counters.InterruptsInjected++;
        _kvm.Simulation.Emit(TraceEventKind.IrqInject, source, gsi, VectorOf(gsi), default);
        if (CanDeliver)
            _kvm.OnInterruptDeliverable();
        return true;
    }

    /// <summary>The vCPU accepts the highest-priority deliverable request (lowest GSI): it moves from
    /// pending to in service. False when IF=0 or nothing is deliverable.</summary>
    public bool TryAcknowledge(out uint gsi)
    {
        ulong deliverable = DeliverableMask;
        if (!_interruptsEnabled || deliverable == 0)
        {
            gsi = 0;
            return false;
        }
        gsi = Narrow.AsUInt32Bits(BitOperations.TrailingZeroCount(deliverable));
        ulong bit = 1UL << Narrow.AsInt32Bits(gsi);
        _pending &= ~bit;
        _inService |= bit;
        return true;
    }

    /// <summary>End of interrupt for <paramref name="gsi"/>. Returns false (and does nothing) when the
    /// GSI is not in service: a spurious EOI from the guest is ignored, as the IOAPIC ignores an EOI
    /// for a vector it did not deliver. Resampling irqfds are notified (they lower the line and
    /// signal their resample fd) before a still-high level line re-requests.</summary>
    public bool Eoi(uint gsi)
    {
        if (!IsValidGsi(gsi))
            return false;
        ulong bit = 1UL << Narrow.AsInt32Bits(gsi);
        if ((_inService & bit) == 0)
            return false;
        _inService &= ~bit;
        _kvm.Counters.Eois++;
        _kvm.Simulation.Emit(TraceEventKind.IrqEoi, 0, gsi, VectorOf(gsi), default);
        _kvm.OnEoi(gsi);
        if ((_level & bit) != 0 && (_asserted & bit) != 0)
        {
            Request(gsi, bit, 0);
        }
        else if (CanDeliver)
        {
            _kvm.OnInterruptDeliverable();
        }
        return true;
    }

    private static ulong Bit(uint gsi)
    {
        if (gsi >= GsiMax)
            throw new ArgumentOutOfRangeException(nameof(gsi), gsi, $"GSI must be below {GsiMax}");
        return 1UL << Narrow.AsInt32Bits(gsi);
    }
}
