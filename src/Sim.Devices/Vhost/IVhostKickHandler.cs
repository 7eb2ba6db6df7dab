namespace Sim.Devices.Vhost;

/// <summary>A vring's handle_kick (vq-&gt;handle_kick): the device's data path, run by the worker when the vring's
/// poll work is dequeued.</summary>
public interface IVhostKickHandler
{
    /// <summary>Runs the device's work for a kick of <paramref name="vq"/> (the vhost worker calls it).</summary>
    void HandleKick(VhostVirtqueue vq);
}
