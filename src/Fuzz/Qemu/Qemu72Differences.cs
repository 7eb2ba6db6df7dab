namespace Fuzz.Qemu;

/// <summary>
/// The versioned table of legitimate differences between our robust virtio-blk model and QEMU 7.2 (Debian 12's
/// 7.2.x; checked against QEMU's hw/block/virtio-blk.c and hw/virtio/virtio.c). The first row that explains a case
/// wins; a difference no row explains is a finding (<see cref="VirtioBlkQemuTarget"/>). docs/qemu-backend.md shows
/// this table; keep the two in step.
/// </summary>
public static class Qemu72Differences
{
    /// <summary>The QEMU release line the table is written for (compared with <c>qemu-system-x86_64 --version</c>).</summary>
    public const string QemuVersion = "7.2";

    public static IReadOnlyList<QemuDifferenceEntry> Entries { get; } =
    [
        new(
            "memory-horizon",
            "The model breaks the device (a ring, descriptor table or buffer outside guest memory) where QEMU goes on.",
            "The model's guest has 64 KiB in two 32 KiB regions; QEMU's has 128 MiB of RAM in one region, so an address in "
            + "[64 KiB, 128 MiB) or a ring straddling 0x8000 is valid memory there. Everything after the break differs.",
            "virtqueue_map_desc / address_space_cache_init (hw/virtio/virtio.c)",
            (c, _) => c.Model.Broken && !c.Qemu.Broken && c.Model.BrokenReason is { } r && r.Contains("OutsideMemory", StringComparison.Ordinal)),
        new(
            "isr-config-both-bits",
            "After the device breaks, QEMU's ISR reads 0x3 where the model's reads 0x2.",
            "QEMU signals a configuration change (virtio_error sets NEEDS_RESET, then virtio_notify_config) by setting ISR to "
            + "0x3, both bits; our robust flavour sets only the configuration bit, as VIRTIO 1.2 §4.1.4.5 describes (the seed "
            + "flavour of the transport keeps QEMU's 0x3).",
            "virtio_notify_config → virtio_set_isr(vdev, 0x3) (hw/virtio/virtio.c)",
            (c, d) => d.Kind == BlkComparison.Isr && c.Model.Broken && c.Qemu.Broken && (c.Model.Isr | 1) == c.Qemu.Isr && (c.Qemu.Isr & 3) == 3),
        new(
            "completion-order",
            "Requests made available by one kick are completed in another order: the used entries are a permutation of the model's.",
            "QEMU submits a kick's requests asynchronously (virtio_blk_submit_multireq, merged per direction) and pushes "
            + "each when its I/O completes (virtio_blk_rw_complete), so completion order is the thread pool's; the model "
            + "completes in ring order. VIRTIO 1.2 §2.7.14 lets a device use buffers in any order. (The backend runs QEMU's "
            + "thread pool with one worker, so the I/O itself happens in submission order and data agree.)",
            "virtio_blk_handle_vq / virtio_blk_rw_complete (hw/block/virtio-blk.c)",
            (c, d) => d.Kind == BlkComparison.UsedRing && c.UsedEntriesArePermutation()),
        new(
            "avail-event-after-break",
            "With EVENT_IDX, after a malformed request breaks the device, QEMU's avail_event (the used ring's last field) is avail.idx; the model's is the index after the popped request.",
            "virtio_blk_handle_vq leaves its pop loop on the error and re-enables notifications "
            + "(virtio_queue_set_notification(vq, 1) → vring_set_avail_event(vq, vring_avail_idx(vq))) before it sees the "
            + "device broken; the model stops at the pop. The device needs a reset, so the driver may not rely on the field.",
            "virtio_blk_handle_vq (hw/block/virtio-blk.c), virtio_queue_split_set_notification (hw/virtio/virtio.c)",
            (c, d) => c.ModelEverBroken && ((d.Kind == BlkComparison.UsedRing && c.UsedRingDiffersOnlyInAvailEvent()) || (d.Kind == BlkComparison.GuestMemory && c.OnlyAvailEventFields(d)))),
        new(
            "pop-without-avail-distance-check",
            "The model breaks the device when avail.idx is more than a queue's size ahead of the next index it pops; QEMU 7.2 goes on popping.",
            "QEMU 7.2's split-ring pop does not call virtqueue_num_heads: it takes heads modulo the size until avail.idx is "
            + "reached or inuse reaches the size (\"Virtqueue size exceeded\"), handling each request on the way (reads land "
            + "in guest memory even when their completion is dropped because the device broke). Our robust model refuses "
            + "at the pop, as virtqueue_num_heads does for QEMU's other callers (\"Guest moved used index\"). Everything after differs.",
            "virtqueue_split_pop / virtqueue_num_heads (hw/virtio/virtio.c)",
            (c, _) => c.Model.Broken && c.Model.BrokenReason == "AvailIndexTooFar"),
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
            if (!rows.Contains(row)) rows.Add(row);
        }
        unexplained = null;
        return rows;
    }
}
