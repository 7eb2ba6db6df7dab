using System.Text;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Oracles;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The events of one execution, as a finding trace sees them (<see cref="Engine.FindingTrace"/>): the simulation's
/// sinks (<see cref="FuzzContext.Attach"/>), the accesses to bare guest memory (<see cref="FuzzContext.Observe"/>) and
/// directly emitted device accesses (<c>FuzzContext.Emit</c>), then one verdict event. The recorder writes them
/// to a trace file; the checker compares them with one. Single use: one instance per execution.
/// <para>
/// The first memory attached is the trace's initial memory (its layout goes into the header, its contents at that
/// moment into the memory section); the last one attached gives the footer's memory hash. A target that attaches no
/// memory gets a placeholder page. Host bytes this class allocates are counted in <see cref="AllocatedBytes"/>, which
/// the executor leaves out of the resource oracle: recording must not change a verdict.
/// </para>
/// </summary>
internal abstract class ExecutionTrace : ITraceSink
{
    /// <summary>Source id of the verdict event (a DeviceResult no device uses).</summary>
    public const uint VerdictSource = uint.MaxValue;

    /// <summary>Verdict event Address when an oracle fired (Data = "oracle\nsite").</summary>
    public const ulong VerdictFired = 1;

    /// <summary>Verdict event Address when nothing fired.</summary>
    public const ulong VerdictClean = 0;

    /// <summary>Events kept one by one; later ones are folded into one hash (a finding trace stays small even when the
    /// execution livelocks through millions of events).</summary>
    public const ulong EventsKeptMax = 100_000;

    /// <summary>The memory used when a target attaches none: one zero page at 0.</summary>
    public static readonly MemoryLayout PlaceholderLayout = MemoryLayout.Single(GuestMemory.PageSize);

    private GuestMemory? _memory;
    private bool _begun;
    private long _lastTime;
    private TraceEventHash _folded = new();
    private ulong _foldedCount;

    /// <summary>Events handed on one by one so far (the fold checkpoint and the verdict included once
    /// written).</summary>
    public ulong Events { get; private set; }

    /// <summary>Time of the last event (0 before any).</summary>
    public long LastTime => _lastTime;

    /// <summary>Host bytes allocated while handling events (kept out of the resource oracle).</summary>
    public long AllocatedBytes { get; private set; }

    /// <summary>The memory whose content hash ends the trace: the last one attached, or the placeholder.</summary>
    protected GuestMemory? Memory => _memory;

    public void Write(in TraceEvent ev)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        if (!_begun)
            Begin(null);
        _lastTime = ev.Time;
        if (Events < EventsKeptMax)
        {
            Events++;
            OnEvent(ev);
        }
        else
        {
            _foldedCount++;
            _folded.Add(ev);
        }
        AllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;
    }

    internal void Attach(Simulation simulation)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Begin(simulation.Memory);
        simulation.AddSink(this);
        AllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;
    }

    internal IMemoryObserver Observe(GuestMemory memory, IMemoryObserver? inner, FuzzContext context)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Begin(memory);
        var observer = new Observer(this, inner, context);
        AllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;
        return observer;
    }

    internal void Emit(
        TraceEventKind kind,
        uint source,
        ulong address,
        ulong value,
        ReadOnlySpan<byte> data,
        long time
    ) => Write(new TraceEvent(kind, time, source, address, value, data));

    /// <summary>Ends the execution: past <see cref="EventsKeptMax"/> events, one Checkpoint from
    /// <see cref="VerdictSource"/> (Address = events folded, Value = their <see cref="TraceEventHash"/>); then the
    /// verdict event (DeviceResult from <see cref="VerdictSource"/>; Address
    /// <see cref="VerdictFired"/> or <see cref="VerdictClean"/>; Value the outcome; Data "oracle\nsite") at the last
    /// event's time, then lets the subclass finish.</summary>
    public void Finish(FindingReport? finding, FuzzOutcome outcome)
    {
        if (!_begun)
            Begin(null);
        if (_foldedCount > 0)
        {
            OnEvent(
                new TraceEvent(
                    TraceEventKind.Checkpoint,
                    _lastTime,
                    VerdictSource,
                    _foldedCount,
                    _folded.Value,
                    default
                )
            );
            Events++;
        }
        byte[] data = finding is null ? [] : Encoding.UTF8.GetBytes(finding.Oracle + "\n" + finding.Site);
        OnEvent(
            new TraceEvent(
                TraceEventKind.DeviceResult,
                _lastTime,
                VerdictSource,
                finding is null ? VerdictClean : VerdictFired,
                Narrow.AsUInt64Bits((int)outcome),
                data
            )
        );
        Events++;
        OnFinish(_memory!.ContentHash(HashScheme), _lastTime);
    }

    /// <summary>How the final memory is hashed: the current trace format's scheme; a checker of an older trace
    /// uses that trace's.</summary>
    protected virtual MemoryHashScheme HashScheme => MemoryHashScheme.PageWise;

    /// <summary>The trace starts: <paramref name="initial"/> is the initial memory (layout and contents).</summary>
    protected abstract void OnBegin(GuestMemory initial);

    protected abstract void OnEvent(in TraceEvent ev);

    /// <summary>After the verdict: the final memory hash and end time.</summary>
    protected abstract void OnFinish(ulong memoryHash, long endTime);

    private void Begin(GuestMemory? memory)
    {
        if (memory is null)
        {
            if (_begun)
                return;
            if (!GuestMemory.TryCreate(PlaceholderLayout, out memory, out string? error))
                throw new InvalidOperationException(error);
        }
        _memory = memory;
        if (_begun)
            return;
        _begun = true;
        OnBegin(memory);
    }

    /// <summary>Records accesses to bare guest memory as the simulation's trace observer does (device reads and
    /// writes, guest writes; guest reads change nothing), stamped with the step count, then forwards to the
    /// checker.</summary>
    private sealed class Observer(ExecutionTrace trace, IMemoryObserver? inner, FuzzContext context) : IMemoryObserver
    {
        public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
        {
            if (actor == MemoryActor.Device)
                trace.Emit(TraceEventKind.DeviceRead, 0, address.Value, 0, data, context.Steps);
            inner?.OnRead(actor, address, data);
        }

        public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
        {
            trace.Emit(
                actor == MemoryActor.Device ? TraceEventKind.DeviceWrite : TraceEventKind.GuestWrite,
                0,
                address.Value,
                0,
                data,
                context.Steps
            );
            inner?.OnWrite(actor, address, data);
        }
    }
}
