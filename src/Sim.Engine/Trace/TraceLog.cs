namespace Sim.Engine.Trace;

/// <summary>An in-memory <see cref="ITraceSink"/> that keeps owned copies of every event (for tests
/// and small tools). Bounded by <see cref="EventsMax"/>.</summary>
public sealed class TraceLog : ITraceSink
{
    /// <summary>Default for <see cref="EventsMax"/>.</summary>
    public const int EventsMaxDefault = 1_000_000;

    private readonly List<TraceRecord> _records = [];

    /// <summary>An empty log that holds at most <paramref name="eventsMax"/> events.</summary>
    public TraceLog(int eventsMax = EventsMaxDefault)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(eventsMax);
        EventsMax = eventsMax;
    }

    /// <summary>Most events kept; writing more is host misuse and throws.</summary>
    public int EventsMax { get; }

    /// <summary>Events held.</summary>
    public int Count => _records.Count;

    /// <summary>Events held, in order.</summary>
    public IReadOnlyList<TraceRecord> Records => _records;

    /// <summary>Event <paramref name="index"/>.</summary>
    public TraceRecord this[int index] => _records[index];

    /// <summary>Keeps an owned copy of <paramref name="ev"/>; throws past <see cref="EventsMax"/>.</summary>
    public void Write(in TraceEvent ev)
    {
        if (_records.Count >= EventsMax)
            throw new InvalidOperationException($"trace log holds at most {EventsMax} events");
        _records.Add(TraceRecord.From(ev));
    }

    /// <summary>Hands every recorded event, in order, to <paramref name="sink"/>.</summary>
    public void ReplayTo(ITraceSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        foreach (TraceRecord r in _records)
            sink.Write(r.ToEvent());
    }

    /// <summary>Forgets every event.</summary>
    public void Clear() => _records.Clear();
}
