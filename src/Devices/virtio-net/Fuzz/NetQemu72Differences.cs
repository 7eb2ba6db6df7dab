using Sim.Spec.Net;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The versioned table of legitimate differences between our robust virtio-net model and QEMU 7.2's virtio-net-pci
/// on a socket netdev (Debian 12's 7.2.x; hw/net/virtio-net.c), each shown by a test of QemuNetProbeTests through
/// <see cref="NetLockstepPair"/>. docs/qemu-backend.md shows this table; keep the two in step.
/// </summary>
internal static class NetQemu72Differences
{
    public const string QemuVersion = Qemu72Differences.QemuVersion;

    public const string NumBuffersUnwritten = "rx-num-buffers-unwritten";

    public const string SmallChainLeftAvailable = "rx-small-chain-left-available";

    public static IReadOnlyList<NetDifferenceRow> Rows { get; } =
    [
        new(
            NumBuffersUnwritten,
            "Bytes 10-11 (num_buffers) of a received frame's header: the model writes 1; QEMU 7.2 leaves the guest's "
                + "bytes (used.len counts the 12-byte header on both).",
            "VIRTIO 1.2 §5.1.6.4.1: without VIRTIO_NET_F_MRG_RXBUF the device MUST set num_buffers to 1. QEMU writes "
                + "the 10-byte struct virtio_net_hdr and fills num_buffers only for mergeable buffers.",
            "receive_header, virtio_net_receive_rcu (hw/net/virtio-net.c)",
            (_, d) => d.Kind == NetComparison.NumBuffers
        ),
        new(
            SmallChainLeftAvailable,
            "A receive chain too small for header + frame: both drop the frame; the model completes the chain with "
                + "used.len 0 and writes nothing, QEMU 7.2 writes what fits (header, then the frame's start) and "
                + "leaves the chain available (used.idx does not move); later frames then land one chain earlier in "
                + "QEMU, "
                + "which may break on the left chain once the driver rewrote it (input-level).",
            "QEMU copies with iov_from_buf before it sees the frame does not fit, then gives the chain back "
                + "(virtqueue_unpop): it stays at the head of receiveq1. The model keeps the queue live (VIRTIO 1.2 "
                + "§5.1.6.4.1: one chain per packet; the driver reposts a chain completed with a length error).",
            "virtio_net_receive_rcu (hw/net/virtio-net.c)",
            // Input-level: every later frame lands one chain earlier in QEMU, and QEMU walks the chain it left at the
            // next frame, breaking ("receive queue contains no in buffers") when the driver has since rewritten it.
            // Drops before a break of the model do not count (the reset that follows gives QEMU's left chain back),
            // nor does an input that leaves the model broken; a break reset before the drop does not matter.
            (c, _) => c.Facts.ReceiveDroppedSinceBreak > 0 && !c.Model.Broken
        ),
        new(
            NotificationsOffWhileBuffers,
            "used.flags and avail_event of receiveq1: QEMU 7.2 sets VRING_USED_F_NO_NOTIFY (or, with EVENT_IDX, "
                + "leaves avail_event alone) while it has receive buffers; the model leaves notifications on.",
            "virtio_net_has_buffers turns the queue's notifications off while buffers are available and on when it "
                + "runs out; both are hints the driver may ignore (VIRTIO 1.2 §2.7.10), not completions.",
            "virtio_net_has_buffers → virtio_queue_set_notification (hw/net/virtio-net.c, hw/virtio/virtio.c)",
            (_, d) => d.Kind == NetComparison.UsedFlags
        ),
        .. SharedRows,
    ];

    public const string NotificationsOffWhileBuffers = "rx-notifications-off-while-buffers";

    /// <summary>QEMU 7.2 bugs the net target finds (a crash, as <c>qemu-crash</c> findings): the bounded CI pass
    /// tolerates these and fails on any other. Each: the stderr text that identifies it, and the QEMU
    /// function.</summary>
    public static IReadOnlyList<(string Stderr, string QemuFunction)> KnownBugs { get; } =
    [
        (
            "iov_from_buf_full: Assertion `offset == 0' failed",
            "virtio_net_receive_rcu copies the frame at guest offset 12 (after the header) into a chain of fewer "
                + "than 12 writable bytes: iov_from_buf asserts (util/iov.c); a guest aborts QEMU. Upstream: still "
                + "there in the newest source checked (QEMU 10.0, April 2025)"
        ),
        (
            "iov_copy: Assertion `offset == 0' failed",
            "virtio_net_flush_tx strips the 12-byte header with iov_copy from a transmit chain of fewer than 12 "
                + "readable bytes (a netdev without vnet header: socket, user): iov_copy asserts (util/iov.c); a "
                + "guest aborts QEMU. Upstream: fixed by d4f471eb7e56 (\"hw/net/virtio-net.c: fix crash in "
                + "iov_copy()\", QEMU 9.1: \"virtio-net header is invalid\"); not in Debian's 7.2.22"
        ),
        (
            "address_space_stw_le_cached: Assertion `addr < cache->len",
            "virtio_queue_set_num takes a queue_size written on an enabled queue without re-mapping the rings "
                + "(virtio_pci_common_write); the next used-ring store asserts. The blk target's finding; upstream: "
                + "fixed in QEMU 8.0 (\"virtio: refresh vring region cache after updating a virtqueue size\")"
        ),
    ];

