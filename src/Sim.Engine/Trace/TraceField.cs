namespace Sim.Engine.Trace;

/// <summary>Which part of an event (or of the stream) a <see cref="TraceDivergence"/> is about.</summary>
public enum TraceField : byte
{
    Kind = 1,
    Time,
    Source,
    Address,
    Value,
    Data,

    /// <summary>One side has an event where the other has none (the trace ended, or the live run did).</summary>
    Presence,

    /// <summary>The expected trace could not be read at this point (<see cref="TraceDivergence.Expected"/> holds the
    /// error).</summary>
    TraceUnreadable,
}
