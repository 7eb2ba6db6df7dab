namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What <see cref="LockstepDriver"/> saw the input do during one run, for the rows of a QEMU difference table
/// (<see cref="Qemu72Differences"/>, <see cref="RngQemu72Differences"/>): facts about the input (registers it wrote,
/// rings and buffers it overlapped) and about the model (whether and why it broke, even when a later reset hid it).
/// A device's lockstep may derive from it to add facts of its own (<see cref="RngRunFacts"/>).
/// </summary>
internal class LockstepFacts
{
    /// <summary>Whether the model's device was broken at some point of the run (a reset may have cleared it).</summary>
    public bool ModelEverBroken { get; set; }

    /// <summary>Why the model's device broke, each time it broke during the run.</summary>
    public List<string> ModelBrokenReasons { get; } = [];

    /// <summary>The input wrote a common-config register at an offset that is not a multiple of the access size
    /// (QEMU's memory core splits it into aligned pieces: blk row <c>unaligned-register-write</c>).</summary>
    public bool UnalignedRegisterWrite { get; set; }

    /// <summary>The input wrote the device status register itself (op 11): QEMU stores the driver's byte.</summary>
    public bool DriverWroteStatus { get; set; }

    /// <summary>The input wrote queue_size with a value other than the queue's size: QEMU 7.2 takes it even on an
    /// enabled queue (virtio_queue_set_num), the robust model does not.</summary>
    public bool QueueSizeRewritten { get; set; }

    /// <summary>The input kicked while the model's status lacked DRIVER_OK (QEMU runs the handler anyway).</summary>
    public bool KickBeforeDriverOk { get; set; }

    /// <summary>The queue was given rings that overlap each other (<see cref="KickOverlap.RingsOverlap"/>).</summary>
    public bool RingsOverlap { get; set; }

    /// <summary>The queue was given a used ring over its available ring's idx or entries
    /// (<see cref="KickOverlap.UsedOverAvail"/>): a QEMU 7.2 hang there is the known bug
    /// <see cref="Qemu72Differences.HangUsedOverAvail"/>.</summary>
    public bool UsedOverAvail { get; set; }

    /// <summary>At some kick a buffer the device writes overlapped another available buffer or a ring
    /// (<see cref="KickOverlap.WritableOverlapsOther"/>).</summary>
    public bool BuffersOverlapInKick { get; set; }

    /// <summary>The input wrote the status or the feature registers itself: it can set, clear or prevent QEMU's
    /// NEEDS_RESET bit, so only QMP's <c>x-query-virtio-status</c> tells whether QEMU is broken.</summary>
    public bool GuestTouchedStatusOrFeatures { get; set; }

    /// <summary>Chains the model had not taken were available while the input did something other than kick (or when it
    /// ended): a QEMU device that looks at its queue outside kicks (virtio-rng's rate-limit timer, check_rate_limit →
    /// virtio_rng_process) may have served or walked them at a moment the model cannot know.</summary>
    public bool ChainsWaitedUnkicked { get; set; }

    /// <summary>At each kick on a ready queue with EVENT_IDX and a device not broken: the address of the kicked queue's
    /// avail_event field (used ring + 4 + 8 × size) and avail.idx after the model handled the kick, in kick order.
    /// QEMU 7.2's virtio_blk_handle_vq ends every kick with virtio_queue_set_notification(vq, 1), which stores
    /// avail.idx there even when it popped nothing (blk row <c>avail-event-left-by-driver</c>); the last entry for an
    /// address is what QEMU left in it.</summary>
    public List<(ulong Address, ushort AvailIdx)> AvailEventsAtKicks { get; } = [];

    public virtual void Clear()
    {
        AvailEventsAtKicks.Clear();
        ChainsWaitedUnkicked = false;
        ModelEverBroken = false;
        ModelBrokenReasons.Clear();
        UnalignedRegisterWrite = false;
        DriverWroteStatus = false;
        QueueSizeRewritten = false;
        KickBeforeDriverOk = false;
        RingsOverlap = false;
        UsedOverAvail = false;
        BuffersOverlapInKick = false;
        GuestTouchedStatusOrFeatures = false;
    }
}