    /// <summary>The rows every real-QEMU lockstep needs (as the rng table's): what the shared op loop lets an input do
    /// that QEMU 7.2 and the robust model answer differently whatever the device.</summary>
    private static NetDifferenceRow[] SharedRows =>
        [
            new(
                ModelBrokeQemuWentOn,
                "The model broke the device (a ring, table or buffer outside its 64 KiB, or a chain it is stricter "
                    + "about) where QEMU did not; everything after differs.",
                "The model's guest has 64 KiB in two regions, QEMU's 128 MiB in one; 7.2 also accepts INDIRECT on a "
                    + "non-head descriptor and avail.idx more than a queue ahead (the blk table's rows).",
                "virtqueue_map_desc, virtqueue_split_pop (hw/virtio/virtio.c)",
                (c, _) => c.Facts.ModelEverBroken && !c.Qemu.Broken
            ),
            new(
                ZeroSizedBuffer,
                "QEMU broke with \"virtio: zero sized buffers are not allowed\" where the model did not.",
                "7.2's virtqueue_map_desc refuses a descriptor of length 0 (virtio_error); the robust model maps it as "
                    + "an empty buffer (VIRTIO 1.2 §2.7.5 does not forbid it).",
                "virtqueue_map_desc (hw/virtio/virtio.c)",
                (c, _) =>
                    c.Qemu.Broken
                    && !c.Facts.ModelEverBroken
                    && (c.Qemu.BrokenReason?.Contains("zero sized buffers", StringComparison.Ordinal) ?? false)
            ),
            new(
                BothBroken,
                "Both broke; the used rings, ISR or untouched bytes differ (input-level: both broke).",
                "The two break at different moments: QEMU's pop maps buffers the model's 64 KiB cannot hold, and after "
                    + "a break QEMU's ISR is 0x3 (virtio_notify_config), robust's 0x2.",
                "virtio_error, virtio_notify_config (hw/virtio/virtio.c)",
                (c, d) => c.Facts.ModelEverBroken && c.Qemu.Broken && d.Kind is not NetComparison.Broken
            ),
            new(
                FrameOverRings,
                "A receive buffer overlapped the rings or another available buffer at a kick, or the rings overlapped "
                    + "each other (input-level): the ISR, the used rings or later bytes differ.",
                "The frame is written over what the device reads next (avail flags, descriptors, another chain): QEMU "
                    + "reads the avail flags for its interrupt after virtqueue_flush (virtio_notify → "
                    + "virtio_should_notify), the model at other moments; VIRTIO 1.2 §2.7 defines no outcome.",
                "virtio_net_receive_rcu → virtqueue_flush, virtio_notify (hw/net/virtio-net.c, hw/virtio/virtio.c)",
                (c, _) => c.Facts.BuffersOverlapInKick || c.Facts.RingsOverlap
            ),
            new(
                DriverWroteRegister,
                "The input wrote common-config registers unaligned, wrote the status register, or rewrote queue_size "
                    + "on the enabled queue (input-level).",
                "The blk table's unaligned-register-write, driver-status-needs-reset and queue-size-rewritten rows.",
                "virtio_pci_common_write, virtio_set_status, virtio_queue_set_num (hw/virtio/virtio-pci.c, virtio.c)",
                (c, _) => c.Facts.UnalignedRegisterWrite || c.Facts.DriverWroteStatus || c.Facts.QueueSizeRewritten
            ),
        ];

    public const string ModelBrokeQemuWentOn = "model-broke-qemu-went-on";

    public const string ZeroSizedBuffer = "zero-sized-buffer";

    public const string BothBroken = "both-broken";

    public const string DriverWroteRegister = "driver-wrote-register";

    public const string FrameOverRings = "frame-over-rings-or-buffers";

    /// <summary>The rows that explain every difference, or null when one is explained by none.</summary>
    public static IReadOnlyList<NetDifferenceRow>? Explain(NetCase c, IReadOnlyList<NetDifference> diffs)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(diffs);
        var rows = new List<NetDifferenceRow>();
        foreach (NetDifference d in diffs)
        {
            NetDifferenceRow? row = Rows.FirstOrDefault(r => r.Explains(c, d));
            if (row is null)
                return null;
            if (!rows.Contains(row))
                rows.Add(row);
        }
        return rows;
    }

    /// <summary>True when byte <paramref name="offset"/> of a receive buffer may differ: the two bytes of
    /// num_buffers (<see cref="NumBuffersUnwritten"/>).</summary>
    public static bool ExplainsReceivedByte(int offset) =>
        offset is NetSpec.HeaderNumBuffersOffset or NetSpec.HeaderNumBuffersOffset + 1;
}
