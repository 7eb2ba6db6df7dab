namespace Sim.Engine.Trace;

/// <summary>Why a trace could not be read further.</summary>
public enum TraceErrorKind : byte
{
    /// <summary>The trace ends before its footer: a cut-short recording. Events read so far are valid.</summary>
    Truncated = 1,

    /// <summary>Bytes that are not a virtsim trace of this version (bad MessagePack, wrong shape, bad zlib).</summary>
    Malformed,

    /// <summary>A length or count above a named limit (<see cref="TraceFormat"/>, the reader's nesting
    /// depth).</summary>
    LimitExceeded,

    /// <summary>Well-formed but self-contradictory: footer counts or hashes that disagree with the
    /// events, memory outside the layout, a memory hash mismatch.</summary>
    Inconsistent,

    /// <summary>The trace's format version or layout cannot be used by this build.</summary>
    Unsupported,

    /// <summary>The underlying stream failed.</summary>
    Io,
}
