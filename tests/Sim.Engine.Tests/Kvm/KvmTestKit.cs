using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Engine.Tests.Kvm;

/// <summary>A guest program made of a local iterator function and an optional handler.</summary>
internal sealed class ScriptProgram : GuestProgram
{
    private readonly Func<GuestContext, IEnumerable<VcpuStep>> _body;
    private readonly Action<GuestContext, uint>? _handler;

    public ScriptProgram(Func<GuestContext, IEnumerable<VcpuStep>> body, Action<GuestContext, uint>? handler = null)
    {
        _body = body;
        _handler = handler;
    }

    public List<(uint Gsi, long Time)> Interrupts { get; } = new();

    public override IEnumerator<VcpuStep> Run(GuestContext guest) => _body(guest).GetEnumerator();

    public override void OnInterrupt(GuestContext guest, uint gsi)
    {
        Interrupts.Add((gsi, guest.Now));
        if (_handler is null)
            guest.Eoi(gsi);
        else
            _handler(guest, gsi);
    }
}

/// <summary>A trace event with its data copied out.</summary>
internal sealed record RecordedEvent(
    TraceEventKind Kind,
    long Time,
    uint Source,
    ulong Address,
    ulong Value,
    byte[] Data
);

internal sealed class RecordingSink : ITraceSink
{
    public List<RecordedEvent> Events { get; } = new();

    public void Write(in TraceEvent ev) =>
        Events.Add(new RecordedEvent(ev.Kind, ev.Time, ev.Source, ev.Address, ev.Value, ev.Data.ToArray()));

    public IEnumerable<RecordedEvent> Of(TraceEventKind kind) => Events.Where(e => e.Kind == kind);
}

/// <summary>A bus device with a byte array behind it, logging every access.</summary>
internal sealed class ArrayDevice : IBusDevice
{
    private readonly byte[] _bytes;

    public ArrayDevice(int size) => _bytes = new byte[size];

    public List<(ulong Offset, byte[] Data)> Writes { get; } = new();

    public List<(ulong Offset, int Length)> Reads { get; } = new();

    public byte[] Bytes => _bytes;

    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        Reads.Add((offset, data.Length));
        _bytes.AsSpan((int)offset, data.Length).CopyTo(data);
    }

    public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data)
    {
        Writes.Add((offset, data.ToArray()));
        data.CopyTo(_bytes.AsSpan((int)offset));
    }
}

/// <summary>Counts wake-ups of an eventfd.</summary>
internal sealed class CountingListener : IEventFdListener
{
    public int Calls { get; private set; }

    public void OnSignalled(EventFd fd) => Calls++;
}

internal static class KvmTestKit
{
    public static Sim.Machine.Simulation.Simulation NewSimulation(ulong seed = 1, long checkpointInterval = 0) =>
        new(
            new SimulationOptions
            {
                Seed = seed,
                MemoryLayout = MemoryLayout.Single(64 * 1024),
                CheckpointInterval = checkpointInterval,
            }
        );

    public static RecordingSink Record(this Sim.Machine.Simulation.Simulation sim)
    {
        var sink = new RecordingSink();
        sim.AddSink(sink);
        return sink;
    }
}
