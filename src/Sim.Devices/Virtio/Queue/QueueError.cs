namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// Why the guest's ring contents could not be used (STYLE item 4). The queue never throws on guest data; it
/// returns one of these and the device layer turns it into QEMU's broken / NEEDS_RESET state (virtio_error,
/// VIRTIO 1.2 §2.1.2) or vhost's vq_err. Each member cites the QEMU hw/virtio/virtio.c message it mirrors.
/// </summary>
public enum QueueError : byte
{
    /// <summary>No error: the queue was empty, or a chain ended normally (last descriptor without NEXT).</summary>
    None = 0,

    /// <summary>avail.idx is more than the queue size ahead of last_avail_idx: QEMU virtqueue_num_heads
    /// "Guest moved used index from %u to %u".</summary>
    AvailIndexTooFar,

    /// <summary>An available-ring entry names a descriptor index &gt;= queue size: QEMU virtqueue_get_head
    /// "Guest says index %u is available".</summary>
    HeadOutOfRange,

    /// <summary>The device already holds queue-size elements and the guest offers another: QEMU
    /// virtqueue_split_pop "Virtqueue size exceeded".</summary>
    SizeExceeded,

    /// <summary>The descriptor table itself is not backed by guest memory (only when a chain is walked over a table the
    /// queue did not validate; QEMU's vring caches fail to map and reads return all-ones).</summary>
    DescTableOutsideMemory,

    /// <summary>A descriptor's <c>next</c> is &gt;= the size of its table: QEMU virtqueue_split_read_next_desc
    /// "Desc next is %u".</summary>
    NextOutOfRange,

    /// <summary>The chain visits more descriptors than its table holds, so it loops: QEMU virtqueue_split_pop
    /// "Looped descriptor".</summary>
    LoopedChain,

    /// <summary>An indirect descriptor's len is 0 or not a multiple of 16: QEMU virtqueue_split_pop
    /// "Invalid size for indirect buffer table".</summary>
    IndirectBadLength,

    /// <summary>An indirect table holds more than <see cref="QueueLimits.IndirectDescriptorsMax"/> descriptors
    /// (no QEMU message; Linux vhost get_indirect "Indirect buffer length too big").</summary>
    IndirectTooLarge,

    /// <summary>An indirect table does not lie inside one guest memory region: QEMU virtqueue_split_pop
    /// "Cannot map indirect buffer".</summary>
    IndirectTableOutsideMemory,

    /// <summary>A descriptor inside an indirect table has INDIRECT set (VIRTIO 1.2 §2.7.5.3.1 "MUST NOT"); QEMU's
    /// pop maps it as a plain buffer, Linux vhost get_indirect rejects it: "Nested indirect descriptor".</summary>
    NestedIndirect,

    /// <summary>A descriptor has both INDIRECT and NEXT (VIRTIO 1.2 §2.7.5.3.1 "MUST NOT"); QEMU ignores NEXT
    /// on the head (no message), Linux vhost follows NEXT after the table.</summary>
    IndirectWithNext,

    /// <summary>A descriptor after the head of a direct chain has INDIRECT; QEMU maps it as a plain buffer
    /// (no message), Linux vhost walks the table. Linux guests never build such chains.</summary>
    IndirectNotAtHead,

    /// <summary>A descriptor has len 0: QEMU virtqueue_map_desc "virtio: zero sized buffers are not allowed".</summary>
    ZeroLengthBuffer,

    /// <summary>addr + len of a descriptor wraps past 2^64: QEMU virtqueue_map_desc
    /// "virtio: bogus descriptor or out of resources".</summary>
    BufferAddressOverflow,

    /// <summary>A buffer is not entirely backed by guest memory: QEMU virtqueue_map_desc
    /// "virtio: bogus descriptor or out of resources".</summary>
    BufferOutsideMemory,

    /// <summary>A device-readable descriptor follows a device-writable one (VIRTIO 1.2 §2.7.4.2): QEMU
    /// virtqueue_split_pop "Incorrect order for descriptors".</summary>
    ReadableAfterWritable,

    /// <summary>The chain needs more than <see cref="QueueLimits.IovecsMax"/> iovecs: QEMU virtqueue_map_desc
    /// "virtio: too many write descriptors in indirect table" / "too many read descriptors".</summary>
    TooManyIovecs,
}
