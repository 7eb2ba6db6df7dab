using Sim.Engine.Memory;
using Sim.Machine.Kvm;

namespace Sim.Devices.Vhost;

/// <summary>What QEMU's vhost_virtqueue_start passes for one vring: the queue size and guest-physical ring addresses
/// the driver configured, the index to resume from (virtio_queue_get_last_avail_idx), the kick eventfd (the
/// ioeventfd's: the host notifier) and the call eventfd (the irqfd's: the guest notifier), or null to leave
/// unbound.</summary>
public readonly record struct VhostRingStart(
    int Num,
    GuestAddress DescTable,
    GuestAddress AvailRing,
    GuestAddress UsedRing,
    ushort LastAvailIdx,
    EventFd? Kick,
    EventFd? Call
);
