namespace Sim.Devices.Vhost;

/// <summary>The step of <see cref="VhostBackendStarter"/> that failed (QEMU reports the failing ioctl and falls back
/// to userspace virtio).</summary>
public enum VhostStartStep
{
    None = 0,
    SetOwner,
    GetFeatures,
    SetFeatures,
    SetMemTable,
    SetVringNum,
    SetVringBase,

    /// <summary>vhost_memory_map of a ring failed: the ring is not in guest RAM (QEMU: -ENOMEM; reported here as
    /// <see cref="VhostResult.Fault"/>).</summary>
    MapRing,
    SetVringAddr,
    SetVringKick,
    SetVringCall,

    /// <summary>The device-specific backend ioctl (<see cref="IVhostBackend.SetRunning"/>).</summary>
    SetRunning,
    GetVringBase,
}
