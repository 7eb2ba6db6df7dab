namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The rules behind every oracle site, in one table: each finding's summary says what the device did wrong, which
/// rule that breaks, and cites it (VIRTIO 1.2 clause, QEMU or Linux vhost behaviour). Lookup is exact site, else the
/// longest family prefix (<c>guest-memory/</c>, <c>step-budget@</c>), else the oracle-wide rule. A checker or target
/// that reports a new site adds its entry here (a test scans the sources for sites without one).
/// </summary>
internal static class OracleRules
{
    private static readonly OracleRule[] Table =
    [
        // ---- real QEMU (Qemu.VirtioBlkQemuTarget, docs/qemu-backend.md)
        // The crash site is qemu/died/ and how QEMU died (Qemu.QemuCrashSite): the asserting function, hw-error,
        // the signal, or the exit code and message; the known QEMU 7.2 aborts have their own entries.
        new(
            "qemu/died/",
            "The real QEMU process exited or closed its pipes while running the input (abort, failed assertion, "
                + "signal, exit); the site's end says how (asserting function, signal, exit code and message).",
            "a device model must answer any guest input with defined behaviour (an error state such as NEEDS_RESET), "
                + "never by taking the VMM down",
            "VIRTIO 1.2 §2.1.2 (DEVICE_NEEDS_RESET for unrecoverable errors); QEMU virtio_error sets broken instead "
                + "of exiting"
        ),
        new(
            "qemu/died/assert/iov_from_buf_full",
            "Real QEMU aborted in iov_from_buf_full (util/iov.c, Assertion `offset == 0'): virtio-net copied a "
                + "received frame past the end of a receive chain shorter than the 12-byte virtio-net header.",
            "a device must answer a chain too short for its header with a defined error (NEEDS_RESET or a dropped "
                + "frame), never an assertion on guest-controlled lengths",
            "VIRTIO 1.2 §5.1.6.3 (receive buffers hold the header), §2.1.2; QEMU 7.2 virtio_net_receive_rcu "
                + "(NetQemu72Differences.KnownBugs)"
        ),
        new(
            "qemu/died/assert/iov_copy",
            "Real QEMU aborted in iov_copy (util/iov.c, Assertion `offset == 0'): virtio-net stripped the 12-byte "
                + "header from a transmit chain with fewer readable bytes.",
            "a device must reject a transmit chain shorter than its header with a defined error (QEMU 9.1: "
                + "virtio_error \"virtio-net header is invalid\"), never an assertion on guest-controlled lengths",
            "VIRTIO 1.2 §5.1.6.2, §2.1.2; QEMU 7.2 virtio_net_flush_tx, fixed upstream by d4f471eb7e56 "
                + "(NetQemu72Differences.KnownBugs)"
        ),
        new(
            "qemu/died/assert/address_space_stw_le_cached",
            "Real QEMU aborted in address_space_stw_le_cached (Assertion `addr < cache->len'): a queue_size written "
                + "on an enabled queue was taken without re-mapping the rings, and a used-ring store left the cache.",
            "a device either refuses a queue size change on an enabled queue or re-maps its rings; a guest write "
                + "must never make a later ring store assert",
            "VIRTIO 1.2 §4.1.4.3.2 (the driver sizes a queue before enabling it); QEMU 7.2 virtio_queue_set_num via "
                + "virtio_pci_common_write, fixed in QEMU 8.0 (Qemu72Differences.KnownBugs)"
        ),
        new(
            "qemu/no-answer",
            "The real QEMU stopped answering qtest or QMP, or kept requests in flight, past the bound.",
            "a notified device completes or fails requests in bounded time; the VMM's main loop must keep serving its "
                + "monitor",
            "VIRTIO 1.2 §2.7.14; QEMU main loop (qtest and QMP are served there)"
        ),
        new(
            "qemu72/",
            "Real QEMU 7.2 and our robust model did different things on the same input, and no row of the QEMU 7.2 "
                + "difference table explains it.",
            "the model is the oracle of QEMU's observable behaviour (used entries, status bytes, data, disk, broken); "
                + "a difference is a model deviation or a QEMU bug",
            "docs/qemu-backend.md (Qemu72Differences, QEMU 7.2 hw/virtio/virtio.c and hw/block/virtio-blk.c)"
        ),
        // ---- used-ring (VirtqueueChecker)
        new(
            "used-ring/len-exceeds-written",
            "The device published a used entry whose len is larger than the bytes it actually wrote into that chain's "
                + "device-writable buffers.",
            "used.len is the number of bytes written into the buffer: the device MUST write at least len bytes, "
                + "starting at the first device-writable buffer, before it updates used.idx; a driver trusts len and "
                + "reads stale or uninitialised bytes past what was written",
            "VIRTIO 1.2 §2.7.8.2 Device Requirements: The Virtqueue Used Ring; QEMU virtqueue_push(vq, elem, len) "
                + "takes len from the device, which must count what it wrote"
        ),
        new(
            "used-ring/len-exceeds-offered",
            "The device published a used entry whose len is larger than all the device-writable bytes the chain "
                + "offers.",
            "used.len can never exceed the sum of the chain's device-writable descriptor lengths, a descriptor "
                + "counted each time the chain reaches it (QEMU virtio-blk's req->in_len, iov_size of the element's "
                + "in_sg, is the accepted upper bound for that device)",
            "VIRTIO 1.2 §2.7.8.2; QEMU hw/block/virtio-blk.c virtio_blk_handle_request sets req->in_len, "
                + "virtio_blk_req_complete pushes it"
        ),
        new(
            "used-ring/id-not-in-flight",
            "The device put an id in the used ring that is not the head of a chain it took from the available ring "
                + "and has not completed yet.",
            "used.id is the head index of a descriptor chain the device consumed; each available chain is returned "
                + "exactly once",
            "VIRTIO 1.2 §2.7.8 The Virtqueue Used Ring; QEMU virtqueue_fill writes elem->index of a popped element; "
                + "Linux vhost_add_used(vq, head, len) with head from vhost_get_vq_desc"
        ),
        new(
            "used-ring/idx-beyond-completions",
            "The device moved used.idx further than the number of chains it had in flight.",
            "used.idx advances by exactly the number of used entries added; it can only cover chains taken from the "
                + "available ring",
            "VIRTIO 1.2 §2.7.8; QEMU virtqueue_flush adds vq->inuse-bounded counts; Linux vhost_add_used_n"
        ),
        new(
            "used-ring/completed-chain-refetched",
            "After DRIVER_OK was cleared and set again with no reset and on the same rings (a vhost stop and restart), "
                + "the device took a chain again from an available-ring position whose chain it had already returned "
                + "in the used ring.",
            "a device stopped without a reset resumes at the available-ring position it had consumed up to: a chain "
                + "it returned belongs to the driver again and is available only once the driver's avail.idx passes "
                + "its slot again; taking it anew completes a buffer the driver never re-offered, and used.idx runs "
                + "ahead of what the driver made available (a chain that was taken and never returned may be taken "
                + "again)",
            "VIRTIO 1.2 §2.7.8 (the used ring returns each available buffer); QEMU hw/virtio/vhost.c "
                + "vhost_virtqueue_stop (VHOST_GET_VRING_BASE → virtio_queue_set_last_avail_idx) and "
                + "vhost_virtqueue_start (virtio_queue_get_last_avail_idx → VHOST_SET_VRING_BASE)"
        ),
        new(
            "used-ring/publication-unobserved",
            "The queue says it published a used.idx that no device store seen by the memory observer wrote: an "
                + "observed completion took a path that bypasses the observer (split-virtqueue's observed lane).",
            "with an observer attached every ring access of a queue call goes through it (the observed calls are the "
                + "reference the unobserved window paths must equal), so the used.idx the device published is the "
                + "last one the observer saw it store",
            "VIRTIO 1.2 §2.7.8 (used.idx is the device's store); QEMU vring_used_idx_set stores it through the "
                + "used-ring cache and logs it (address_space_cache_invalidate)"
        ),
        // ---- queue-state (SplitVirtqueueTarget.JudgeBookkeeping; split-virtqueue)
        new(
            "queue-state/inuse-differs",
            "The queue's count of elements in use differs from the elements the harness popped and has not yet "
                + "completed, detached or given back.",
            "inuse grows by one per pop and shrinks by each flushed, detached, unpopped or rewound element",
            "QEMU hw/virtio/virtio.c virtqueue_pop (vq->inuse++), virtqueue_flush, virtqueue_detach_element, "
                + "virtqueue_unpop, virtqueue_rewind"
        ),
        new(
            "queue-state/empty-differs",
            "IsEmpty on a ready queue answered other than QEMU's rule: not empty while the shadow avail index is ahead "
                + "of last_avail_idx, else empty exactly when the published avail.idx equals last_avail_idx.",
            "a device that finds published buffers 'empty' stops serving them (and interrupts early with "
                + "NOTIFY_ON_EMPTY); one that finds an empty queue 'not empty' spins on pops that yield nothing",
            "QEMU hw/virtio/virtio.c virtio_queue_split_empty; VIRTIO 1.2 §2.7.13.3, §2.7.6"
        ),
        new(
            "queue-state/used-while-not-live",
            "A completion (Flush) or interrupt decision (ShouldNotify) on a queue that is not ready was answered "
                + "instead of refused: the queue used the rings of an earlier configuration after a reset.",
            "after reset a queue has no rings until it is enabled again; a device completing on it is a device bug, "
                + "refused (InvalidOperationException), and nothing of guest memory is touched",
            "VIRTIO 1.2 §2.1.2, §4.1.4.3 (queue_reset / device reset); QEMU __virtio_queue_reset zeroes vring.desc, "
                + "avail and used: no ring of the earlier configuration is left to write"
        ),
        // ---- permission (VirtqueueChecker)
        new(
            "permission/write-outside-writable-buffers",
            "The device stored into guest memory outside the used ring and the device-writable buffers of the chains "
                + "it holds.",
            "a device writes only the used ring and device-writable buffers of chains it has fetched and not yet "
                + "returned; a device MUST NOT write to a device-readable buffer",
            "VIRTIO 1.2 §2.7.5.1 (descriptor table, device requirements), §2.7.8.2; QEMU virtqueue_map_desc maps "
                + "in_sg write-only, Linux vhost translate_desc refuses writes to read-only descriptors"
        ),
        new(
            "permission/read-of-writable-buffer",
            "The device read a device-writable (driver-receives) buffer.",
            "a device SHOULD NOT read a device-writable buffer: its contents belong to the driver's previous use "
                + "(information leak, TOCTOU on its own output)",
            "VIRTIO 1.2 §2.7.5.1; QEMU virtqueue_map_desc gives such buffers only as in_sg"
        ),
        new(
            "permission/read-outside-chain",
            "The device read guest memory that is neither a ring nor a readable buffer or indirect table of a chain "
                + "in flight.",
            "a device reads only the rings and the descriptors/buffers the driver made available; a read past a "
                + "descriptor's length or at a guessed address uses memory the driver never offered",
            "VIRTIO 1.2 §2.7.4 Message Framing, §2.7.5 (addr/len define the buffer); QEMU virtqueue_pop maps exactly "
                + "[addr, addr+len) per descriptor, Linux vhost_get_vq_desc/translate_desc likewise"
        ),
        // ---- notify (NotificationChecker)
        new(
            "notify/suppression-not-published",
            "The queue changed its notification state but the suppression word the guest reads (avail_event with "
                + "EVENT_IDX, used.flags NO_NOTIFY without) does not say so.",
            "enabling notifications with EVENT_IDX stores avail_event = the avail.idx just read, so the driver kicks "
                + "for anything it publishes later; without EVENT_IDX NO_NOTIFY is cleared or set and the other flag "
                + "bits stay",
            "VIRTIO 1.2 §2.7.7.1, §2.7.10; QEMU virtio_queue_split_set_notification (vring_set_avail_event, "
                + "vring_used_flags_set_bit / unset_bit)"
        ),
        new(
            "notify/",
            "The device completed buffers and decided not to interrupt although the driver's suppression state "
                + "required an interrupt.",
            "without VIRTIO_F_EVENT_IDX the device must notify unless avail.flags has VIRTQ_AVAIL_F_NO_INTERRUPT; "
                + "with it, it must notify when used.idx passes used_event (vring_need_event); suppression may only "
                + "drop unneeded interrupts, spurious ones are allowed",
            "VIRTIO 1.2 §2.7.7.2 Device Requirements: Used Buffer Notification Suppression, §2.7.10; QEMU "
                + "virtio_split_should_notify, Linux vhost_notify/vring_need_event"
        ),
        // ---- chain (Oracles.PopOracle against Oracles.ChainReference; split-virtqueue)
        new(
            "chain/wrong-error-kind",
            "The queue broke on an invalid chain for a different reason than the first rule the chain breaks (e.g. "
                + "\"too many iovecs\" for a loop).",
            "a pop checks, per descriptor and in order: nested or misplaced INDIRECT, readable after writable, zero "
                + "length, addr+len wrap or unbacked, the loop count, the iovec count; an INDIRECT head first: NEXT, "
                + "length, size, mapping; a NEXT index past the table; the first broken rule is the error",
            "QEMU hw/virtio/virtio.c virtqueue_split_pop, virtqueue_split_read_next_desc, virtqueue_map_desc; VIRTIO "
                + "1.2 §2.7.5.3.1, §2.7.4.2"
        ),
        new(
            "chain/valid-chain-rejected",
            "The queue broke (reported a guest error) on a chain the ring model finds valid.",
            "a chain that breaks no rule is popped: readable then writable buffers, each non-empty and backed, at "
                + "most the table's size descriptors, at most 1024 iovecs",
            "QEMU virtqueue_split_pop; VIRTIO 1.2 §2.7.5, §2.7.13"
        ),
        new(
            "chain/error-not-reported",
            "The pop returned nothing and no error although the ring model says a chain or the available ring breaks "
                + "a rule.",
            "an invalid chain or ring index puts the device in its broken state (virtio_error); answering \"empty\" "
                + "hides the error and strands the chain",
            "QEMU virtqueue_num_heads, virtqueue_get_head, virtqueue_split_pop (virtio_error); VIRTIO 1.2 §2.1.2"
        ),
        new(
            "chain/invalid-chain-accepted",
            "The pop returned an element for a chain the ring model classifies as invalid.",
            "a chain that breaks a descriptor rule must not be handed to the device (it would use memory or "
                + "descriptors the rules forbid)",
            "QEMU virtqueue_split_pop (goto err_undo_map); VIRTIO 1.2 §2.7.5.3.1, §2.7.4.2"
        ),
        new(
            "chain/popped-when-model-says-none",
            "The pop returned an element although the ring model says the queue is empty or broken at ring level "
                + "(avail.idx too far, queue size exceeded, head out of range).",
            "a head is taken only when avail.idx is ahead of last_avail_idx by at most the queue size, fewer than "
                + "size elements are in use and the head index is inside the table",
            "QEMU virtqueue_num_heads, virtqueue_split_pop (\"Virtqueue size exceeded\"), virtqueue_get_head; VIRTIO "
                + "1.2 §2.7.6"
        ),
        new(
            "chain/element-differs",
            "The popped element's head, iovecs, byte counts or descriptor count differ from the ring model's walk of "
                + "the chain.",
            "each descriptor becomes one iovec per guest region it spans, readable ones in out, writable ones in in, "
                + "in chain order, with the descriptor's address and length",
            "QEMU virtqueue_map_desc (dma_memory_map piece by piece), virtqueue_split_pop; VIRTIO 1.2 §2.7.5"
        ),
        // ---- config (Oracles.ConfigSpaceOracle; robust demo, factorial, counter, blk, rng backends)
        new(
            "config/value",
            "A read of device configuration space returned bytes other than the device's spec says it holds.",
            "demo: le32 buff (initial 0x1333, the last opt-1 store, or what the driver wrote); factorial and counter: "
                + "num_pages 0, actual and event as the driver last wrote them, zero after reset; blk: capacity in "
                + "512-byte sectors, size_max 0, seg_max, geometry 0, blk_size 512, whatever the driver wrote; rng: "
                + "no configuration, every byte reads all-ones",
            "VIRTIO 1.2 §2.5 Device Configuration Space, §5.2.4 (blk), §5.4.4 (rng); seed 000 "
                + "virtio_demo_get_config; QEMU virtio_test_get_config, virtio_test_set_config, "
                + "virtio_blk_update_config, virtio_blk_set_config, virtio_config_modern_readl"
        ),
        new(
            "config/generation-unchanged",
            "The device configuration changed between two whole-configuration reads but config_generation did not.",
            "the device MUST present a changed config_generation after the driver has read a device-configuration "
                + "field if any part of the device configuration space has changed since the last read",
            "VIRTIO 1.2 §2.5.1 Driver Requirements: Device Configuration Space, §4.1.4.3.1"
        ),
        // ---- avail-bytes (Oracles.AvailBytesReference; split-virtqueue)
        new(
            "avail-bytes/",
            "GetAvailBytes answered another error, or other sums, than the reference walk of the available chains.",
            "walk from last_avail_idx: heads at most a queue ahead and in range; indirect length, loop count, size and "
                + "region checks; ++num_bufs > max; 32-bit sums up to the bound; the direct count carries over",
            "QEMU hw/virtio/virtio.c virtqueue_split_get_avail_bytes, virtqueue_num_heads, virtqueue_get_head"
        ),
        // ---- restore (SplitVirtqueueTarget.RestoreVerdict; split-virtqueue)
        new(
            "restore/",
            "TryRestore accepted a state the rules reject (or the reverse, or for another reason), read back other "
                + "than given, or changed the queue while rejecting.",
            "a valid size no larger than the maximum; inuse within 0..size and shadow_avail_idx at most a queue ahead; "
                + "a ready queue's rings valid as at queue_enable",
            "QEMU virtio_load's queue consistency checks; VIRTIO 1.2 §2.7"
        ),
        // ---- block-backend (Targets.BlockBackendTarget)
        new(
            "block-backend/",
            "A block backend answered, read or stored other than the byte-array disk model, or threw on a failing "
                + "stream.",
            "capacity is the image's whole 512-byte sectors; an access succeeds only in range, writable and without a "
                + "host failure; reads return and writes store exactly the model's bytes",
            "VIRTIO 1.2 §5.2.6 (sector size 512); QEMU block/file-posix.c (an I/O error, not a crash)"
        ),
        // ---- queue-config (Oracles.QueueConfigReference; split-virtqueue)
        new(
            "queue-config/",
            "queue_enable accepted a ring layout the ring model rejects, rejected one it accepts, or named another "
                + "reason than the first rule the layout breaks; or a configuration call's error contradicts its "
                + "answer (an error with success, None with a refusal).",
            "the size is a power of two up to 32768; desc 16-, avail 2- and used 4-byte aligned; each part (16n, "
                + "6+2n, 6+8n bytes) inside one guest region; checked in that order",
            "VIRTIO 1.2 §2.7 (Queue Size, Virtqueue Part / Alignment / Size); QEMU virtio_queue_set_num, "
                + "virtio_init_region_cache"
        ),
        new(
            "chain/descriptor-reads-past-rule",
            "The pop read more descriptors than the rule allows: more than the walk that stops at the chain's end or "
                + "at the first rule it breaks.",
            "a pop reads the head, an indirect table's first entry and one descriptor per NEXT followed, and stops at "
                + "the first broken rule; a looping chain is read at most the table's size + 1 times",
            "QEMU virtqueue_split_pop (++elem_entries > max), virtqueue_split_read_next_desc; Linux vhost_get_vq_desc "
                + "(++found > vq->num)"
        ),
        // ---- vhost chain (Oracles.VhostChainOracle, every vhost_get_vq_desc of the vhost targets)
        new(
            "vhost-chain/",
            "A vhost_get_vq_desc returned another head, error, errno, iovec list or indices, or read other guest "
                + "bytes, than Linux's walk of the same chain gives.",
            "vhost_get_vq_desc reads avail idx (when its cache is used up), the head, then per descriptor checks "
                + "i < num and ++found <= num before reading it, follows INDIRECT through get_indirect and NEXT "
                + "through "
                + "next_desc, translates each buffer with translate_desc (one iovec per map), and raises the first "
                + "broken rule's vq_err",
            "Linux drivers/vhost/vhost.c vhost_get_vq_desc, get_indirect, translate_desc, next_desc"
        ),
        // ---- vhost notification changes (Oracles.VhostChainOracle, outside pops)
        new(
            "vhost-notify/vq-err-differs",
            "A vhost_disable_notify or vhost_enable_notify raised other vq_errs than its faulting ring accesses owe "
                + "(e.g. a used->flags write that faulted and was not reported).",
            "each ring access of the notification change that faults (used->flags without EVENT_IDX, avail_event "
                + "with it, then enable's avail->idx re-check) is reported by vq_err, which signals the error eventfd "
                + "the VMM watches; enable stops at the first fault",
            "Linux drivers/vhost/vhost.c vhost_disable_notify, vhost_enable_notify, vhost_update_used_flags, "
                + "vhost_update_avail_event"
        ),
        // ---- the vhost frontend's start (VirtioPciExecution.Registers, virtio-pci-vhost-robust)
        new(
            "vhost-start/vring-num-rejected",
            "The frontend's vhost_dev_start failed at VHOST_SET_VRING_NUM with EINVAL although every queue's size "
                + "is a power of two in 1..0xffff (the frontend handed vhost another ring size than the queue's).",
            "Linux vhost_vring_set_num refuses only a size that is zero, above 0xffff or not a power of two; a "
                + "frontend that collects the queues' sizes right never sees EINVAL there, and falling back to "
                + "userspace virtio hides the fault from the guest",
            "Linux drivers/vhost/vhost.c vhost_vring_set_num; QEMU hw/virtio/vhost.c vhost_virtqueue_start; "
                + "VIRTIO 1.2 §2.7"
        ),
        // ---- vhost control plane (Oracles.VhostControlPlaneOracle, VhostBackendRig.Start)
        new(
            "vhost-notify/signal-not-needed",
            "vhost signalled the call eventfd with EVENT_IDX acked, signalled_used valid and used_event outside the "
                + "used entries added since the previous signal.",
            "with VIRTIO_RING_F_EVENT_IDX, vhost_notify signals only when vring_need_event(used_event, new, old) "
                + "holds, unless NOTIFY_ON_EMPTY applies (ring empty) or signalled_used is invalid (after a start or "
                + "reset); when used.idx does not pass used_event the device should not notify",
            "VIRTIO 1.2 §2.7.7.2, §2.7.10; Linux drivers/vhost/vhost.c vhost_notify, vhost_signal, vring_need_event"
        ),
        new(
            "control-plane/kick-poll",
            "After a successful VHOST_SET_VRING_KICK the vring polls another eventfd than the one set (or still polls "
                + "one after VHOST_FILE_UNBIND).",
            "SET_VRING_KICK with a new eventfd stops polling the old kick and starts polling the new one, so a guest "
                + "kick on the new eventfd wakes the worker and one on the old does not",
            "Linux drivers/vhost/vhost.c vhost_vring_ioctl (VHOST_SET_VRING_KICK: pollstop, pollstart, "
                + "vhost_poll_stop, vhost_poll_start)"
        ),
        new(
            "control-plane/",
            "After VHOST_RESET_OWNER or QEMU's vhost_dev_start, the vhost device's state is not what the ioctls "
                + "leave.",
            "RESET_OWNER leaves no owner, no worker work pending, an empty memory table and every vring as "
                + "vhost_vq_reset sets it; a start of rings in guest RAM succeeds and leaves the features, num, base, "
                + "ring addresses, eventfds and memory table it set, with last_used_idx read from used->idx",
            "Linux drivers/vhost/vhost.c vhost_dev_reset_owner, vhost_dev_cleanup, vhost_vq_reset, "
                + "vhost_vq_init_access; QEMU hw/virtio/vhost.c vhost_dev_start, vhost_virtqueue_start"
        ),
        // ---- taint (Oracles.TaintOracle: the devices' reused host buffers poisoned before each request; robust
        // flavours)
        new(
            "taint/guest-memory",
            "A device wrote host bytes it never set for the request (its poisoned scratch, header or response buffer) "
                + "into the guest's writable buffers.",
            "every byte a device answers is computed from the request the guest offered and the device's state; a "
                + "request field never copied (a short readable buffer) or a previous request's bytes must not reach "
                + "the guest",
            "QEMU virtio_blk_handle_request (iov_to_buf of the out header, checked against sizeof), seed 001 "
                + "virtio_test_handle_output (uninitialised stack req); VIRTIO 1.2 §2.7.8.2"
        ),
        new(
            "taint/device-log",
            "A device logged host bytes it never set for the request (its poisoned request buffer).",
            "a device's log prints values read from the request the guest offered, never bytes of a buffer the "
                + "request did not fill",
            "seed 001 virtio_test_handle_output (qemu_log of req.arg1 / req.arg2 after a short iov_to_buf)"
        ),
        // ---- response (Oracles.ResponseOracle against Oracles.DeviceReferenceModels; robust flavours)
        new(
            "response/demo",
            "The robust virtio-demo device answered a full request with bytes or a used.len other than the reference "
                + "model's.",
            "the response is {opt, state} for opt 0, {1, buff} for opt 1 (which stores buff), {opt, buff} otherwise, "
                + "computed from the 8 request bytes the guest offered and the state left by earlier stores; "
                + "used.len is the 8 bytes written",
            "seed 000 lab 2 hw/virtio/virtio-demo.c virtio_demo_handle (iov_to_buf / iov_from_buf of {opt, buff}); "
                + "VIRTIO 1.2 §2.7.8.2"
        ),
        new(
            "response/demo-short-request",
            "The robust virtio-demo device answered a request whose readable or writable part is shorter than 8 bytes.",
            "the robust flavour processes only whole requests: fewer than 8 readable or 8 writable bytes complete "
                + "with used.len 0 and change nothing (the seed reads a partial request)",
            "seed 000 lab 2 virtio_demo_handle (iov_to_buf of 8 bytes); VIRTIO 1.2 §2.7.8.2"
        ),
        new(
            "response/factorial",
            "The robust factorial device wrote a ret other than arg1! (u32 arithmetic) or a used.len other than 4.",
            "ret is the factorial of the arg1 the guest offered, wrapping modulo 2^32; used.len is the 4 bytes of "
                + "struct test_response",
            "seed 001 QEMU hw/virtio/virtio-test.c virtio_test_handle_output (factorial loop, iov_from_buf of ret, "
                + "virtqueue_push len 4)"
        ),
        new(
            "response/factorial-short-request",
            "The robust factorial device answered a request with fewer than 36 readable or 4 writable bytes.",
            "a request shorter than struct test_request would be computed from bytes the guest never offered (the "
                + "seed's uninitialised req); the robust flavour completes it with used.len 0",
            "seed 001 virtio_test_handle_output (iov_to_buf of 36 bytes into a stack variable); VIRTIO 1.2 §2.7.8.2"
        ),
        new(
            "response/counter",
            "The robust counter device completed a request with a used.len other than 0.",
            "the counter device only reads its requests; used.len counts bytes written into device-writable buffers, "
                + "so it is 0",
            "seed 002 QEMU hw/virtio/virtio-test.c virtio_test_handle_output; VIRTIO 1.2 §2.7.8.1"
        ),
        new(
            "response/demo-log",
            "The robust demo device's log line for a request is missing or says something else than the request "
                + "and the state.",
            "the device prints each request it handles (opt, buff, the response and the new state) or that it was "
                + "short",
            "seed 000 virtio_demo_handle (printf of opt, buff and the answer)"
        ),
        new(
            "response/factorial-log",
            "The robust factorial device's log line for a request is missing or says something else than the "
                + "request's arg1, arg2 and ret.",
            "the device logs each request it handles (arg1, arg2 up to its NUL with unprintable bytes escaped, and "
                + "the answer) or that it was short",
            "seed 001 QEMU hw/virtio/virtio-test.c virtio_test_handle_output (qemu_log of arg1 and arg2)"
        ),
        new(
            "response/counter-log-dropped",
            "The robust counter device dropped log lines while its bounded log still had room.",
            "every number and tick is logged; only the host-side bound (LogLinesMax) may drop a line",
            "seed 002 virtio_test_handle_output (qemu_log per number); STYLE item 7 (host bounds)"
        ),
        new(
            "response/counter-log",
            "The robust counter device's log does not show, in order, each 4-byte number of the request it completed.",
            "the device logs every number of the request (\"=========get virtio num:%d\", little-endian le32) as read "
                + "from the bytes the guest offered",
            "seed 002 virtio_test_handle_output (iov_to_buf of 4 bytes, virtio_ldl_p, qemu_log)"
        ),
        new(
            "response/counter-malformed-completed",
            "The robust counter device completed a request that is not 1..4096 whole 4-byte numbers.",
            "the robust flavour breaks the device (NEEDS_RESET) on such a request instead of answering it",
            "seed 002 virtio_test_handle_output (the robust length rule); VIRTIO 1.2 §2.1.2"
        ),
        new(
            "response/blk-status",
            "The robust virtio-blk device wrote a status byte other than the reference model's.",
            "the status is the last writable byte: OK for an in-range read or write of whole sectors, FLUSH and "
                + "GET_ID; IOERR for a transfer outside the disk or of a partial sector; UNSUPP for any other type",
            "QEMU hw/block/virtio-blk.c virtio_blk_handle_request, virtio_blk_sect_range_ok; VIRTIO 1.2 §5.2.6"
        ),
        new(
            "response/blk-broke-well-formed",
            "The robust virtio-blk device broke for a malformed request although the chain it popped last is "
                + "well-formed.",
            "a request is malformed only with no readable or no writable iovec, fewer than 16 readable bytes (the "
                + "out header), or a last writable iovec shorter than the 1-byte status",
            "QEMU hw/block/virtio-blk.c virtio_blk_handle_request (\"missing headers\", \"outhdr too short\", "
                + "\"inhdr too short\"); VIRTIO 1.2 §5.2.6"
        ),
        new(
            "response/blk-used-len",
            "The robust virtio-blk device completed a request with a used.len other than all its writable bytes.",
            "QEMU's virtio-blk pushes req->in_len, the whole writable part (data and status)",
            "QEMU hw/block/virtio-blk.c virtio_blk_req_complete; VIRTIO 1.2 §2.7.8.2"
        ),
        new(
            "response/blk-data",
            "The robust virtio-blk device returned read data that differs from the disk's contents.",
            "a successful VIRTIO_BLK_T_IN fills the data buffers with the sectors read, as the disk holds them after "
                + "every earlier write",
            "VIRTIO 1.2 §5.2.6 (VIRTIO_BLK_T_IN); QEMU virtio_blk_handle_request → blk_aio_preadv"
        ),
        new(
            "response/blk-disk",
            "After a successful robust virtio-blk write, the disk does not hold the data the request offered.",
            "a successful VIRTIO_BLK_T_OUT writes the request's data buffers to the sectors it names",
            "VIRTIO 1.2 §5.2.6 (VIRTIO_BLK_T_OUT); QEMU virtio_blk_handle_request → blk_aio_pwritev"
        ),
        new(
            "response/blk-malformed-completed",
            "The robust virtio-blk device completed a request without a 16-byte header or a status byte.",
            "QEMU calls virtio_error (the device breaks) for a missing or short outhdr/inhdr; nothing is completed",
            "QEMU hw/block/virtio-blk.c virtio_blk_handle_request (\"virtio-blk request outhdr too short\")"
        ),
        // ---- differential (DemoDiffTarget: QEMU-style vs vhost on the same rings)
        new(
            "differential/used-idx",
            "The QEMU-style device and the vhost device, given the same guest moves and run time on a valid ring, "
                + "published different used.idx values.",
            "the same device semantics on the same valid ring complete the same chains: how many buffers are used "
                + "does not depend on the backend (QEMU userspace or vhost in the kernel)",
            "VIRTIO 1.2 §2.7.8 The Virtqueue Used Ring, §2.7.13 Supplying Buffers to The Device; QEMU "
                + "virtqueue_pop/virtqueue_push vs Linux vhost_get_vq_desc/vhost_add_used_and_signal"
        ),
        new(
            "differential/used-element",
            "The two backends put different (id, len) used elements in the same position of the used ring, before "
                + "either saw an invalid ring.",
            "used elements come in the order the device completes them, id the chain head, len the bytes written: "
                + "identical request semantics give identical elements",
            "VIRTIO 1.2 §2.7.8, §2.7.8.2 (len is the bytes written); QEMU virtqueue_fill, Linux vhost_add_used"
        ),
        new(
            "differential/buff",
            "The two backends ended in different device states (the demo device's buff) after the same requests.",
            "the device's state is a function of the requests it completed; the backend must not change what a "
                + "request does",
            "seed 000 lab 2/3 (virtio-demo and vhost-demo share the request protocol {opt, buff}); VIRTIO 1.2 §2.7.13"
        ),
        new(
            "differential/guest-memory",
            "Guest memory differs between the two backends (response bytes or ring contents), apart from the "
                + "device-owned suppression words.",
            "a device writes the same response bytes into the device-writable buffers and the same used ring; only "
                + "used.flags and avail_event are written at implementation-defined times",
            "VIRTIO 1.2 §2.7.8.2 (the device writes len bytes to the writable buffers), §2.7.7 / §2.7.10 (used.flags, "
                + "avail_event are hints)"
        ),
        // ---- missed interrupt (MissedInterruptOracle: whole devices, the interrupt seen as an irqfd/MSI-X/INTx
        // delivery)
        MissedAfterDrain("notify/missed-interrupt-after-drain", "the device"),
        MissedAfterDrain("notify/missed-interrupt-after-drain-qemu", "the QEMU-style device"),
        MissedAfterDrain("notify/missed-interrupt-after-drain-vhost", "the vhost device (call eventfd → irqfd)"),
        new(
            "notify/missed-interrupt-pci",
            "At the end of a virtio-pci execution (after liveness and the in-flight calls landed), used entries had "
                + "been added since the last interrupt and the driver's suppression state required one, yet no "
                + "interrupt reached the guest's side: no MSI-X message, no pending bit of a masked vector, no INTx "
                + "with ISR bit 0 — also across a vhost stop, which must deliver a call vhost signalled before it.",
            "without VIRTIO_F_EVENT_IDX the device must interrupt after adding used entries unless avail.flags has "
                + "VIRTQ_AVAIL_F_NO_INTERRUPT; with it, when used.idx moves past used_event; a masked MSI-X vector "
                + "holds the message pending and sends it on unmask; a queue without a vector (VIRTIO_MSI_NO_VECTOR) "
                + "owes nothing; QEMU's vhost stop reads the userspace guest notifier once more and raises what it "
                + "finds",
            "VIRTIO 1.2 §2.7.7.2, §2.7.10, §4.1.4.5 (ISR), §4.1.5.1.2 (MSI-X vector configuration); PCI 3.0 "
                + "§6.8.3.4 (per-vector masking, pending bits); QEMU virtio_queue_set_guest_notifier_fd_handler "
                + "(event_notifier_test_and_clear, virtio_queue_guest_notifier_read → virtio_irq), "
                + "vhost_virtqueue_stop"
        ),
        // ---- liveness (targets)
        new(
            "liveness/stranded-under-suppression",
            "A chain stayed available and unconsumed although the device's suppression state (used.flags NO_NOTIFY, "
                + "or avail_event) told the guest it need not kick: a lost wakeup.",
            "a device that suppresses notifications promises to look at the ring by itself; before it sleeps it "
                + "re-enables notifications and re-checks avail.idx, so a chain published while it suppressed kicks "
                + "is found",
            "VIRTIO 1.2 §2.7.7.2, §2.7.10; Linux vhost_enable_notify (re-reads avail->idx, the caller loops), "
                + "virtqueue_kick_prepare_split; QEMU virtio_queue_set_notification + virtio_queue_empty re-check "
                + "(virtio_blk_handle_vq)"
        ),
        new(
            "liveness/kicked-chain-not-consumed",
            "The driver kicked and published nothing since, yet after the device ran chains it announced were still "
                + "available and the device was not broken (a handler that stops short of the ring's end, e.g. a pop "
                + "loop that starts at 1; the liveness oracle's own final kick would hide it).",
            "a device whose handler serves the queue pops until the ring is empty at each notification: one kick is "
                + "enough for everything available at it (robust demo, factorial, counter, blk, rng)",
            "VIRTIO 1.2 §2.7.13.3, §2.7.13.4; QEMU virtio_test_handle_output, virtio_blk_handle_vq, "
                + "virtio_rng_process (for (;;) { elem = virtqueue_pop(...); if (!elem) break; })"
        ),
        new(
            "liveness/queue1-kicked-chain-not-consumed",
            "The driver kicked virtio-net's transmitq1 and published nothing since, yet after the device ran chains it "
                + "announced were still available and the device was not broken.",
            "the device sends until transmitq1 is empty after one kick (QEMU reschedules its flush after each burst "
                + "without a new kick)",
            "VIRTIO 1.2 §2.7.13.3, §5.1.6.2; QEMU virtio_net_flush_tx, virtio_net_tx_bh"
        ),
        new(
            "liveness/available-chain-not-consumed",
            "After the driver stopped, kicked and let the device run, chains were still waiting in the available "
                + "ring, yet the device had not reported an error (not NEEDS_RESET, no vq_err). Typical cause: a "
                + "handler that never returned and now serves nothing (seed 001 factorial: for (i = 1; i <= n; i++) "
                + "never ends for arg1 = 0xFFFFFFFF).",
            "a device that is notified must consume what the driver made available, or fail visibly: QEMU marks the "
                + "device broken (virtio_error → NEEDS_RESET), vhost signals vq_err; silently stopping starves the "
                + "driver forever",
            "VIRTIO 1.2 §2.7.13 Supplying Buffers to The Device (§2.7.13.4 notifying the device), §2.1.2 "
                + "DEVICE_NEEDS_RESET; QEMU virtio_error, Linux vhost vq_err"
        ),
        new(
            "liveness/chain-never-completed",
            "After the driver stopped, kicked and let the device run, a chain the device had taken from the available "
                + "ring was never returned through the used ring, and the device had not reported an error. Typical "
                + "cause: an element dropped on an error path (seed 001 factorial: a chain without readable bytes is "
                + "detached after \"iov_to_buf function failed\").",
            "every buffer the device consumes is eventually returned in the used ring; dropping an element (QEMU "
                + "virtqueue_detach_element without virtqueue_push) leaks the driver's descriptors until reset",
            "VIRTIO 1.2 §2.7.14 Receiving Used Buffers From The Device, §2.7.8; QEMU virtqueue_detach_element, Linux "
                + "vhost_discard_vq_desc (only before completion, then re-fetched)"
        ),
        new(
            "liveness/queue1-available-chain-not-consumed",
            "The same as liveness/available-chain-not-consumed on the target's second queue (virtio-net's "
                + "transmitq1): chains the driver made available for transmission were never consumed, and the device "
                + "reported no error.",
            "a notified device must consume what the driver made available on every queue, or fail visibly",
            "VIRTIO 1.2 §2.7.13, §5.1.6.2 (transmitting packets); QEMU virtio_net_handle_tx_bh / virtio_net_flush_tx"
        ),
        new(
            "liveness/queue1-chain-never-completed",
            "The same as liveness/chain-never-completed on the target's second queue (virtio-net's transmitq1): a "
                + "transmit chain the device took was never returned through the used ring, and the device reported no "
                + "error.",
            "every transmit buffer the device consumes is returned in the used ring (QEMU pushes it with len 0 "
                + "once sent)",
            "VIRTIO 1.2 §2.7.14, §5.1.6.2; QEMU virtio_net_flush_tx (virtqueue_push after qemu_sendv_packet_async)"
        ),
        new(
            "liveness/rx-frame-waits-with-buffers",
            "A frame arrived from the link and frames still wait although receiveq1 has available chains and the "
                + "device is not broken.",
            "frames waiting for receive buffers are delivered as soon as buffers are available: a frame's arrival "
                + "flushes the waiting frames while receive chains are available",
            "QEMU net/queue.c qemu_flush_queued_packets, hw/net/virtio-net.c virtio_net_can_receive / "
                + "virtio_net_has_buffers; VIRTIO 1.2 §5.1.6.3"
        ),
        // ---- net (Oracles.NetReceiveOracle, Oracles.NetLogJudge; robust virtio-net model)
        new(
            "response/net-rx-no-frame",
            "The robust virtio-net device completed a receive chain without taking a frame from the link.",
            "a receive chain is used only for a packet: each completion on receiveq1 delivers (or drops) one frame",
            "QEMU virtio_net_receive_rcu (virtqueue_pop per packet); VIRTIO 1.2 §5.1.6.4"
        ),
        new(
            "response/net-rx-link-frame",
            "The link delivered a frame that is neither one the input injected nor one of the source link's "
                + "documented frames.",
            "the source link offers broadcast frames of its listed lengths, ethertype 0x88b5, bytes counting up; "
                + "every other frame is one the input made arrive",
            "NetBackend's documentation (SourceFrameLengths, SourceFrame); QEMU's netdev delivers the peer's bytes "
                + "unchanged"
        ),
        new(
            "response/net-rx-used-len",
            "The robust virtio-net device completed a receive chain with a used.len other than 12 + frame bytes "
                + "(the frame fits) or 0 (it does not).",
            "without VIRTIO_NET_F_MRG_RXBUF a packet uses one chain: a chain that holds header and frame reports "
                + "both, a smaller one drops the frame and reports nothing written",
            "VIRTIO 1.2 §5.1.6.3.1, §5.1.6.4.1, §2.7.8.2; QEMU virtio_net_receive_rcu"
        ),
        new(
            "response/net-rx-header",
            "The robust virtio-net device wrote a virtio_net_hdr other than all zero with num_buffers 1.",
            "no offload was negotiated, so flags and gso_type are 0 (VIRTIO_NET_HDR_GSO_NONE); without "
                + "VIRTIO_NET_F_MRG_RXBUF num_buffers MUST be 1",
            "VIRTIO 1.2 §5.1.6, §5.1.6.4.1; QEMU virtio_net_receive_rcu (receive_header, num_buffers)"
        ),
        new(
            "response/net-rx-frame",
            "The bytes the robust virtio-net device wrote after the header differ from the frame the link delivered.",
            "the packet follows the 12-byte header in the receive buffers, byte for byte",
            "VIRTIO 1.2 §5.1.6.4; QEMU virtio_net_receive_rcu (iov_from_buf of the packet)"
        ),
        new(
            "response/net-rx-refused",
            "The robust virtio-net device broke (NEEDS_RESET) on a valid receive chain that has device-writable "
                + "buffers.",
            "a receive chain is refused only when it has no device-writable buffer",
            "QEMU virtio_net_receive_rcu (\"virtio-net receive queue contains no in buffers\"); VIRTIO 1.2 §5.1.6.3"
        ),
        new(
            "response/net-tx-refused",
            "The robust virtio-net device broke (NEEDS_RESET) on a valid transmit chain whose driver-readable bytes "
                + "hold the 12-byte header and at least one byte of packet, instead of sending it.",
            "a transmit chain is refused only when its readable bytes do not go past the header; one with a packet "
                + "after the header is sent and completed with used.len 0",
            "QEMU virtio_net_flush_tx (\"header not in first element\", \"header incorrect\", \"nothing to "
                + "send\"); VIRTIO 1.2 §5.1.6.2"
        ),
        new(
            "response/net-log",
            "The robust virtio-net device's log line for a frame it sent, received or dropped, or for a chain it "
                + "refused, is missing or says something else.",
            "the device logs each frame (tx: length and first bytes; rx: length, head and used.len, or the drop "
                + "with the chain's room) and QEMU's virtio_error text when it breaks",
            "VirtioNetDevice's log contract; QEMU virtio_net_flush_tx / virtio_net_receive_rcu virtio_error texts"
        ),
        // ---- features and the counter's timer (robust virtio-*-qemu targets)
        new(
            "features/offered",
            "device_feature read through a select window is not the feature word the device's spec and QEMU say it "
                + "offers (or a window above 1 is not 0).",
            "a device offers a fixed set of feature bits: its device-specific bits plus what the transport adds "
                + "(INDIRECT_DESC, EVENT_IDX, VERSION_1 on the modern transport); windows above 1 read 0",
            "VIRTIO 1.2 §2.2, §4.1.4.3; QEMU virtio_pci_common_read (VIRTIO_PCI_COMMON_DF), "
                + "DEFINE_VIRTIO_COMMON_FEATURES"
        ),
        new(
            "features/accepted",
            "The device kept FEATURES_OK although the driver wrote a feature bit it did not offer.",
            "the device MUST NOT accept a feature subset it does not support: FEATURES_OK reads back clear",
            "VIRTIO 1.2 §3.1.1 steps 5-6, §2.2.1; QEMU virtio_set_features (refuses unoffered bits)"
        ),
        new(
            "features/refused",
            "The device cleared FEATURES_OK although every bit the driver wrote was offered.",
            "a subset of the offered features is accepted: FEATURES_OK stays set when read back",
            "VIRTIO 1.2 §3.1.1 steps 5-6; QEMU virtio_set_features, virtio_pci_common_write (device_status)"
        ),
        new(
            "status/broke-before-driver-ok",
            "The device set DEVICE_NEEDS_RESET on a device_status write that left DRIVER_OK clear, made while it was "
                + "clear (a ring walked, or a queue served, before the driver was ready).",
            "before DRIVER_OK no queue is processed, so no ring error can break the device on such a write; a "
                + "status write breaks nothing by itself",
            "VIRTIO 1.2 §3.1.2; QEMU virtio_rng_set_status / virtio_rng_process (is_guest_ready), "
                + "virtio_set_status, virtio_pci_common_write (ioeventfds stopped only when DRIVER_OK is cleared)"
        ),
        new(
            "timer/ticks",
            "The counter's log has not exactly the tick lines that fell due over the interval's virtual time (a "
                + "timer never armed, never re-armed, not cancelled, or firing early).",
            "the robust counter's timer is armed when DRIVER_OK is set, ticks once per period and is cancelled "
                + "when DRIVER_OK is cleared or on reset",
            "seed 002 counter device (virtio_counter timer); VIRTIO 1.2 §2.1 (device status); QEMU timer_mod / "
                + "timer_del"
        ),
        new(
            "timer/set-config",
            "A tick logged a set_config value out of sequence.",
            "each tick sets the next value of the counter's sequence, which restarts only on reset",
            "seed 002 counter device; VIRTIO 1.2 §4.1.4.3.1 (device configuration changes)"
        ),
        new(
            "timer/generation",
            "config_generation did not advance by the number of ticks over an interval in which the device never "
                + "broke.",
            "a device changes config_generation whenever its configuration changes, so a driver reading it twice "
                + "sees the change",
            "VIRTIO 1.2 §2.5.1, §4.1.4.3.1; QEMU virtio_notify_config (increments generation)"
        ),
        // ---- hang (targets' own budgets)
        new(
            "hang/event-budget",
            "The simulation spent its whole event budget without the guest getting to act: the device kept scheduling "
                + "work for itself.",
            "a device handler must yield after bounded work; one notification serves at most a bounded batch",
            "Linux vhost VHOST_NET_WEIGHT / vhost_exceeds_weight, QEMU's bounded virtqueue_pop loops; STYLE.md item 7 "
                + "(a limit on everything)"
        ),
        new(
            "hang/vhost-worker-livelock",
            "The vhost worker ran its handler again and again, each run requeueing itself without consuming or "
                + "completing anything.",
            "a vhost handler requeues itself (vhost_poll_queue) only when it stopped early with work left (weight "
                + "exceeded); otherwise it re-enables notification and waits for the next kick",
            "Linux drivers/vhost: handle_tx/handle_rx requeue only on vhost_exceeds_weight, vhost_enable_notify + "
                + "recheck otherwise"
        ),
        // ---- weight (Oracles.VhostWeightOracle, issue 12 item 4)
        new(
            "weight/chain-past-packet-weight",
            "One run of a vhost handler fetched more chains than its packet weight: it did not yield when "
                + "vhost_exceeds_weight said so (or never asked, e.g. passing pkts 0).",
            "a vhost handler calls vhost_exceeds_weight after every request, counting every chain it fetched whatever "
                + "path the request took, and returns once pkts reaches dev->weight, so one guest cannot monopolise "
                + "the worker",
            "Linux drivers/vhost/vhost.c vhost_exceeds_weight; drivers/vhost/net.c handle_tx_copy "
                + "(VHOST_NET_PKT_WEIGHT), handle_rx"
        ),
        new(
            "weight/chain-past-byte-weight",
            "One run of a vhost handler fetched another chain after the chains before it already totalled its byte "
                + "weight.",
            "vhost_exceeds_weight stops a run once total_len reaches dev->byte_weight (total_len counted without "
                + "truncation)",
            "Linux drivers/vhost/vhost.c vhost_exceeds_weight; drivers/vhost/net.c (VHOST_NET_WEIGHT 0x80000)"
        ),
        new(
            "weight/no-requeue-at-weight",
            "A vhost handler reached its packet or byte weight and returned without requeueing its work, and no "
                + "vq_err was raised.",
            "when vhost_exceeds_weight is true it queues the vring's poll work again (vhost_poll_queue): the handler "
                + "stopped with work possibly left and the driver will not kick for buffers it already made available",
            "Linux drivers/vhost/vhost.c vhost_exceeds_weight (vhost_poll_queue(&vq->poll)); VIRTIO 1.2 §2.7.13.4 "
                + "(the driver notifies only on new buffers)"
        ),
        // ---- model (targets comparing with a reference model)
        new(
            "fast-path/",
            "The queue's unobserved paths (TryWalkDirectFast, TryPopBatchDirect, the window paths of FillBatch and "
                + "AddUsedAndSignal) gave a different result than its observed accessor paths for the same input: "
                + "another element, error, index, notification decision, guest memory byte or dirty page.",
            "a fast path is a near-copy kept for speed and must equal the reference it names (STYLE.md item 19): what "
                + "the guest sees may not depend on whether anybody watches the memory",
            "QEMU virtqueue_split_pop / virtqueue_fill / virtqueue_flush (one semantics); VIRTIO 1.2 §2.7.5, §2.7.8; "
                + "tests/Sim.Devices.Tests/Queue/BatchDifferentialTests.cs"
        ),
        new(
            "fast-path/driver-",
            "The driver queue's batch and fused calls on their window paths (TryAddBatch, TryAddBatchAndNotify, "
                + "TryGetUsedBatch, ReapAll: ReapDirect, KickPrepareDirect) gave a different result than the "
                + "one-at-a-time calls they stand for on the accessor paths: another head, used id or len, notify or "
                + "re-check answer, driver state, ring byte or dirty page.",
            "a batch call is by definition its sequential calls repeated (DriverQueue.Batch.cs names each "
                + "reference); what the guest and the device see may not depend on which form the driver used or on "
                + "whether anybody watches the memory",
            "Linux drivers/virtio/virtio_ring.c virtqueue_add_split / virtqueue_kick_prepare_split / "
                + "virtqueue_get_buf_ctx_split / virtqueue_enable_cb; VIRTIO 1.2 §2.7.13; "
                + "tests/Sim.Devices.Tests/Queue/BatchDifferentialTests.cs"
        ),
        new(
            "driver-spec/indirect-table",
            "After a successful TryAddIndirect the ring descriptor at the head is not {table, 16 × n, INDIRECT}, or "
                + "the table does not hold the added buffers in order (readable before writable, WRITE exactly on "
                + "the writable ones, NEXT with next = i + 1 on all but the last), or the head's writable bytes "
                + "are not the writable lengths summed.",
            "the driver's indirect chain is what the device will walk: a dropped NEXT or WRITE flag or a wrong next "
                + "makes the device see another chain than the one the driver added; TryAddIndirect has no fast twin, "
                + "so the two lanes cannot judge it",
            "VIRTIO 1.2 §2.7.5, §2.7.5.3.1; Linux drivers/virtio/virtio_ring.c virtqueue_add_split (indirect)"
        ),
        new(
            "driver-spec/add",
            "A single add (TryAdd of a chain, TryAddIndirect) was refused although the queue was not broken and had "
                + "enough free descriptors, or succeeded without them; or a success did not take exactly the chain's "
                + "descriptors, make the head outstanding and put it in the available ring's next slot; or a refusal "
                + "changed the driver's counts.",
            "a driver refuses a buffer only for lack of descriptors or a broken queue, and an added chain is in the "
                + "available ring at avail_idx_shadow; the single adds have no batch twin, so the two lanes cannot "
                + "judge them",
            "Linux drivers/virtio/virtio_ring.c virtqueue_add_split (-ENOSPC when num_free < descs_used, -EIO when "
                + "broken; avail->ring[avail_idx_shadow & (num - 1)] = head); VIRTIO 1.2 §2.7.13.2"
        ),
        new(
            "driver-spec/enable-delayed",
            "EnableCallbacksDelayed did not store used_event = last_used_idx + bufs (bufs = three quarters of the "
                + "chains outstanding since last_used_idx), did not turn callbacks on, or answered other than "
                + "'no more than bufs already used'.",
            "the delayed enable asks for an interrupt after three quarters of the outstanding chains and tells the "
                + "caller to poll again when more have already been used; it has no fast twin, so the two lanes "
                + "cannot judge it",
            "Linux drivers/virtio/virtio_ring.c virtqueue_enable_cb_delayed_split; VIRTIO 1.2 §2.7.10"
        ),
        new(
            "driver-spec/direct-chain",
            "After a successful TryAdd the chain from the head is not the added buffers in order (readable before "
                + "writable, WRITE exactly on the writable ones, NEXT on all but the last, each next naming the "
                + "following descriptor), uses a descriptor twice or one of another outstanding chain, or the head's "
                + "writable bytes are not the writable lengths summed.",
            "the device walks exactly what the driver wrote: a dropped NEXT or WRITE flag or a wrong next makes it "
                + "see another chain, and a descriptor still in flight belongs to the device until it is used",
            "VIRTIO 1.2 §2.7.5, §2.7.13.1; Linux drivers/virtio/virtio_ring.c virtqueue_add_split (direct)"
        ),
        new(
            "split-virtqueue/iovec-outside-chain",
            "A popped element's iovec is not inside a descriptor of its chain with the same direction.",
            "a popped element maps exactly the chain's descriptors: readable ones as out_sg, writable ones as in_sg",
            "QEMU virtqueue_split_pop / virtqueue_map_desc; VIRTIO 1.2 §2.7.5"
        ),
        new(
            "demo-pci/mmio-read",
            "A BAR0 read returned something other than what the seed's own specification says.",
            "only a 4-byte access at offset 0 reaches buff; other reads return all-ones; a reset clears buff",
            "seed 000 lab 1 (demo PCI device, its guest test); QEMU flatview_read/write_continue + memory_access_size "
                + "split an 8-byte access into 4-byte calls when the ops declare no .valid/.impl sizes, and a device "
                + "without dc->reset keeps its state across reset"
        ),
        new(
            "demo-pci/id-registers-changed",
            "A config-space write changed the read-only vendor/device id registers.",
            "vendor id and device id are read-only",
            "PCI Local Bus 3.0 §6.2.1; QEMU pci_default_write_config honours the wmask (0 for the id registers)"
        ),
        new(
            "guest-memory/",
            "GuestMemory disagreed with the shadow model (validity of a range, the bytes read, or the dirty pages).",
            "an access succeeds exactly when [addr, addr+len) lies inside one region, computed without overflow; a "
                + "failed access changes nothing; dirty pages are exactly the pages written",
            "STYLE.md item 2 (overflow-safe Try accessors); QEMU address_space_access_valid / memory_region dirty log"
        ),
        // ---- transport (VirtioPciRegisterModel, DeviceAccessGate): the virtio-pci target
        new(
            "transport/device-access-while-stopped",
            "The device read or wrote guest memory while the driver had not set DRIVER_OK, had reset it, or had bus "
                + "mastering off.",
            "the device must not consume buffers or send notifications before DRIVER_OK; after a reset it must not "
                + "touch the rings until the driver sets them up again; a PCI function without bus mastering does no "
                + "DMA",
            "VIRTIO 1.2 §3.1.2 (driver requirements: device initialization, DRIVER_OK), §2.4 Device Reset; PCI Local "
                + "Bus 3.0 §6.2.2 Command register, Bus Master Enable"
        ),
        new(
            "transport/needs-reset-from-driver",
            "A status bit only the device may set (DEVICE_NEEDS_RESET) stayed set after the driver wrote it.",
            "DEVICE_NEEDS_RESET is set by the device; the driver MUST NOT set it (only reading it has meaning)",
            "VIRTIO 1.2 §2.1.1 Driver Requirements: Device Status Field"
        ),
        new(
            "transport/features-ok-kept",
            "FEATURES_OK stayed set although the driver accepted feature bits the device never offered.",
            "the device MUST NOT accept a feature the driver accepted that it did not offer, and then leaves "
                + "FEATURES_OK clear",
            "VIRTIO 1.2 §2.2.2 Device Requirements: Feature Bits, §3.1.1 step 5-6"
        ),
        new(
            "transport/reset-",
            "After a reset (status 0) a register did not return to its reset value.",
            "on reset the device returns status to 0 and every queue to its initial state (queue_enable 0, queue_size "
                + "the maximum)",
            "VIRTIO 1.2 §2.4 Device Reset, §4.1.4.3 Common configuration structure layout; QEMU virtio_pci_reset / "
                + "virtio_reset"
        ),
        new(
            "transport/queue-size",
            "queue_size read back a value that is not a power of two within the device's maximum (split ring).",
            "queue_size is at most the device's maximum, and a split ring's size is a power of two",
            "VIRTIO 1.2 §2.7 Split Virtqueues (queue size a power of 2), §4.1.4.3.2"
        ),
        new(
            "transport/isr-not-cleared",
            "Reading the ISR status did not clear it.",
            "the ISR status register is read-to-clear",
            "VIRTIO 1.2 §4.1.4.5 ISR status capability"
        ),
        new(
            "transport/intx-after-isr-read",
            "The INTx line stayed asserted after the driver read the ISR status.",
            "reading ISR de-asserts the legacy interrupt",
            "VIRTIO 1.2 §4.1.4.5.1 Device Requirements: ISR status capability; QEMU virtio_pci_isr_read → "
                + "pci_irq_deassert"
        ),
        new(
            "transport/config-changed-same-generation",
            "Device configuration changed between two reads with the same config_generation.",
            "the device MUST change config_generation whenever any device-configuration field changes",
            "VIRTIO 1.2 §2.5.1 / §4.1.4.3.1 Device Requirements: Common configuration structure layout"
        ),
        new(
            "transport/",
            "A transport register read back something other than what the driver wrote or what the spec fixes.",
            "common-config, legacy and status registers read back the driver's value, except where the spec lets the "
                + "device refuse",
            "VIRTIO 1.2 §4.1.4.3 (common configuration), §4.1.4.8 (legacy interfaces), §2.1 Device Status Field"
        ),
        // ---- vhost control plane (VhostIoctlModel, VhostAccessChecker): the vhost-core target
        new(
            "permission/vhost-outside-table",
            "vhost accessed guest memory outside every running vring and every memory-table region.",
            "vhost reaches guest memory only through the VMM's memory table; an address the table does not map fails "
                + "with -EFAULT and vq_err",
            "Linux drivers/vhost/vhost.c translate_desc / vhost_iotlb lookup, vq_access_ok, vhost_vq_access_ok"
        ),
        new(
            "errno/",
            "A vhost ioctl returned a different result than Linux returns for the same request and state.",
            "the control plane validates like Linux: -EBUSY while a backend runs, -EINVAL for bad sizes/alignments, "
                + "-EFAULT for unmapped ring addresses, -E2BIG for too many regions, -EPERM without an owner",
            "Linux drivers/vhost/vhost.c vhost_dev_ioctl, vhost_vring_ioctl, vhost_set_memory, vhost_dev_check_owner"
        ),
        // ---- oracle-wide fallbacks (engine oracles and exception sites "Type@Frame")
        new(
            "step-budget@",
            "A loop ran past the execution's step budget (livelock, or a loop over guest data without a bound).",
            "every loop over guest-controlled data names its bound; a device never waits forever on the guest",
            "STYLE.md item 7; QEMU virtqueue_pop's max-descriptor checks, Linux vhost's weights"
        ),
        new(
            FuzzOracle.Hang,
            "The execution did not finish within its budget.",
            "guest input must never make the device loop forever",
            "STYLE.md item 7"
        ),
        new(
            FuzzOracle.Exception,
            "A host exception escaped device code on guest input.",
            "guest misbehaviour is data: it yields a defined device state (QEMU virtio_error → NEEDS_RESET, Linux "
                + "vhost vq_err), never a host exception",
            "STYLE.md item 4; VIRTIO 1.2 §2.1.2 DEVICE_NEEDS_RESET"
        ),
        new(
            FuzzOracle.Assert,
            "An always-on assertion (a device invariant) failed.",
            "device invariants hold for every guest input",
            "STYLE.md item 11"
        ),
        new(
            FuzzOracle.Resource,
            "One execution allocated more host memory than its bound.",
            "no host allocation is sized by a guest value",
            "STYLE.md non-negotiables; QEMU VIRTQUEUE_MAX_SIZE and vhost's iov limits bound per-request allocation"
        ),
        new(
            "used-ring",
            "The device broke a used-ring invariant.",
            "the used ring holds each consumed chain once, with a truthful len",
            "VIRTIO 1.2 §2.7.8"
        ),
        new(
            "permission",
            "The device accessed guest memory the driver did not give it.",
            "devices touch only the rings and the buffers of chains in flight, in their direction",
            "VIRTIO 1.2 §2.7.5.1"
        ),
        new(
            "response",
            "The device's answer to a request (response bytes, used.len, status, log, disk) differs from its "
                + "reference model.",
            "a device's answer is a function of the request bytes the guest offered and the state earlier requests "
                + "left",
            "src/Fuzz/Oracles/DeviceReferenceModels.cs (seed 000-003 handlers, QEMU virtio_blk_handle_request)"
        ),
        new(
            "liveness",
            "The device stopped making progress without reporting an error.",
            "a notified device consumes and completes available buffers or fails visibly",
            "VIRTIO 1.2 §2.7.13, §2.7.14, §2.1.2"
        ),
        new(
            "model",
            "The implementation disagreed with its reference model.",
            "the implementation matches its reference model",
            "the target's model (see its description)"
        ),
    ];

