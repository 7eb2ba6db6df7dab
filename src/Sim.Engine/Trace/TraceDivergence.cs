namespace Sim.Engine.Trace;

/// <summary>
/// The first place a live run differs from its trace: which event (0-based index), at what time and
/// of what kind (the expected event's when there is one), which field, and both values as text.
/// For data, <see cref="DataDiff"/> holds a hex window around the first differing byte.
/// </summary>
public sealed class TraceDivergence
{
    /// <summary>A divergence at event <paramref name="eventIndex"/>.</summary>
    public TraceDivergence(
        ulong eventIndex,
        long time,
        TraceEventKind kind,
        TraceField field,
        string expected,
        string actual,
        string? dataDiff
    )
    {
        EventIndex = eventIndex;
        Time = time;
        Kind = kind;
        Field = field;
        Expected = expected;
        Actual = actual;
        DataDiff = dataDiff;
    }

    /// <summary>0-based index of the divergent event.</summary>
    public ulong EventIndex { get; }

    /// <summary>The expected event's time (the live event's when the trace had none).</summary>
    public long Time { get; }

    /// <summary>The expected event's kind (the live event's when the trace had none).</summary>
    public TraceEventKind Kind { get; }

    /// <summary>Which field differs.</summary>
    public TraceField Field { get; }

    /// <summary>The trace's value, as text.</summary>
    public string Expected { get; }

    /// <summary>The live run's value, as text.</summary>
    public string Actual { get; }

    /// <summary>Hex window of both data payloads around the first differing byte, or null.</summary>
    public string? DataDiff { get; }

    /// <summary>One line naming the event and field, both values, then the data window if any.</summary>
    public override string ToString()
    {
        string head = $"event {EventIndex} (t={Time}, {Kind}): {Field} differs: expected {Expected}, actual {Actual}";
        return DataDiff is null ? head : head + Environment.NewLine + DataDiff;
    }
}
