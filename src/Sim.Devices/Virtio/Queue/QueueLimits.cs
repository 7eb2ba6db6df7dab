using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Queue;

/// <summary>Host-side limits of the queue code (STYLE item 7): every loop over guest data is bounded by one of
/// these.</summary>
public static class QueueLimits
{
    /// <summary>Most iovecs (readable + writable) one popped element may hold: QEMU's VIRTQUEUE_MAX_SIZE (1024).
    /// A descriptor that spans several guest regions takes one iovec per region, as dma_memory_map splits it.</summary>
    public const int IovecsMax = 1024;

    /// <summary>Most descriptors an indirect table may hold. VIRTIO 1.2 §2.7.5.3.1 bounds a chain by the queue
    /// size; QEMU has no separate bound (its walk stops at <see cref="IovecsMax"/>), Linux vhost rejects tables of
    /// more than 65536 entries ("Indirect buffer length too big").</summary>
    public const int IndirectDescriptorsMax = VirtioSpec.QueueSizeMax;

    /// <summary>Most descriptors a chain walk (SplitQueue's TryWalkTable) reads before it stops: the head plus every
    /// entry of the largest table it may walk (a chain never visits more entries than its table holds, else it is a
    /// loop).</summary>
    public const int ChainDescriptorsMax = 1 + IndirectDescriptorsMax;
}
