namespace Sim.Engine.Trace;

/// <summary>Why reading a trace stopped: where (absolute byte offset) and what was expected there.
/// Created only on failure.</summary>
public sealed class TraceError
{
    /// <summary>An error of <paramref name="kind"/> at byte <paramref name="offset"/>.</summary>
    public TraceError(TraceErrorKind kind, long offset, string message)
    {
        Kind = kind;
        Offset = offset;
        Message = message;
    }

    /// <summary>What kind of fault (truncated, malformed, too large, ...).</summary>
    public TraceErrorKind Kind { get; }

    /// <summary>Absolute offset in the trace file of the value at fault.</summary>
    public long Offset { get; }

    /// <summary>"byte 1234: expected event array of 6 items, found map (0x85)".</summary>
    public string Message { get; }

    /// <summary>The message.</summary>
    public override string ToString() => Message;
}
