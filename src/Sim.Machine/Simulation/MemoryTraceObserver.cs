using Sim.Engine.Memory;
using Sim.Engine.Trace;

namespace Sim.Machine.Simulation;

/// <summary>Turns guest-memory accesses into trace events: device reads and writes (the side whose
/// accesses replay verifies) and guest writes (so a replay can reproduce the guest's stores); guest
/// reads change nothing and are not traced. Also fans accesses out to further observers.</summary>
internal sealed class MemoryTraceObserver : IMemoryObserver
{
    private readonly Simulation _simulation;
    private IMemoryObserver[] _extra = [];

    public MemoryTraceObserver(Simulation simulation) => _simulation = simulation;

    public void Add(IMemoryObserver observer)
    {
        if (_extra.Length >= Simulation.MemoryObserversMax)
            throw new InvalidOperationException($"at most {Simulation.MemoryObserversMax} memory observers");
        _extra = [.. _extra, observer];
    }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor == MemoryActor.Device)
            _simulation.Emit(TraceEventKind.DeviceRead, _simulation.MemoryTraceSource, address.Value, 0, data);
        foreach (IMemoryObserver o in _extra)
            o.OnRead(actor, address, data);
    }

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        TraceEventKind kind = actor == MemoryActor.Device ? TraceEventKind.DeviceWrite : TraceEventKind.GuestWrite;
        _simulation.Emit(
            kind,
            kind == TraceEventKind.DeviceWrite ? _simulation.MemoryTraceSource : 0,
            address.Value,
            0,
            data
        );
        foreach (IMemoryObserver o in _extra)
            o.OnWrite(actor, address, data);
    }
}
