namespace Sim.Devices.Vhost;

/// <summary>struct vhost_vring_addr for VHOST_SET_VRING_ADDR: the ring addresses in the VMM's address space
/// (userspace addresses, not guest-physical), flags (only VHOST_VRING_F_LOG, bit 0, is known) and the log
/// address.</summary>
public readonly record struct VhostVringAddr(
    ulong DescUserAddr,
    ulong AvailUserAddr,
    ulong UsedUserAddr,
    uint Flags = 0,
    ulong LogGuestAddr = 0
)
{
    /// <summary>VHOST_VRING_F_LOG (bit 0): log used-ring writes. Accepted, not modelled (no dirty log).</summary>
    public const uint FLog = 1;
}
