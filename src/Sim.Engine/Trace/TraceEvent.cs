namespace Sim.Engine.Trace;

/// <summary>
/// One event of a trace. A <c>ref struct</c> so that <see cref="Data"/> can point at the bytes in
/// place (guest memory, a reader's buffer) and writing or reading an event allocates nothing.
/// Copy <see cref="Data"/> if it must outlive the call it was handed to.
/// </summary>
public readonly ref struct TraceEvent
{
    /// <summary>An event; <paramref name="data"/> is referenced, not copied.</summary>
    public TraceEvent(TraceEventKind kind, long time, uint source, ulong address, ulong value, ReadOnlySpan<byte> data)
    {
        Kind = kind;
        Time = time;
        Source = source;
        Address = address;
        Value = value;
        Data = data;
    }

    /// <summary>What happened.</summary>
    public TraceEventKind Kind { get; }

    /// <summary>Virtual (or, for KVM recordings, host-monotonic) time in nanoseconds since the run began.</summary>
    public long Time { get; }

    /// <summary>Which actor, eventfd, timer or device the event concerns (kind-specific).</summary>
    public uint Source { get; }

    /// <summary>The address involved (bus offset, guest address, GSI), by kind.</summary>
    public ulong Address { get; }

    /// <summary>The value involved (access size, vector, count), by kind.</summary>
    public ulong Value { get; }

    /// <summary>The bytes involved (read or written data), by kind; may be empty.</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>One line for diagnostics.</summary>
    public override string ToString() =>
        $"{Time, 12} {Kind, -13} src={Source} addr=0x{Address:x} val=0x{Value:x} len={Data.Length}";
}
