namespace Sim.Machine.Kvm;

/// <summary>
/// Woken synchronously when an <see cref="EventFd"/> is signalled, as a wait-queue callback is by
/// Linux's eventfd_signal (vhost_poll_wakeup, irqfd_wakeup, a poll loop). A listener must not do its
/// work inline: it schedules its own follow-up event with the appropriate latency (worker wake-up,
/// irqfd injection), so that every actor acts through the event loop.
/// </summary>
public interface IEventFdListener
{
    /// <summary>Called when <paramref name="fd"/> is signalled (its counter rose).</summary>
    void OnSignalled(EventFd fd);
}
