namespace Sim.Machine.Simulation;

/// <summary>Called when a <see cref="VirtualTimer"/> expires (after it has re-armed itself if
/// periodic, so the listener may cancel or restart it).</summary>
public interface ITimerListener
{
    /// <summary>Called when <paramref name="timer"/> expires.</summary>
    void OnTimer(VirtualTimer timer);
}
