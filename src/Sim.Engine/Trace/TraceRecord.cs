namespace Sim.Engine.Trace;

/// <summary>An owned copy of a <see cref="TraceEvent"/> (for <see cref="TraceLog"/> and tests).
/// Equality compares the data bytes, not the array reference.</summary>
public readonly record struct TraceRecord(TraceEventKind Kind, long Time, uint Source, ulong Address, ulong Value, ReadOnlyMemory<byte> Data)
{
    public static TraceRecord From(in TraceEvent ev) => new(ev.Kind, ev.Time, ev.Source, ev.Address, ev.Value, ev.Data.ToArray());

    public TraceEvent ToEvent() => new(Kind, Time, Source, Address, Value, Data.Span);

    public bool Equals(TraceRecord other) =>
        Kind == other.Kind && Time == other.Time && Source == other.Source && Address == other.Address
        && Value == other.Value && Data.Span.SequenceEqual(other.Data.Span);

    public override int GetHashCode() => HashCode.Combine(Kind, Time, Source, Address, Value, Data.Length);

    public override string ToString() => ToEvent().ToString();
}
