namespace Sim.Devices.Vhost;

/// <summary>
/// Why vhost called vq_err (drivers/vhost/vhost.c), each member naming the Linux message. A vq_err is logged (here:
/// a <see cref="Sim.Engine.Trace.TraceEventKind.DeviceResult"/> event, Address = this code, Value = a detail such as
/// the descriptor index) and signals the vring's error eventfd if one is set; the data path then stops handling the
/// current kick. Unlike QEMU's virtio_error, the vring is not marked broken: the next kick tries again (and, as
/// last_avail_idx was not advanced, usually meets the same bad chain).
/// </summary>
public enum VqErrorCode
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary>"Failed to access avail idx at %p" (EFAULT).</summary>
    AvailIdxAccess = 1,

    /// <summary>"Guest moved used index from %u to %u": avail idx more than num ahead of last_avail_idx
    /// (EFAULT).</summary>
    GuestMovedUsedIndex = 2,

    /// <summary>"Failed to read head: idx %d address %p" (EFAULT).</summary>
    HeadRead = 3,

    /// <summary>"Guest says index %u &gt; %u is available": a head &gt;= num (EINVAL).</summary>
    HeadOutOfRange = 4,

    /// <summary>"Desc index is %u &gt; %u, head = %u": a next &gt;= num (EINVAL).</summary>
    DescIndexOutOfRange = 5,

    /// <summary>"Loop detected: last one at %u vq size %u head %u": more than num descriptors (EINVAL).</summary>
    LoopDetected = 6,

    /// <summary>"Failed to get descriptor: idx %d addr %p" (EFAULT).</summary>
    DescRead = 7,

    /// <summary>"Invalid length in indirect descriptor: len 0x%llx not multiple of 0x%zx" (EINVAL).</summary>
    IndirectBadLength = 8,

    /// <summary>"Translation failure %d in indirect.": the table is not mapped (EFAULT) or needs too many
    /// iovecs.</summary>
    IndirectTranslation = 9,

    /// <summary>"Indirect buffer length too big: %d": more than 65536 entries (E2BIG).</summary>
    IndirectTooBig = 10,

    /// <summary>"Loop detected: last one at %u indirect size %u": the indirect chain runs past its table (EINVAL).
    /// Also a zero-length table (count 0).</summary>
    IndirectLoopDetected = 11,

    /// <summary>"Failed indirect descriptor: idx %d, %zx": the table could not be read (EINVAL).</summary>
    IndirectDescRead = 12,

    /// <summary>"Nested indirect descriptor: idx %d, %zx" (EINVAL).</summary>
    NestedIndirect = 13,

    /// <summary>"Indirect descriptor has out after in: idx %d" (EINVAL).</summary>
    IndirectOutAfterIn = 14,

    /// <summary>"Translation failure %d indirect idx %d": a buffer of the indirect table (EFAULT / ENOBUFS).</summary>
    IndirectBufferTranslation = 15,

    /// <summary>"Translation failure %d descriptor idx %d": a buffer is not mapped (EFAULT) or the chain needs more
    /// than UIO_MAXIOV iovecs (ENOBUFS).</summary>
    Translation = 16,

    /// <summary>"Descriptor has out after in: idx %d" (EINVAL).</summary>
    OutAfterIn = 17,

    /// <summary>"Failed to write used" (EFAULT).</summary>
    UsedWrite = 18,

    /// <summary>"Failed to increment used idx" (EFAULT).</summary>
    UsedIdxWrite = 19,

    /// <summary>"Failed to get flags" (vhost_notify; the guest is signalled anyway).</summary>
    AvailFlagsRead = 20,

    /// <summary>"Failed to get used event idx" (vhost_notify; the guest is signalled anyway).</summary>
    UsedEventRead = 21,

    /// <summary>"Failed to disable notification at %p: %d" / "Failed to enable notification at %p: %d".</summary>
    UsedFlagsWrite = 22,

    /// <summary>"Failed to update avail event index at %p: %d".</summary>
    AvailEventWrite = 23,

    /// <summary>"Failed to check avail idx at %p: %d" (vhost_enable_notify's re-check).</summary>
    AvailIdxRecheck = 24,

    /// <summary>"Can't access used idx at %p" (vhost_vq_init_access when the backend starts).</summary>
    UsedIdxRead = 25,

    /// <summary>"Failure detected in indirect descriptor at idx %d": vhost_get_vq_desc's second vq_err after any
    /// get_indirect failure (whose own reason comes first).</summary>
    IndirectFailure = 26,
}
