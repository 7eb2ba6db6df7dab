namespace Sim.Devices.Vhost;

/// <summary>struct vhost_work: one unit of worker work (a vring's poll work). <see cref="Queued"/> is
/// VHOST_WORK_QUEUED: a work is on the worker's list at most once, so kicks that arrive before it runs coalesce.
/// The flag is cleared just before the work runs, so a work may requeue itself while running.</summary>
public sealed class VhostWork
{
    internal VhostWork(VhostVirtqueue vq, IVhostKickHandler handler)
    {
        Vq = vq;
        Handler = handler;
    }

    /// <summary>The vring the work is for.</summary>
    public VhostVirtqueue Vq { get; }

    /// <summary>What the work runs.</summary>
    public IVhostKickHandler Handler { get; }

    /// <summary>VHOST_WORK_QUEUED.</summary>
    public bool Queued { get; internal set; }

    /// <summary>Times this work was added to the worker's list.</summary>
    public long QueuedCount { get; internal set; }

    /// <summary>vhost_work_queue calls that found the work already queued (coalesced kicks).</summary>
    public long Coalesced { get; internal set; }

    /// <summary>Times it ran.</summary>
    public long Runs { get; internal set; }
}
