using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Random;
using Sim.Engine.Time;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;

namespace Sim.Machine.Simulation;

/// <summary>
/// One simulated machine and its run: the event loop, the root PRNG, guest memory, the KVM model,
/// the counters, the guest's console output and the trace emitter. A run is a pure function of
/// (scenario, <see cref="SimulationOptions"/>): nothing here reads a clock, a global random source
/// or hash-ordered collections.
/// <para>
/// Tracing: <see cref="Emit"/> stamps <see cref="EventLoop.Now"/>, hands the event to every sink,
/// folds it into <see cref="EventHash"/> and, every <see cref="SimulationOptions.CheckpointInterval"/>
/// events, emits a Checkpoint (Value = event hash so far, Address = guest-memory content hash).
/// Checkpoints are neither counted nor hashed. With no sink and checkpoints off, events are only
/// counted. Attach sinks before <see cref="Run"/>: the hash covers events from then on.
/// </para>
/// </summary>
public sealed class Simulation
{
    /// <summary>PRNG stream of the guest program (<see cref="Prng.Fork"/> id). Ids below 16 are the
    /// engine's; device models and scenarios fork with ids of 16 and up.</summary>
    public const ulong GuestPrngStream = 1;

    /// <summary>Most guest console lines kept (later ones are counted in <see cref="OutputLinesDropped"/>).</summary>
    public const int OutputLinesMax = 100_000;

    /// <summary>Most debug-port values kept.</summary>
    public const int DebugValuesMax = 100_000;

    /// <summary>Most trace sinks one simulation feeds.</summary>
    public const int SinksMax = 8;

    /// <summary>Most memory observers (checkers, taint) one simulation attaches.</summary>
    public const int MemoryObserversMax = 8;

    /// <summary>Most eventfds one simulation creates.</summary>
    public const int EventFdsMax = 4096;

    /// <summary>Most virtual timers one simulation creates.</summary>
    public const int TimersMax = 4096;

    private readonly List<string> _output = new();
    private readonly List<ulong> _debugValues = new();
    private readonly List<EventFd> _eventFds = new();
    private readonly List<VirtualTimer> _timers = new();
    private readonly MemoryTraceObserver _memoryObserver;
    private ITraceSink[] _sinks = [];
    private StableHash64 _hash = new();
    private bool _hashing;
    private long _nextCheckpoint;

    /// <summary>A simulation with <paramref name="options"/>: memory laid out, the machine built, nothing run
    /// yet.</summary>
    public Simulation(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        if (!GuestMemory.TryCreate(options.MemoryLayout, out GuestMemory? memory, out string? error))
        {
            throw new ArgumentException($"invalid memory layout: {error}", nameof(options));
        }
        Memory = memory;
        Loop = new EventLoop { EventsMax = options.EventsMax };
        Prng = new Prng(options.Seed);
        Counters = new RunCounters();
        Kvm = new KvmModel(this, options.Latency);
        _memoryObserver = new MemoryTraceObserver(this);
        Memory.Observer = _memoryObserver;
        _hashing = options.CheckpointInterval > 0;
        _nextCheckpoint = options.CheckpointInterval;
    }

    /// <summary>The options it was built with.</summary>
    public SimulationOptions Options { get; }

    /// <summary>The event loop (virtual clock and ordered events).</summary>
    public EventLoop Loop { get; }

    /// <summary>The root PRNG, seeded with <see cref="SimulationOptions.Seed"/>. Subsystems take their
    /// own stream with <c>Prng.Fork(id)</c>.</summary>
    public Prng Prng { get; }

    /// <summary>The guest memory.</summary>
    public GuestMemory Memory { get; }

    /// <summary>The KVM machine model (buses, irqchip, vCPU).</summary>
    public KvmModel Kvm { get; }

    /// <summary>What happened in the run, counted.</summary>
    public RunCounters Counters { get; }

    /// <summary>Current virtual time in ns.</summary>
    public long Now => Loop.Now;

    /// <summary>Guest console lines, in order.</summary>
    public IReadOnlyList<string> Output => _output;

    /// <summary>Console lines dropped once the output cap was reached.</summary>
    public long OutputLinesDropped { get; private set; }

    /// <summary>Values the guest wrote to the debug port, in order.</summary>
    public IReadOnlyList<ulong> DebugValues => _debugValues;

    /// <summary>Every eventfd created, in creation order.</summary>
    public IReadOnlyList<EventFd> EventFds => _eventFds;

    /// <summary>Every virtual timer created, in creation order.</summary>
    public IReadOnlyList<VirtualTimer> Timers => _timers;

    /// <summary>Trace events emitted (checkpoints excluded).</summary>
    public long EventCount { get; private set; }

    /// <summary>Running hash of every emitted event (kind, time, source, address, value, data).</summary>
    public ulong EventHash => _hash.Finish();

    /// <summary>True when events go anywhere (a sink or the hash): device models may skip building
    /// trace-only data otherwise.</summary>
    public bool IsTracing => _hashing;

