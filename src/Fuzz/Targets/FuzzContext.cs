using System.Runtime.CompilerServices;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Oracles;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// Per-execution services for a target: checkers report findings here, and loops count steps against the
/// engine's fallback hang budget. One instance is reused across executions (no allocation per execution);
/// only reporting a finding allocates.
/// </summary>
public sealed class FuzzContext
{
    /// <summary>Default fallback step budget: generous, far above what any sane execution needs. A target's
    /// own simulation budget (event-loop ticks) should fire first with a precise site.</summary>
    public const long DefaultStepsMax = 10_000_000;

    private long _steps;
    private int _shape;

    /// <summary>A context whose executions may take <paramref name="stepsMax"/> steps before <see cref="Step()"/>
    /// reports a hang.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="stepsMax"/> is not positive.</exception>
    public FuzzContext(long stepsMax = DefaultStepsMax)
    {
        if (stepsMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(stepsMax), "the step budget must be positive");
        StepsMax = stepsMax;
    }

    /// <summary>The step budget per execution.</summary>
    public long StepsMax { get; }

    /// <summary>Steps counted in the current execution.</summary>
    public long Steps => _steps;

    /// <summary>The first finding reported in the current execution, or null.</summary>
    public FindingReport? Finding { get; private set; }

    /// <summary>Where targets may narrate what they decode (set when reproducing a single input), else null.</summary>
    public TextWriter? Log { get; set; }

    /// <summary>Where the execution's events go while a finding's trace is recorded or replayed
    /// (<see cref="Engine.FindingTrace"/>), else null: campaigns never set it, so the hooks below cost one null
    /// test.</summary>
    internal ExecutionTrace? Trace { get; set; }

    /// <summary>Hook for targets that build a <see cref="Simulation"/>: call once, before running it, so a recorded
    /// or replayed finding trace sees its events (MMIO, kicks, device reads and writes of guest memory, interrupts).
    /// Does nothing unless <see cref="Trace"/> is set.</summary>
    public void Attach(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        Trace?.Attach(simulation);
    }

    /// <summary>Hook for targets that drive bare <see cref="GuestMemory"/>: the observer to install
    /// (<c>memory.Observer = context.Observe(memory, checker)</c>). Returns <paramref name="inner"/> itself unless
    /// <see cref="Trace"/> is set; then a wrapper that also records device reads and writes and guest writes.</summary>
    public IMemoryObserver? Observe(GuestMemory memory, IMemoryObserver? inner)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return Trace is { } trace ? trace.Observe(memory, inner, this) : inner;
    }

    /// <summary>Hook for targets without a simulation or memory (a device driven directly): records one event, stamped
    /// with the step count as its time. Does nothing unless <see cref="Trace"/> is set.</summary>
    public void Emit(TraceEventKind kind, uint source, ulong address, ulong value, ReadOnlySpan<byte> data) =>
        Trace?.Emit(kind, source, address, value, data, _steps);

    /// <summary>Like <see cref="Emit(TraceEventKind, uint, ulong, ulong, ReadOnlySpan{byte})"/> for a target whose
    /// device runs on a <see cref="Simulation"/>: the event is stamped with the simulation's virtual time, so it sorts
    /// with the simulation's own events (register accesses a target makes straight on the bus, which no vCPU exit
    /// records).</summary>
    public void Emit(
        Simulation simulation,
        TraceEventKind kind,
        uint source,
        ulong address,
        ulong value,
        ReadOnlySpan<byte> data
    )
    {
        ArgumentNullException.ThrowIfNull(simulation);
        Trace?.Emit(kind, source, address, value, data, simulation.Now);
    }

    /// <summary>Records a driver register access a target made straight on a bus as the exit it stands for (MMIO or
    /// port I/O, Value = size, Data = the bytes written or returned), at the simulation's time.</summary>
    public void EmitBusAccess(Simulation simulation, BusKind bus, bool write, ulong address, ReadOnlySpan<byte> data)
    {
        if (Trace is null)
            return;
        TraceEventKind kind =
            bus == BusKind.Mmio
                ? (write ? TraceEventKind.MmioWrite : TraceEventKind.MmioRead)
                : (write ? TraceEventKind.PioOut : TraceEventKind.PioIn);
        Emit(simulation, kind, 0, address, (ulong)data.Length, data);
    }

    /// <summary>Counts one step of a loop; throws <see cref="FuzzHangException"/> past
    /// <see cref="StepsMax"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step()
    {
        if (++_steps > StepsMax)
            ThrowHang();
    }

    /// <summary>Counts <paramref name="count"/> steps at once.</summary>
    public void Step(long count)
    {
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), "step count must not be negative");
        _steps = count > long.MaxValue - _steps ? long.MaxValue : _steps + count;
        if (_steps > StepsMax)
            ThrowHang();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowHang() => throw new FuzzHangException($"execution exceeded its step budget of {StepsMax} steps");

    /// <summary>Reports that <paramref name="oracle"/> fired at <paramref name="site"/> (a stable name: checker
    /// and rule, e.g. "used-ring/len-exceeds-writable" — never a value from the input). The first report of an
    /// execution wins; later ones are ignored.</summary>
    public void Report(string oracle, string site, string message)
    {
        if (Finding is not null)
            return;
        Finding = new FindingReport(FuzzOracle.Sanitize(oracle), site, message, null)
        {
            Shape = FindingShape.Name(_shape),
        };
    }

    /// <summary>Checkers call this when the device takes a request (a chain fetched from the available ring): its
    /// readable and writable byte totals become the shape of any finding reported after it
    /// (<see cref="FindingShape"/>).</summary>
    public void NoteRequest(ulong readableBytes, ulong writableBytes) =>
        _shape = FindingShape.Code(readableBytes, writableBytes);

    /// <summary>Reports when <paramref name="condition"/> is false. Returns <paramref name="condition"/>.</summary>
    public bool Check(bool condition, string oracle, string site, string message)
    {
        if (!condition)
            Report(oracle, site, message);
        return condition;
    }

    /// <summary>Reports a hang detected by the target's own budget (e.g. its event loop stopped on a tick
    /// limit).</summary>
    public void ReportHang(string site, string message) => Report(FuzzOracle.Hang, site, message);

    internal void Reset()
    {
        _steps = 0;
        _shape = 0;
        Finding = null;
    }

    internal void SetFinding(FindingReport report) => Finding = report with { Shape = FindingShape.Name(_shape) };
}
