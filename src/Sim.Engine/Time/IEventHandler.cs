namespace Sim.Engine.Time;

/// <summary>An actor that receives its scheduled events (a vCPU, "KVM", a host thread, a device
/// timer). Actors act only through events, so the order of everything is the loop's order.</summary>
public interface IEventHandler
{
    /// <summary>Handles <paramref name="ev"/> at <see cref="EventLoop.Now"/> == <c>ev.Time</c>.</summary>
    void Handle(EventLoop loop, in ScheduledEvent ev);
}
