namespace Sim.Devices.Vhost;

/// <summary>The step of <see cref="VhostBackendStarter"/> that failed (QEMU reports the failing ioctl and falls back
/// to userspace virtio).</summary>
public enum VhostStartStep
{
    /// <summary>No step failed.</summary>
    None = 0,

    /// <summary>VHOST_SET_OWNER.</summary>
    SetOwner,

    /// <summary>VHOST_GET_FEATURES.</summary>
    GetFeatures,

    /// <summary>VHOST_SET_FEATURES.</summary>
    SetFeatures,

    /// <summary>VHOST_SET_MEM_TABLE.</summary>
    SetMemTable,

    /// <summary>VHOST_SET_VRING_NUM.</summary>
    SetVringNum,

    /// <summary>VHOST_SET_VRING_BASE.</summary>
    SetVringBase,

    /// <summary>vhost_memory_map of a ring failed: the ring is not in guest RAM (QEMU: -ENOMEM; reported here as
    /// <see cref="VhostResult.Fault"/>).</summary>
    MapRing,

    /// <summary>VHOST_SET_VRING_ADDR.</summary>
    SetVringAddr,

    /// <summary>VHOST_SET_VRING_KICK.</summary>
    SetVringKick,

    /// <summary>VHOST_SET_VRING_CALL.</summary>
    SetVringCall,

    /// <summary>The device-specific backend ioctl (<see cref="IVhostBackend.SetRunning"/>).</summary>
    SetRunning,

    /// <summary>VHOST_GET_VRING_BASE (at stop).</summary>
    GetVringBase,
}
