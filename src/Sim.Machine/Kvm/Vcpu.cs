using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Engine.Trace;

namespace Sim.Machine.Kvm;

// Scoped inside the namespace: from Sim.Machine.*, a file-level using would lose to the sibling namespace Simulation.
using Sim.Machine.Simulation;

/// <summary>
/// The vCPU actor. Each of its events runs one step of the guest program: first a pending HLT is
/// resolved (block unless an interrupt is deliverable), then deliverable interrupts are taken (the
/// handler runs with IF=0), then the program's iterator advances once. The next step is scheduled at
/// now + the step's cost + <see cref="LatencyModel.GuestStepNs"/> (+ Compute ns). A blocked vCPU is
/// woken by the irqchip (after <see cref="LatencyModel.HaltWakeupNs"/>), as kvm_vcpu_kick wakes a
/// vCPU thread sleeping in KVM_RUN.
/// </summary>
public sealed class Vcpu : IEventHandler
{
    /// <summary>Most interrupts taken between two steps (a device that re-raises on every EOI
    /// cannot starve the program forever).</summary>
    public const int InterruptsPerStepMax = 2 * InterruptController.GsiMax;

    private readonly KvmModel _kvm;
    private GuestProgram? _program;
    private IEnumerator<VcpuStep>? _iterator;
    private GuestContext? _context;
    private bool _haltNext;
    private bool _eventScheduled;

    internal Vcpu(KvmModel kvm) => _kvm = kvm;

    /// <summary>Idle, running, halted or exited.</summary>
    public VcpuState State { get; private set; }

    /// <summary>Steps executed (iterator advances).</summary>
    public long Steps { get; private set; }

    /// <summary>HLTs that blocked.</summary>
    public long HaltsBlocked { get; private set; }

    /// <summary>The guest context of the running program (null before <see cref="Start"/>).</summary>
    public GuestContext? Context => _context;

    /// <summary>Starts <paramref name="program"/> <paramref name="delay"/> ns from now. One program per vCPU.</summary>
    public void Start(GuestProgram program, long delay = 0)
    {
        ArgumentNullException.ThrowIfNull(program);
        if (State != VcpuState.Idle)
            throw new InvalidOperationException("the vCPU already ran a program");
        _program = program;
        _context = new GuestContext(_kvm, _kvm.Simulation.Prng.Fork(Simulation.GuestPrngStream));
        State = VcpuState.Running;
        ScheduleStep(delay);
    }

    private void ScheduleStep(long delay)
    {
        _eventScheduled = true;
        _kvm.Simulation.Loop.Schedule(delay, this);
    }

    /// <summary>The irqchip has a deliverable interrupt and IF=1: wake a halted vCPU.</summary>
    internal void OnInterruptDeliverable()
    {
        if (State == VcpuState.Halted && !_eventScheduled)
            ScheduleStep(_kvm.Latency.HaltWakeupNs);
    }

    void IEventHandler.Handle(EventLoop loop, in ScheduledEvent ev)
    {
        _eventScheduled = false;
        GuestContext context = _context!;
        InterruptController chip = _kvm.Irqchip;
        Simulation sim = _kvm.Simulation;
        if (State == VcpuState.Exited)
            return;
        if (State == VcpuState.Halted)
        {
            if (!chip.CanDeliver)
                return; // woken for nothing (the request went away): keep blocking
            State = VcpuState.Running;
        }
        context.Cost = 0;
        using (sim.Memory.As(MemoryActor.Guest))
        {
            if (_haltNext)
            {
                _haltNext = false;
                chip.InterruptsEnabled = true; // STI; HLT: the HLT sits in the STI shadow
                _kvm.Counters.Halts++;
                if (!chip.CanDeliver)
                {
                    State = VcpuState.Halted;
                    HaltsBlocked++;
                    sim.Emit(TraceEventKind.Halt, 0, 0, 1, default);
                    return;
                }
                sim.Emit(TraceEventKind.Halt, 0, 0, 0, default);
            }
            // The program's body starts on the first step, so accesses in its prologue are charged to it.
            _iterator ??= _program!.Run(context);
            DeliverInterrupts(context, chip);
            Steps++;
            if (!_iterator.MoveNext())
            {
                Exit();
                return;
            }
            VcpuStep step = _iterator.Current;
            long delay = checked(context.Cost + _kvm.Latency.GuestStepNs);
            if (step.Kind == VcpuStepKind.Halt)
                _haltNext = true;
            else
                delay = checked(delay + step.Nanoseconds);
            ScheduleStep(delay);
        }
    }

    private void DeliverInterrupts(GuestContext context, InterruptController chip)
    {
        for (int i = 0; i < InterruptsPerStepMax && chip.TryAcknowledge(out uint gsi); i++)
        {
            _kvm.Counters.InterruptsDelivered++;
            context.Cost = checked(context.Cost + _kvm.Latency.InterruptDeliveryNs);
            chip.InterruptsEnabled = false; // interrupt gate clears IF
            _program!.OnInterrupt(context, gsi);
            chip.InterruptsEnabled = true; // IRET restores it
        }
    }

    private void Exit()
    {
        State = VcpuState.Exited;
        _iterator?.Dispose();
        _kvm.Simulation.OnGuestExited();
    }
}
