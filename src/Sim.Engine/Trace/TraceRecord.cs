namespace Sim.Engine.Trace;

/// <summary>An owned copy of a <see cref="TraceEvent"/> (for <see cref="TraceLog"/> and tests).
/// Equality compares the data bytes, not the array reference.</summary>
public readonly record struct TraceRecord(
    TraceEventKind Kind,
    long Time,
    uint Source,
    ulong Address,
    ulong Value,
    ReadOnlyMemory<byte> Data
)
{
    /// <summary>An owned copy of <paramref name="ev"/>.</summary>
    public static TraceRecord From(in TraceEvent ev) =>
        new(ev.Kind, ev.Time, ev.Source, ev.Address, ev.Value, ev.Data.ToArray());

    /// <summary>The event, its data pointing at this record's bytes.</summary>
    public TraceEvent ToEvent() => new(Kind, Time, Source, Address, Value, Data.Span);

    /// <summary>Equal when every field and every data byte is.</summary>
    public bool Equals(TraceRecord other) =>
        Kind == other.Kind
        && Time == other.Time
        && Source == other.Source
        && Address == other.Address
        && Value == other.Value
        && Data.Span.SequenceEqual(other.Data.Span);

    /// <summary>A hash of the fields and the data length.</summary>
    public override int GetHashCode() => HashCode.Combine(Kind, Time, Source, Address, Value, Data.Length);

    /// <summary>One line for diagnostics.</summary>
    public override string ToString() => ToEvent().ToString();
}
