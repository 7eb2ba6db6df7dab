using Sim.Machine.Kvm;

namespace Sim.Devices.Vhost;

/// <summary>
/// struct vhost_poll on a vring's kick eventfd: while started it sits on the eventfd's wait queue, and every
/// signal (vhost_poll_wakeup, EPOLLIN) queues the vring's work (vhost_poll_queue). Vhost never reads the kick
/// eventfd: its counter only grows, so a later <see cref="Start"/> on the same eventfd finds it readable and queues
/// the work at once (vhost_poll_start's vfs_poll).
/// </summary>
public sealed class VhostPoll : IEventFdListener
{
    private readonly VhostVirtqueue _vq;

    internal VhostPoll(VhostVirtqueue vq) => _vq = vq;

    /// <summary>The eventfd being polled (poll-&gt;wqh != NULL), or null.</summary>
    public EventFd? Polling { get; private set; }

    /// <summary>Wake-ups received.</summary>
    public long Wakeups { get; private set; }

    /// <summary>vhost_poll_start: no-op if already polling.</summary>
    internal void Start(EventFd fd)
    {
        if (Polling is not null)
            return;
        fd.AddListener(this);
        Polling = fd;
        if (fd.IsReadable)
            OnSignalled(fd);
    }

    /// <summary>vhost_poll_stop.</summary>
    internal void Stop()
    {
        if (Polling is null)
            return;
        Polling.RemoveListener(this);
        Polling = null;
    }

    /// <summary>vhost_poll_wakeup → vhost_poll_queue (the device uses a worker).</summary>
    public void OnSignalled(EventFd fd)
    {
        Wakeups++;
        _vq.PollQueue();
    }
}
