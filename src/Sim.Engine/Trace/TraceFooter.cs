namespace Sim.Engine.Trace;

/// <summary>
/// The last object of a complete trace. A trace without it was cut short (crash, full disk):
/// <see cref="TraceReader"/> reports that as <see cref="TraceErrorKind.Truncated"/>.
/// </summary>
public sealed class TraceFooter
{
    /// <summary>A footer for a trace of <paramref name="eventCount"/> events; kinds counted 0 are dropped.</summary>
    public TraceFooter(
        ulong eventCount,
        IReadOnlyDictionary<TraceEventKind, ulong> countsByKind,
        ulong memoryHash,
        ulong eventHash,
        long endTime
    )
    {
        ArgumentNullException.ThrowIfNull(countsByKind);
        EventCount = eventCount;
        var sorted = new SortedDictionary<TraceEventKind, ulong>();
        foreach (KeyValuePair<TraceEventKind, ulong> kv in countsByKind)
        {
            if (kv.Value != 0)
                sorted.Add(kv.Key, kv.Value);
        }
        CountsByKind = sorted;
        MemoryHash = memoryHash;
        EventHash = eventHash;
        EndTime = endTime;
    }

    /// <summary>Events in the trace ("events").</summary>
    public ulong EventCount { get; }

    /// <summary>Non-zero event counts by kind, ascending ("events_by_kind": array of [kind, count] pairs).</summary>
    public IReadOnlyDictionary<TraceEventKind, ulong> CountsByKind { get; }

    /// <summary><see cref="Memory.GuestMemory.ContentHash(Memory.MemoryHashScheme)"/> of guest memory at the end
    /// ("memory_hash").</summary>
    public ulong MemoryHash { get; }

    /// <summary><see cref="TraceEventHash"/> over every event ("event_hash").</summary>
    public ulong EventHash { get; }

    /// <summary>Time the run ended, ns ("end_time"); not before the last event.</summary>
    public long EndTime { get; }
}
