namespace Sim.Engine.Time;

/// <summary>Why <see cref="EventLoop.Run"/> returned.</summary>
public enum StopReason
{
    /// <summary>No events are left.</summary>
    Idle,

    /// <summary>The next event lies beyond the time limit given to Run.</summary>
    TimeLimit,

    /// <summary>The loop ran <see cref="EventLoop.EventsMax"/> events in this run (a livelock guard).</summary>
    EventLimit,

    /// <summary>A handler called <see cref="EventLoop.Stop"/>.</summary>
    Stopped,
}
