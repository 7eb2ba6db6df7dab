namespace Sim.Guest.Virtio;

/// <summary>Why a driver queue marked itself broken (Linux virtio_ring BAD_RING, after which the queue refuses
/// all work until reset).</summary>
public enum DriverQueueError : byte
{
    /// <summary>Not broken.</summary>
    None = 0,

    /// <summary>A used entry's id is &gt;= the queue size: Linux "id %u out of range".</summary>
    UsedIdOutOfRange,

    /// <summary>A used entry's id is not the head of a chain the driver has outstanding: Linux "id %u is not a
    /// head!".</summary>
    UsedIdNotHead,

    /// <summary>used.idx moved more than the queue size past the driver's last seen index (the device published
    /// entries that cannot exist; Linux finds these as "is not a head!").</summary>
    UsedIdxTooFar,
}
