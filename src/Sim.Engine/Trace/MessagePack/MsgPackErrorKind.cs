namespace Sim.Engine.Trace.MessagePack;

/// <summary>Why a <see cref="MsgPackReader"/> stopped.</summary>
public enum MsgPackErrorKind : byte
{
    /// <summary>The stream ended inside a value (or where a value was required).</summary>
    Truncated = 1,

    /// <summary>The byte 0xc1, which msgpack spec.md reserves ("never used").</summary>
    ReservedByte,

    /// <summary>A value of another type than the caller asked for.</summary>
    WrongType,

    /// <summary>A length, count or nesting depth above the reader's named limit.</summary>
    LimitExceeded,

    /// <summary>An integer outside the range the caller asked for.</summary>
    OutOfRange,

    /// <summary>A str whose bytes are not valid UTF-8 (msgpack spec.md: str holds UTF-8).</summary>
    InvalidUtf8,

    /// <summary>The underlying stream failed to read.</summary>
    Io,
}