    /// <summary>Source recorded on DeviceRead/DeviceWrite events: device models set it to their id
    /// while they touch guest memory.</summary>
    public uint MemoryTraceSource { get; set; }

    /// <summary>True once the guest program has ended.</summary>
    public bool GuestExited { get; private set; }

    /// <summary>Why the last <see cref="Run"/> returned.</summary>
    public StopReason StopReason { get; private set; }

    /// <summary>Adds a trace sink (at most <see cref="SinksMax"/>); it receives every event from now on.</summary>
    public void AddSink(ITraceSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (_sinks.Length >= SinksMax)
            throw new InvalidOperationException($"at most {SinksMax} trace sinks");
        _sinks = [.. _sinks, sink];
        _hashing = true;
    }

    /// <summary>Adds an observer of guest-memory accesses (a checker) next to the trace observer.</summary>
    public void AddMemoryObserver(IMemoryObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        _memoryObserver.Add(observer);
    }

    /// <summary>Records one trace event at the current virtual time.</summary>
    public void Emit(TraceEventKind kind, uint source, ulong address, ulong value, ReadOnlySpan<byte> data)
    {
        EventCount++;
        if (!_hashing)
            return;
        var ev = new TraceEvent(kind, Loop.Now, source, address, value, data);
        ITraceSink[] sinks = _sinks;
        for (int i = 0; i < sinks.Length; i++)
            sinks[i].Write(in ev);
        _hash.AddUInt64((ulong)kind | ((ulong)source << 32));
        _hash.AddUInt64(Narrow.AsUInt64Bits(ev.Time));
        _hash.AddUInt64(address);
        _hash.AddUInt64(value);
        _hash.AddUInt64(Narrow.AsUInt64Bits(data.Length));
        _hash.Add(data);
        if (Options.CheckpointInterval > 0 && EventCount >= _nextCheckpoint)
        {
            _nextCheckpoint = checked(_nextCheckpoint + Options.CheckpointInterval);
            EmitCheckpoint();
        }
    }

    /// <summary>Emits a Checkpoint now (Value = event hash, Address = memory content hash) to the
    /// sinks. Not counted or hashed.</summary>
    public void EmitCheckpoint()
    {
        var ev = new TraceEvent(TraceEventKind.Checkpoint, Loop.Now, 0, Memory.CheckpointHash(), EventHash, default);
        ITraceSink[] sinks = _sinks;
        for (int i = 0; i < sinks.Length; i++)
            sinks[i].Write(in ev);
    }

    /// <summary>A host actor (worker thread, QEMU main loop) was switched to: counts a context switch
    /// and emits ContextSwitch. The caller charges <see cref="LatencyModel.ContextSwitchNs"/> itself
    /// when it schedules the actor.</summary>
    public void RecordContextSwitch(uint actor, ulong reason)
    {
        Counters.ContextSwitches++;
        Emit(TraceEventKind.ContextSwitch, actor, 0, reason, default);
    }

    /// <summary>Creates an eventfd numbered in creation order (0, 1, ...).</summary>
    public EventFd CreateEventFd(bool semaphore = false, string name = "")
    {
        if (_eventFds.Count >= EventFdsMax)
            throw new InvalidOperationException($"more than {EventFdsMax} eventfds");
        var fd = new EventFd(this, Narrow.AsUInt32Bits(_eventFds.Count), semaphore, name);
        _eventFds.Add(fd);
        return fd;
    }

    /// <summary>Creates a disarmed timer numbered in creation order; arm it with
    /// <see cref="VirtualTimer.Start"/>.</summary>
    public VirtualTimer CreateTimer(
        ITimerListener? listener,
        string name = "",
        long ticksMax = VirtualTimer.TicksMaxDefault
    )
    {
        if (ticksMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(ticksMax), "must be positive");
        if (_timers.Count >= TimersMax)
            throw new InvalidOperationException($"more than {TimersMax} timers");
        var timer = new VirtualTimer(this, Narrow.AsUInt32Bits(_timers.Count), name, listener, ticksMax);
        _timers.Add(timer);
        return timer;
    }

    /// <summary>Appends a guest console line.</summary>
    public void Print(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (_output.Count >= OutputLinesMax)
        {
            OutputLinesDropped++;
            return;
        }
        _output.Add(line);
    }

    internal void RecordDebugValue(ulong value)
    {
        if (_debugValues.Count < DebugValuesMax)
            _debugValues.Add(value);
    }

    internal void OnGuestExited()
    {
        GuestExited = true;
        if (Options.StopOnGuestExit)
            Loop.Stop();
    }

    /// <summary>Runs until idle, <see cref="SimulationOptions.TimeMax"/>,
    /// <see cref="SimulationOptions.EventsMax"/> events, or a stop (the guest exiting, with
    /// <see cref="SimulationOptions.StopOnGuestExit"/>).</summary>
    public StopReason Run()
    {
        StopReason = Loop.Run(Options.TimeMax);
        Counters.TimeNs = Loop.Now;
        return StopReason;
    }
}
