namespace Sim.Engine.Trace.MessagePack;

/// <summary>
/// Why decoding failed: the absolute byte offset of the value that could not be read, what was
/// expected there and what was found. Created only on failure, so the happy path allocates nothing.
/// </summary>
public sealed class MsgPackError
{
    public MsgPackError(MsgPackErrorKind kind, long offset, string expected, string found)
    {
        Kind = kind;
        Offset = offset;
        Expected = expected;
        Found = found;
    }

    public MsgPackErrorKind Kind { get; }

    /// <summary>Absolute offset (from the start of the stream) of the value at fault.</summary>
    public long Offset { get; }

    public string Expected { get; }

    public string Found { get; }

    /// <summary>"byte 1234: expected uint32, found map (0x81)".</summary>
    public string Message => $"byte {Offset}: expected {Expected}, found {Found}";

    public override string ToString() => Message;
}
