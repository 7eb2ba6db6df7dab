namespace Sim.Devices.Virtio.Queue;

/// <summary>Why a queue configuration written by the driver (size, ring addresses) was refused when the
/// queue was sized or enabled. The transport decides what the guest sees (QEMU mostly ignores the write).</summary>
public enum QueueConfigError : byte
{
    /// <summary>Accepted.</summary>
    None = 0,

    /// <summary>Queue size is 0, not a power of two, or above the device's maximum (VIRTIO 1.2 §2.7;
    /// QEMU virtio_queue_set_num ignores such sizes).</summary>
    BadSize,

    /// <summary>The descriptor table is not 16-byte aligned (VIRTIO 1.2 §2.7 alignment table).</summary>
    DescTableMisaligned,

    /// <summary>The available ring is not 2-byte aligned (VIRTIO 1.2 §2.7).</summary>
    AvailRingMisaligned,

    /// <summary>The used ring is not 4-byte aligned (VIRTIO 1.2 §2.7).</summary>
    UsedRingMisaligned,

    /// <summary>The descriptor table does not lie inside one guest memory region (QEMU's vring cache fails to
    /// map).</summary>
    DescTableOutsideMemory,

    /// <summary>The available ring (including used_event) does not lie inside one guest memory region.</summary>
    AvailRingOutsideMemory,

    /// <summary>The used ring (including avail_event) does not lie inside one guest memory region.</summary>
    UsedRingOutsideMemory,

    /// <summary>A restored state is inconsistent (in-use count above the queue size, or indices that cannot
    /// occur).</summary>
    BadState,
}
