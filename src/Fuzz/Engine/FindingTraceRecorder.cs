using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>Writes one execution's events as a trace (<see cref="FindingTrace"/>): the header is completed with the
/// layout of the first memory the target attaches, whose contents become the initial memory.</summary>
internal sealed class FindingTraceRecorder : ExecutionTrace, IDisposable
{
    private readonly Stream _stream;
    private readonly TraceHeader _header;
    private TraceWriter? _writer;

    /// <param name="stream">Receives the trace; left open.</param>
    /// <param name="header">Everything but the memory layout, which the execution supplies.</param>
    public FindingTraceRecorder(Stream stream, TraceHeader header)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(header);
        _stream = stream;
        _header = header;
    }

    protected override void OnBegin(GuestMemory initial)
    {
        var header = new TraceHeader
        {
            VirtsimVersion = _header.VirtsimVersion,
            GitCommit = _header.GitCommit,
            Seed = _header.Seed,
            Scenario = _header.Scenario,
            Options = _header.Options,
            Origin = TraceOrigin.Simulated,
            Devices = _header.Devices,
            MemoryLayout = initial.Layout,
            CheckpointIntervalEvents = 0,
        };
        _writer = new TraceWriter(_stream, header, initial, leaveOpen: true);
    }

    protected override void OnEvent(in TraceEvent ev) => _writer!.Write(ev);

    protected override void OnFinish(ulong memoryHash, long endTime) => _writer!.Complete(memoryHash, endTime);

    public void Dispose() => _writer?.Dispose();
}
