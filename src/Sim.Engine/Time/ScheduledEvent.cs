namespace Sim.Engine.Time;

/// <summary>An event in the loop's queue: a handler with two small integer arguments. A struct, so
/// scheduling allocates nothing. Ordered by (Time, Sequence): equal times keep submission order.</summary>
public readonly struct ScheduledEvent
{
    /// <summary>An event firing at <paramref name="time"/> that calls <paramref name="handler"/> with
    /// <paramref name="kind"/> and <paramref name="argument"/>.</summary>
    public ScheduledEvent(long time, ulong sequence, IEventHandler handler, int kind, long argument)
    {
        Time = time;
        Sequence = sequence;
        Handler = handler;
        Kind = kind;
        Argument = argument;
    }

    /// <summary>Virtual time in nanoseconds at which the event fires.</summary>
    public long Time { get; }

    /// <summary>Submission number: breaks ties between equal times in FIFO order.</summary>
    public ulong Sequence { get; }

    /// <summary>What runs when the event fires.</summary>
    public IEventHandler Handler { get; }

    /// <summary>Handler-defined event kind.</summary>
    public int Kind { get; }

    /// <summary>Handler-defined argument.</summary>
    public long Argument { get; }

    /// <summary>True when this event fires before <paramref name="other"/>.</summary>
    public bool Precedes(in ScheduledEvent other) =>
        Time < other.Time || (Time == other.Time && Sequence < other.Sequence);
}
