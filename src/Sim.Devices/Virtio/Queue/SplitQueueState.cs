using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// Everything a <see cref="SplitQueue"/> holds besides guest memory (STYLE item 1): its configuration and its
/// indices. Snapshot, replay and fuzzing need only this record and the memory.
/// Field names follow QEMU's VirtQueue (last_avail_idx, shadow_avail_idx, used_idx, inuse, signalled_used,
/// signalled_used_valid, notification).
/// </summary>
public readonly record struct SplitQueueState(
    int Size,
    GuestAddress DescTable,
    GuestAddress AvailRing,
    GuestAddress UsedRing,
    bool Ready,
    bool EventIdx,
    bool NotifyOnEmpty,
    RingIndex NextAvail,
    RingIndex ShadowAvail,
    RingIndex UsedIdx,
    int InUse,
    RingIndex SignalledUsed,
    bool SignalledUsedValid,
    bool NotificationEnabled
);
