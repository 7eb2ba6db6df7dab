namespace Sim.Devices.Vhost;

/// <summary>A vhost device driver as the VMM sees it: the generic ioctls on <see cref="Device"/> plus its own
/// "start/stop the data path" ioctl (vhost-net VHOST_NET_SET_BACKEND, vhost-vsock VHOST_VSOCK_SET_RUNNING,
/// vhost-test VHOST_TEST_RUN).</summary>
public interface IVhostBackend
{
    /// <summary>The vhost device (the vrings and their control plane) this backend serves.</summary>
    VhostDevice Device { get; }

    /// <summary>Attaches (true) or detaches (false) the backend of every vring.</summary>
    VhostResult SetRunning(bool running);
}
