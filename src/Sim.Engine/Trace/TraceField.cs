namespace Sim.Engine.Trace;

/// <summary>Which part of an event (or of the stream) a <see cref="TraceDivergence"/> is about.</summary>
public enum TraceField : byte
{
    /// <summary>The event kind.</summary>
    Kind = 1,

    /// <summary>The event time.</summary>
    Time,

    /// <summary>The event source (actor).</summary>
    Source,

    /// <summary>The event address.</summary>
    Address,

    /// <summary>The event value.</summary>
    Value,

    /// <summary>The event data bytes.</summary>
    Data,

    /// <summary>One side has an event where the other has none (the trace ended, or the live run did).</summary>
    Presence,

    /// <summary>The expected trace could not be read at this point (<see cref="TraceDivergence.Expected"/> holds the
    /// error).</summary>
    TraceUnreadable,
}
