namespace Sim.Spec.Virtio;

/// <summary>
/// Split-virtqueue layout and flag constants from VIRTIO 1.2 §2.7 (the only place they are defined;
/// <c>VirtioSpecTests</c> asserts the relationships between them). All fields are little-endian
/// (VIRTIO 1.2 §2.7: "le16"/"le32"/"le64"; legacy rings on x86 are little-endian too).
/// </summary>
public static class VirtioSpec
{
    // ---- Descriptor table, VIRTIO 1.2 §2.7.5 ----

    /// <summary>One descriptor: addr (le64) + len (le32) + flags (le16) + next (le16) = 16 bytes.</summary>
    public const int DescSize = 16;

    /// <summary>Offset of <c>addr</c> (le64) in a descriptor.</summary>
    public const int DescAddrOffset = 0;

    /// <summary>Offset of <c>len</c> (le32): after addr (le64).</summary>
    public const int DescLenOffset = 8;

    /// <summary>Offset of <c>flags</c> (le16): after addr (le64) + len (le32).</summary>
    public const int DescFlagsOffset = 12;

    /// <summary>Offset of <c>next</c> (le16): after addr (le64) + len (le32) + flags (le16).</summary>
    public const int DescNextOffset = 14;

    /// <summary>VIRTQ_DESC_F_NEXT: the buffer continues via the <c>next</c> field (§2.7.5).</summary>
    public const ushort DescFNext = 1;

    /// <summary>VIRTQ_DESC_F_WRITE: the buffer is device write-only (otherwise device read-only) (§2.7.5).</summary>
    public const ushort DescFWrite = 2;

    /// <summary>VIRTQ_DESC_F_INDIRECT: the buffer holds a table of descriptors (§2.7.5.3).</summary>
    public const ushort DescFIndirect = 4;

    /// <summary>Descriptor table alignment (§2.7 table "Virtqueue Part Alignment").</summary>
    public const int DescAlign = 16;

    // ---- Available ring, VIRTIO 1.2 §2.7.6 ----

    /// <summary>Offset of <c>flags</c> (le16) in the available ring.</summary>
    public const int AvailFlagsOffset = 0;

    /// <summary>Offset of <c>idx</c> (le16): after flags (le16).</summary>
    public const int AvailIdxOffset = 2;

    /// <summary>Offset of <c>ring[]</c>: after flags (le16) + idx (le16).</summary>
    public const int AvailRingOffset = 4;

    /// <summary>One available-ring entry: a descriptor head index (le16).</summary>
    public const int AvailElemSize = 2;

    /// <summary>Size of <c>used_event</c> (le16), which follows <c>ring[queue size]</c> (§2.7.10).</summary>
    public const int AvailUsedEventSize = 2;

    /// <summary>VIRTQ_AVAIL_F_NO_INTERRUPT: the driver asks not to be interrupted (§2.7.7, without
    /// EVENT_IDX).</summary>
    public const ushort AvailFNoInterrupt = 1;

    /// <summary>Available ring alignment (§2.7).</summary>
    public const int AvailAlign = 2;

    // ---- Used ring, VIRTIO 1.2 §2.7.8 ----

    /// <summary>Offset of <c>flags</c> (le16) in the used ring.</summary>
    public const int UsedFlagsOffset = 0;

    /// <summary>Offset of <c>idx</c> (le16): after flags (le16).</summary>
    public const int UsedIdxOffset = 2;

    /// <summary>Offset of <c>ring[]</c>: after flags (le16) + idx (le16).</summary>
    public const int UsedRingOffset = 4;

    /// <summary>One used element: id (le32) + len (le32) = 8 bytes.</summary>
    public const int UsedElemSize = 8;

    /// <summary>Offset of <c>id</c> (le32) in a used element.</summary>
    public const int UsedElemIdOffset = 0;

    /// <summary>Offset of <c>len</c> (le32) in a used element: after id (le32).</summary>
    public const int UsedElemLenOffset = 4;

    /// <summary>Size of <c>avail_event</c> (le16), which follows <c>ring[queue size]</c> (§2.7.10).</summary>
    public const int UsedAvailEventSize = 2;

    /// <summary>VIRTQ_USED_F_NO_NOTIFY: the device asks not to be kicked (§2.7.10, without EVENT_IDX).</summary>
    public const ushort UsedFNoNotify = 1;

    /// <summary>Used ring alignment (§2.7).</summary>
    public const int UsedAlign = 4;

    // ---- Queue geometry ----

    /// <summary>Largest split queue size: "Queue Size ... max 32768" (§2.7; sizes are powers of two).</summary>
    public const int QueueSizeMax = 32768;

    /// <summary>Legacy interfaces place the used ring at the next QUEUE_ALIGN (4096) boundary after the
    /// available ring (VIRTIO 1.2 §2.7.2 "Legacy Interfaces: A Note on Virtqueue Layout").</summary>
    public const int LegacyQueueAlign = 4096;

    // ---- Feature bits, VIRTIO 1.2 §6 ----

    /// <summary>VIRTIO_F_NOTIFY_ON_EMPTY (legacy, bit 24): notify when the queue runs empty.</summary>
    public const int FNotifyOnEmpty = 24;

    /// <summary>VIRTIO_F_INDIRECT_DESC (bit 28): indirect descriptor tables (§2.7.5.3).</summary>
    public const int FIndirectDesc = 28;

    /// <summary>VIRTIO_F_EVENT_IDX (bit 29): used_event / avail_event suppression (§2.7.10).</summary>
    public const int FEventIdx = 29;

    /// <summary>VIRTIO_F_VERSION_1 (bit 32): modern device.</summary>
    public const int FVersion1 = 32;

    /// <summary>Bytes of a descriptor table: 16 × queue size (§2.7).</summary>
    public static ulong DescTableSize(int queueSize) => checked((ulong)queueSize * DescSize);

    /// <summary>Bytes of an available ring: flags + idx + ring[queue size] + used_event = 6 + 2 × queue size
    /// (§2.7).</summary>
    public static ulong AvailRingSize(int queueSize) =>
        checked(AvailRingOffset + ((ulong)queueSize * AvailElemSize) + AvailUsedEventSize);

    /// <summary>Bytes of a used ring: flags + idx + ring[queue size] + avail_event = 6 + 8 × queue size
    /// (§2.7).</summary>
    public static ulong UsedRingSize(int queueSize) =>
        checked(UsedRingOffset + ((ulong)queueSize * UsedElemSize) + UsedAvailEventSize);

    /// <summary>Offset of <c>used_event</c> in the available ring: after ring[queue size] (§2.7.10).</summary>
    public static ulong AvailUsedEventOffset(int queueSize) =>
        checked(AvailRingOffset + ((ulong)queueSize * AvailElemSize));

    /// <summary>Offset of <c>avail_event</c> in the used ring: after ring[queue size] (§2.7.10).</summary>
    public static ulong UsedAvailEventOffset(int queueSize) =>
        checked(UsedRingOffset + ((ulong)queueSize * UsedElemSize));

    /// <summary>True for a valid split queue size: a power of two from 1 to <see cref="QueueSizeMax"/>
    /// (§2.7).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static bool IsValidQueueSize(int queueSize) =>
        queueSize <= QueueSizeMax && System.Numerics.BitOperations.IsPow2(queueSize);
}
