using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>Compares one execution's events with a recorded finding trace (<see cref="FindingTrace"/>): the initial
/// memory (layout and content hash), every event (<see cref="TraceComparer"/>: the first divergence, precisely), the
/// verdict event, the footer's memory hash.</summary>
internal sealed class FindingTraceChecker : ExecutionTrace
{
    private readonly TraceReader _reader;
    private readonly TraceComparer _comparer;

    /// <param name="reader">Freshly opened (the initial memory is compared by hash, not read).</param>
    public FindingTraceChecker(TraceReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        _reader = reader;
        _comparer = new TraceComparer(reader);
    }

    /// <summary>Why the initial memory differs, or null.</summary>
    public string? InitialMemoryMismatch { get; private set; }

    /// <summary>The first event divergence (available after <see cref="ExecutionTrace.Finish"/>), or null.</summary>
    public TraceDivergence? Divergence => _comparer.Divergence;

    /// <summary>Live events compared.</summary>
    public ulong EventsSeen => _comparer.EventsSeen;

    /// <summary>Content hash of the live memory at the end (after <see cref="ExecutionTrace.Finish"/>).</summary>
    public ulong FinalMemoryHash { get; private set; }

    /// <summary>The finding trace's scheme (format 1: linear), for the initial and the final memory hash.</summary>
    protected override MemoryHashScheme HashScheme => _reader.Header.MemoryHashScheme;

    protected override void OnBegin(GuestMemory initial)
    {
        if (!initial.Layout.Regions.SequenceEqual(_reader.Header.MemoryLayout.Regions))
        {
            InitialMemoryMismatch =
                "the target's memory layout differs from the trace's: "
                + Describe(_reader.Header.MemoryLayout)
                + " recorded, "
                + Describe(initial.Layout)
                + " now";
            return;
        }
        ulong live = initial.ContentHash(HashScheme);
        if (live != _reader.InitialMemoryHash)
            InitialMemoryMismatch =
                $"initial guest memory differs: expected hash 0x{_reader.InitialMemoryHash:x16}, actual 0x{live:x16}";
    }

    protected override void OnEvent(in TraceEvent ev) => _comparer.Write(ev);

    protected override void OnFinish(ulong memoryHash, long endTime)
    {
        FinalMemoryHash = memoryHash;
        _comparer.Finish();
    }

    private static string Describe(MemoryLayout layout) =>
        string.Join(", ", layout.Regions.Select(r => $"[0x{r.Base:x}, +0x{r.Size:x})"));
}
