namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The versioned table of legitimate differences between our robust virtio-blk model and QEMU 7.2 (Debian 12's
/// 7.2.x; checked against QEMU's hw/block/virtio-blk.c and hw/virtio/virtio.c). The first row that explains a case
/// wins; a difference no row explains is a finding (<see cref="VirtioBlkQemuTarget"/>). docs/qemu-backend.md shows
/// this table; keep the two in step.
/// </summary>
internal static class Qemu72Differences
{
    /// <summary>The QEMU release line the table is written for (compared with <c>qemu-system-x86_64
    /// --version</c>).</summary>
    public const string QemuVersion = "7.2";

    /// <summary>Id of QEMU 7.2's endless loop on a queue whose used ring lies over its available ring (a
    /// <c>qemu-hang</c> finding; its site ends with this id).</summary>
    public const string HangUsedOverAvail = "used-ring-over-avail-ring";

    /// <summary>What <see cref="HangUsedOverAvail"/> is, in a finding's message.</summary>
    public const string HangUsedOverAvailDescription =
        "with the used ring over the available ring, every used-ring store (virtqueue_split_flush → "
        + "vring_used_idx_set) rewrites avail.idx and the heads; a request completed inside the handler (an "
        + "unsupported type, GET_ID, an out-of-range read) while another is still batched (a read or write in the "
        + "MultiReqBuffer) leaves avail.idx behind last_avail_idx, and 7.2's virtqueue_split_pop, which checks "
        + "neither avail.idx's distance (no virtqueue_num_heads) nor repeats, pops stale heads for ever in "
        + "virtio_blk_handle_vq's loop: the main loop never returns, QEMU answers nothing (a guest-triggered denial "
        + "of service; VIRTIO 1.2 §2.7 makes overlapping rings a driver error, but no outcome lets a device loop for "
        + "ever). Upstream: still there in the newest source checked (virtqueue_split_pop and virtio_blk_handle_vq "
        + "unchanged in this respect, late 2025)";

    /// <summary>QEMU 7.2 bugs the blk target finds: the bounded CI pass tolerates these (and prints them), the fuzzer
    /// reports them. Each: the oracle, a text of the finding's site or message that identifies it, and what it is
    /// (QEMU function, upstream status).</summary>
    public static IReadOnlyList<(string Oracle, string Identifies, string Description)> KnownBugs { get; } =
    [
        (RealQemuTarget.OracleHang, HangUsedOverAvail, HangUsedOverAvailDescription),
        (
            RealQemuTarget.OracleCrash,
            "address_space_stw_le_cached: Assertion `addr < cache->len",
            "virtio_queue_set_num takes a queue_size written on an enabled queue without re-mapping the rings "
                + "(virtio_pci_common_write); the next used-ring store asserts. Upstream: fixed in QEMU 8.0 "
                + "(\"virtio: refresh vring region cache after updating a virtqueue size\")"
        ),
    ];

    /// <summary>The known bug a finding (oracle, site, message) is, or null.</summary>
    public static string? KnownBug(string oracle, string site, string message) =>
        KnownBugs
            .Where(b =>
                b.Oracle == oracle
                && (
                    site.Contains(b.Identifies, StringComparison.Ordinal)
                    || message.Contains(b.Identifies, StringComparison.Ordinal)
                )
            )
            .Select(b => b.Identifies)
            .FirstOrDefault();

    public static IReadOnlyList<QemuDifferenceEntry> Entries { get; } =
    [
        new(
            "memory-horizon",
            "The model breaks the device (a ring, descriptor table or buffer outside guest memory) where QEMU goes on "
                + "(and may break later on something else).",
            "The model's guest has 64 KiB in two 32 KiB regions; QEMU's has 128 MiB of RAM in one region, so an "
                + "address in [64 KiB, 128 MiB) or a ring straddling 0x8000 is valid memory there. Everything after "
                + "the break differs.",
            "virtqueue_map_desc / address_space_cache_init (hw/virtio/virtio.c)",
            (c, _) => c.ModelBrokeWith(r => r.Contains("OutsideMemory", StringComparison.Ordinal))
        ),
        new(
            "isr-config-both-bits",
            "After the device breaks, QEMU's ISR reads 0x3 where the model's reads 0x2.",
            "QEMU signals a configuration change (virtio_error sets NEEDS_RESET, then virtio_notify_config) by "
                + "setting ISR to 0x3, both bits; our robust flavour sets only the configuration bit, as VIRTIO 1.2 "
                + "§4.1.4.5 describes (the seed flavour of the transport keeps QEMU's 0x3).",
            "virtio_notify_config → virtio_set_isr(vdev, 0x3) (hw/virtio/virtio.c)",
            (c, d) =>
                d.Kind == BlkComparison.Isr
                && c.Model.Broken
                && c.Qemu.Broken
                && (c.Model.Isr | 1) == c.Qemu.Isr
                && (c.Qemu.Isr & 3) == 3
        ),
        new(
            "completion-order",
            "Requests made available by one kick are completed in another order: the used entries are a permutation "
                + "of the model's.",
            "QEMU submits a kick's requests asynchronously (virtio_blk_submit_multireq, merged per direction) and "
                + "pushes each when its I/O completes (virtio_blk_rw_complete), so completion order is the thread "
                + "pool's; the model completes in ring order. VIRTIO 1.2 §2.7.14 lets a device use buffers in any "
                + "order. (The backend runs QEMU's thread pool with one worker, so the I/O itself happens in "
                + "submission order and data agree.)",
            "virtio_blk_handle_vq / virtio_blk_rw_complete (hw/block/virtio-blk.c)",
            (c, d) => d.Kind == BlkComparison.UsedRing && c.UsedEntriesArePermutation()
        ),
        new(
            "suppression-after-break",
            "After a malformed request breaks the device, QEMU has re-enabled notifications: avail_event (EVENT_IDX) "
                + "is avail.idx and used.flags has no NO_NOTIFY; the model leaves them as its pop left them.",
            "virtio_blk_handle_vq leaves its pop loop on the error and re-enables notifications "
                + "(virtio_queue_set_notification(vq, 1) → vring_set_avail_event(vq, vring_avail_idx(vq))) before it "
                + "sees the device broken; the model stops at the pop. The device needs a reset, so the driver may "
                + "not rely on the field.",
            "virtio_blk_handle_vq (hw/block/virtio-blk.c), virtio_queue_split_set_notification (hw/virtio/virtio.c)",
            (c, d) =>
                c.ModelEverBroken
                && (
                    (d.Kind == BlkComparison.UsedRing && c.UsedRingDiffersOnlyInSuppression())
                    || (d.Kind == BlkComparison.GuestMemory && c.OnlyAvailEventFields(d))
                )
        ),
        new(
            "completions-dropped-after-break",
            "Both broken; QEMU's used ring holds a prefix of the model's entries: requests popped before the "
                + "malformed one were done (data and status written) but never made used. Also in an earlier used "
                + "ring when a re-initialisation later reset the broken device.",
            "QEMU batches reads and writes (MultiReqBuffer) and submits them after its pop loop, which the malformed "
                + "request ended; when they complete the device is broken and virtqueue_push drops the entry "
                + "(virtqueue_fill/flush on a disabled device). The model completes each request before popping the "
                + "next. The driver must reset anyway.",
            "virtio_blk_handle_vq / virtio_blk_submit_multireq (hw/block/virtio-blk.c), virtqueue_flush "
                + "(hw/virtio/virtio.c)",
            (c, d) =>
                (d.Kind == BlkComparison.UsedRing && c.QemuUsedIsPrefixOfModel())
                || (d.Kind == BlkComparison.GuestMemory && c.OnlyDroppedCompletionsInOldUsedRings(d))
        ),
        new(
            "unaligned-register-write",
            "The input wrote a common-config register at an offset that is not a multiple of the access size: QEMU "
                + "applies it as narrower aligned pieces, each at its own offset; the model applies it as one access; "
                + "the states differ from there.",
            "QEMU's memory core splits an access the region does not take unaligned (virtio-pci's common region sets "
                + "no .impl.unaligned) into naturally aligned pieces (flatview_write_continue → memory_access_size), "
                + "and virtio_pci_common_write sees each piece as a write of its own size at its own offset (a piece "
                + "may land on queue_size: see the queue-size crash in docs/qemu-backend.md). VIRTIO 1.2 §4.1.3.1 "
                + "requires natural accesses of the driver and leaves the device's answer open. Model deviation, "
                + "kept: the model's transport is shared.",
            "flatview_write_continue / memory_access_size (softmmu/physmem.c), virtio_pci_common_write "
                + "(hw/virtio/virtio-pci.c)",
            (c, _) => c.UnalignedRegisterWrite
        ),
        new(
            "kick-before-driver-ok",
            "The input kicked before DRIVER_OK: QEMU ran the queue handler, the robust model ignored the kick.",
            "QEMU's virtio_queue_notify runs the handler for any queue with a descriptor table; the robust transport "
                + "follows VIRTIO 1.2 §3.1.2 (no buffers used before DRIVER_OK); the seed flavour does QEMU's.",
            "virtio_queue_notify (hw/virtio/virtio.c)",
            (c, _) => c.KickBeforeDriverOk
        ),
        new(
            "indirect-flag-in-chain",
            "A descriptor after the head of a chain, or inside an indirect table, has VIRTQ_DESC_F_INDIRECT (or an "
                + "indirect head also has NEXT): the model breaks the device, QEMU 7.2 treats the descriptor as a "
                + "plain buffer (and ignores the head's NEXT), goes on, and may break later on something else.",
            "virtqueue_split_pop looks at the INDIRECT flag of the head only; the chain walk "
                + "(virtqueue_split_read_next_desc) maps later descriptors by address and length whatever their "
                + "flags. VIRTIO 1.2 §2.7.5.3.1 forbids the driver this; the model refuses it. Everything after "
                + "differs.",
            "virtqueue_split_pop / virtqueue_split_read_next_desc (hw/virtio/virtio.c)",
            (c, _) => c.ModelBrokeWith(r => r is "IndirectNotAtHead" or "NestedIndirect" or "IndirectWithNext")
        ),
        new(
            "descriptor-address-wrap",
            "A buffer whose address + length passes 2^64: the model breaks the device, QEMU 7.2 maps it (the part "
                + "outside RAM through its one bounce buffer) and goes on (and may break later on something else).",
            "virtqueue_map_desc maps with dma_memory_map piece by piece; for addresses outside RAM address_space_map "
                + "hands out the bounce buffer instead of failing, and the address wraps. The model refuses the "
                + "range. Kept as a model deviation (stricter); whether QEMU touches memory outside the described "
                + "buffer here is not settled (docs).",
            "virtqueue_map_desc (hw/virtio/virtio.c), address_space_map (softmmu/physmem.c)",
            (c, _) => c.ModelBrokeWith(r => r == "BufferAddressOverflow")
        ),
        new(
            "scsi-cmd-segments",
            "A SCSI_CMD request: the model answers UNSUPP; QEMU 7.2 answers IOERR when it has fewer than 2 readable "
                + "or 3 writable buffers, and writes errors = 255 into the virtio_scsi_inhdr buffer otherwise.",
            "QEMU 7.2 still has virtio_blk_handle_scsi_req, whose segment check comes before its UNSUPP (scsi=off); "
                + "the model follows current QEMU, where SCSI passthrough is gone and SCSI_CMD is UNSUPP.",
            "virtio_blk_handle_scsi_req (hw/block/virtio-blk.c)",
            (c, d) => d.Kind == BlkComparison.GuestMemory && c.OnlyScsiStatusBytes(d)
        ),
        new(
            "pop-without-avail-distance-check",
            "The model breaks the device when avail.idx is more than a queue's size ahead of the next index it pops; "
                + "QEMU 7.2 goes on popping.",
            "QEMU 7.2's split-ring pop does not call virtqueue_num_heads: it takes heads modulo the size until "
                + "avail.idx is reached or inuse reaches the size (\"Virtqueue size exceeded\"), handling each "
                + "request on the way (reads land in guest memory even when their completion is dropped because the "
                + "device broke). Our robust model refuses at the pop, as virtqueue_num_heads does for QEMU's other "
                + "callers (\"Guest moved used index\"). Everything after differs.",
            "virtqueue_split_pop / virtqueue_num_heads (hw/virtio/virtio.c)",
            (c, _) => c.ModelBrokeWith(r => r == "AvailIndexTooFar")
        ),
        new(
            "queue-size-rewritten",
            "The input wrote queue_size after set-up (the queue enabled) with another value, at any width (a one-byte "
                + "write sets the size to that byte): QEMU 7.2 takes the new size, the model keeps its queue; QEMU "
                + "then breaks (\"Cannot map descriptor ring\" and the like: the rings were mapped for the old size) "
                + "or walks a ring of another size.",
            "virtio_pci_common_write → virtio_queue_set_num accepts any size up to 1024 on an enabled queue (it "
                + "refuses only a change between zero and non-zero) and does not re-map the rings; VIRTIO 1.2 "
                + "§4.1.4.3.2 has the driver set queue_size before queue_enable, and §2.7 requires a power of two. "
                + "The robust model ignores such a write. Not a crash: QEMU fails safe (virtio_error). Everything "
                + "after differs.",
            "virtio_queue_set_num (hw/virtio/virtio.c), virtio_pci_common_write (hw/virtio/virtio-pci.c)",
            (c, _) => c.QueueSizeRewritten
        ),
        new(
            "driver-status-needs-reset",
            "The input wrote the device status register itself: the status bytes differ in DEVICE_NEEDS_RESET (0x40) "
                + "only.",
            "QEMU stores the driver's status byte as written (virtio_pci_common_write → virtio_set_status: "
                + "vdev->status = val), so a driver can set or clear NEEDS_RESET; VIRTIO 1.2 §2.1.1/§2.1.2 give the "
                + "bit to the device, and the robust flavour keeps its own bit whatever the driver writes (the seed "
                + "flavour does QEMU's). Deliberate robust choice.",
            "virtio_pci_common_write / virtio_set_status (hw/virtio/virtio-pci.c, hw/virtio/virtio.c)",
            (c, d) =>
                d.Kind == BlkComparison.DeviceStatus
                && c.DriverWroteStatus
                && (c.Model.DeviceStatus ^ c.Qemu.DeviceStatus) == (byte)Sim.Spec.Virtio.VirtioStatus.DeviceNeedsReset
        ),
        new(
            "overlapping-rings",
            "The input placed the descriptor table, available ring and used ring so that they overlap (e.g. avail and "
                + "used at one address).",
            "The device's own used-ring writes (used.flags NO_NOTIFY, used.idx, entries, avail_event) then rewrite "
                + "what it reads as avail.flags, avail.idx, ring entries or descriptors, and each implementation "
                + "reads those at its own moments: QEMU sets NO_NOTIFY around its pop loop and checks avail.flags at "
                + "each completion, the model at others. VIRTIO 1.2 §2.7 lays the three parts out as separate areas; "
                + "overlapping them is a driver error with no defined outcome. Everything after the overlap may "
                + "differ.",
            "virtio_blk_handle_vq (hw/block/virtio-blk.c), virtio_queue_split_set_notification / virtio_should_notify "
                + "(hw/virtio/virtio.c)",
            (c, _) => c.RingsOverlap
        ),
        new(
            "buffers-overlap-in-kick",
            "At a kick, a buffer the device writes (data-in or status) overlapped a buffer of another request made "
                + "available for the same kick, or a ring: the outcome depends on the order the device handles them.",
            "QEMU 7.2 pops every request of a kick first (reading each header and mapping each buffer) and submits "
                + "the batched reads/writes after its loop (MultiReqBuffer), so a status or data-in write lands after "
                + "the other request was read; the model completes each request before popping the next. VIRTIO 1.2 "
                + "§2.7.14 lets a device use available buffers in any order, so a driver that shares memory between "
                + "in-flight requests gets either.",
            "virtio_blk_handle_vq / virtio_blk_submit_multireq (hw/block/virtio-blk.c)",
            (c, _) => c.BuffersOverlapInKick
        ),
        new(
            "no-notify-left-by-driver",
            "used.flags has NO_NOTIFY in the model's memory and not in QEMU's, all else equal: the bit was there "
                + "before the device ran (the driver placed the used ring over memory it had written, e.g. old "
                + "descriptors after a re-initialisation).",
            "Without EVENT_IDX QEMU sets NO_NOTIFY when virtio_blk_handle_vq starts its pop loop and clears it when "
                + "the loop ends, on every kick, so it clears whatever the driver left there; the model handles a "
                + "kick synchronously and never writes used.flags. The bit is advisory (VIRTIO 1.2 §2.7.7: the driver "
                + "must not rely on it). Model deviation in a field the driver initialised wrongly; tabled.",
            "virtio_blk_handle_vq (hw/block/virtio-blk.c), virtio_queue_split_set_notification / "
                + "vring_used_flags_unset_bit (hw/virtio/virtio.c)",
            (c, d) =>
                (d.Kind == BlkComparison.UsedRing && c.UsedRingDiffersOnlyInNoNotifyKeptByModel())
                || (d.Kind == BlkComparison.GuestMemory && c.OnlyNoNotifyBitsKeptByModel(d))
        ),
        new(
            "avail-event-left-by-driver",
            "With EVENT_IDX, the two differ only in avail_event fields: QEMU's holds avail.idx as it was at its last "
                + "kick of that ring (the current used ring, or an earlier one a re-initialisation replaced), the "
                + "model's what was there before (the driver's bytes, or the model's last pop).",
            "QEMU's virtio_blk_handle_vq ends every kick with virtio_queue_set_notification(vq, 1), which writes "
                + "avail_event = avail.idx (read then) even when it popped nothing; the model writes avail_event only "
                + "when it pops (as virtqueue_split_pop does). After a kick on an empty queue over memory the driver "
                + "had written, the two disagree in a field whose only use is to suppress notifications (VIRTIO 1.2 "
                + "§2.7.10); an avail.idx store with no kick after it, or a re-initialisation that moves the rings, "
                + "leaves QEMU's value as that kick wrote it. Model deviation in advisory state; tabled.",
            "virtio_blk_handle_vq (hw/block/virtio-blk.c), virtio_queue_split_set_notification / "
                + "vring_set_avail_event (hw/virtio/virtio.c)",
            (c, d) =>
                (d.Kind == BlkComparison.UsedRing && c.UsedRingDiffersOnlyInAvailEventSetToAvailIdx())
                || (d.Kind == BlkComparison.GuestMemory && c.OnlyAvailEventsSetAtKicks(d))
        ),
    ];

    /// <summary>The row explaining each difference of <paramref name="c"/>; null when some difference has none (a
    /// finding; <paramref name="unexplained"/> is then the first such).</summary>
    public static IReadOnlyList<QemuDifferenceEntry>? Explain(DifferenceCase c, out BlkDifference? unexplained)
    {
        ArgumentNullException.ThrowIfNull(c);
        var rows = new List<QemuDifferenceEntry>();
        foreach (BlkDifference d in c.Differences)
        {
            QemuDifferenceEntry? row = Entries.FirstOrDefault(e => e.Explains(c, d));
            if (row is null)
            {
                unexplained = d;
                return null;
            }
            if (!rows.Contains(row))
                rows.Add(row);
        }
        unexplained = null;
        return rows;
    }
}
