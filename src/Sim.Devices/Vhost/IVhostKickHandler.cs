namespace Sim.Devices.Vhost;

/// <summary>A vring's handle_kick (vq-&gt;handle_kick): the device's data path, run by the worker when the vring's
/// poll work is dequeued.</summary>
public interface IVhostKickHandler
{
    void HandleKick(VhostVirtqueue vq);
}