    private static OracleRule MissedAfterDrain(string site, string who) =>
        new(
            site,
            $"After the guest stopped, kicked and {who} drained the ring, used entries had been added since the last "
                + "interrupt delivered, the driver's suppression state required one, and none was delivered.",
            "without VIRTIO_F_EVENT_IDX the device must interrupt after adding used entries unless avail.flags has "
                + "VIRTQ_AVAIL_F_NO_INTERRUPT; with it, it must interrupt when used.idx moves past used_event "
                + "(vring_need_event(used_event, new, old)); a driver that suppressed nothing sleeps forever on a "
                + "missed interrupt",
            "VIRTIO 1.2 §2.7.7.2 Device Requirements: Used Buffer Notification Suppression, §2.7.10 Available Buffer "
                + "Notification Suppression (used_event); QEMU virtio_split_should_notify + virtio_notify_irqfd, "
                + "Linux vhost_notify + vhost_signal (eventfd_signal on the call fd)"
        );

    /// <summary>Every entry (exact sites, families, oracle-wide fallbacks).</summary>
    public static IReadOnlyList<OracleRule> All => Table;

    /// <summary>The rule for <paramref name="site"/>: its exact entry, else the longest family prefix (an entry
    /// ending in <c>/</c> or <c>@</c>), else null.</summary>
    public static OracleRule? ForSite(string site)
    {
        ArgumentNullException.ThrowIfNull(site);
        OracleRule? best = null;
        foreach (OracleRule r in Table)
        {
            if (string.Equals(r.Site, site, StringComparison.Ordinal))
                return r;
            bool family = r.Site.EndsWith('/') || r.Site.EndsWith('@');
            if (
                family
                && site.StartsWith(r.Site, StringComparison.Ordinal)
                && (best is null || r.Site.Length > best.Site.Length)
            )
                best = r;
        }
        return best;
    }

    /// <summary>The rule for a finding: by site (<see cref="ForSite"/>), else the oracle-wide entry, else
    /// null.</summary>
    public static OracleRule? For(string oracle, string site)
    {
        ArgumentNullException.ThrowIfNull(oracle);
        if (ForSite(site) is { } r)
            return r;
        return Array.Find(Table, e => string.Equals(e.Site, oracle, StringComparison.Ordinal));
    }

    /// <summary>The summary's <c>rule:</c> text for a finding (never empty).</summary>
    public static string Describe(string oracle, string site) =>
        For(oracle, site)?.ToString()
        ?? $"No rule is recorded for oracle '{oracle}' at '{site}' (add it to {nameof(OracleRules)}).";
}
