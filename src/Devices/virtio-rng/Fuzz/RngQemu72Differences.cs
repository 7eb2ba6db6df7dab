namespace Virtsim.Fuzz.Qemu;

/// <summary>One row of <see cref="RngQemu72Differences"/>: a legitimate difference, why, and the QEMU
/// function.</summary>
internal sealed record RngDifferenceRow(
    string Id,
    string What,
    string Why,
    string QemuFunction,
    Func<RngCase, RngDifference, bool> Explains
);

/// <summary>The observations and facts of one rng input, for the rows.</summary>
internal sealed record RngCase(
    RngObservation Model,
    RngObservation Qemu,
    RngRunFacts Facts,
    IReadOnlyList<(ulong Address, int Size)> UsedRings
)
{
    /// <summary>The model's used rings hold an entry with len 0 (QEMU: no request for a chain without writable
    /// bytes).</summary>
    /// <summary><paramref name="d"/> is QEMU broken (or its NEEDS_RESET status) where the model is not: QEMU walks the
    /// chains it left available at every later kick (virtqueue_get_avail_bytes), the model had popped them.</summary>
    public bool QemuBrokeOnLeftChain(RngDifference d) =>
        d is not null
        && Qemu.Broken
        && !Facts.ModelEverBroken
        && d.Kind is RngComparison.Broken or RngComparison.Status or RngComparison.Isr;

    public bool ModelHasZeroLengthEntry =>
        UsedRings.Any(r => RngComparison.HasZeroLengthEntry(Model.Memory, r.Address, r.Size));
}

/// <summary>
/// The versioned table of legitimate differences between our robust virtio-rng model and QEMU 7.2's virtio-rng-pci
/// with the rng-builtin backend (Debian 12's 7.2.x; hw/virtio/virtio-rng.c, hw/virtio/virtio.c, backends/rng*.c).
/// Every difference of an input must be explained by a row, else the input is a finding
/// (<see cref="VirtioRngQemuTarget"/>). Rows marked "input-level" rest on what the input did, not on the shape of
/// the difference. docs/qemu-backend.md shows this table; keep the two in step.
/// </summary>
internal static class RngQemu72Differences
{
    public const string QemuVersion = Qemu72Differences.QemuVersion;

    private static bool Any(RngDifference _) => true;

    public static IReadOnlyList<RngDifferenceRow> Entries { get; } =
    [
        new(
            "readable-buffers-refused",
            "A chain held driver-readable buffers: the model completed it with used.len 0 and wrote nothing; QEMU "
                + "filled its device-writable buffers (used.len = bytes written), or left it available when no chain "
                + "of the queue had writable bytes, walked it again at every later kick and broke when the driver "
                + "had since rewritten it (e.g. \"Looped descriptor\") while the model, which had popped it, did not.",
            "QEMU's chr_read copies with iov_from_buf into elem->in_sg only and ignores out_sg; get_request_size asks "
                + "the backend for the available in-bytes only. The robust model refuses such a chain (VIRTIO 1.2 "
                + "§5.4.6.1: the driver MUST NOT place driver-readable buffers).",
            "chr_read, get_request_size (hw/virtio/virtio-rng.c)",
            (c, d) =>
                c.Facts.Refused > 0
                && (
                    d.Kind is RngComparison.UsedRing or RngComparison.Memory or RngComparison.Isr
                    || c.QemuBrokeOnLeftChain(d)
                )
        ),
        new(
            "no-writable-bytes-left-available",
            "The model completed a chain with used.len 0 (its writable buffers have length 0); QEMU left it available "
                + "(and did not notify), and may break on it at a later walk after the driver rewrote it.",
            "virtio_rng_process requests MIN(quota, available in-bytes) from the backend and requests nothing when "
                + "that is 0, so chr_read never runs and the chain is not popped; the model pops every available "
                + "chain at a kick (VIRTIO 1.2 §5.4.7.1 allows either).",
            "virtio_rng_process, get_request_size (hw/virtio/virtio-rng.c)",
            (c, d) =>
                c.ModelHasZeroLengthEntry
                && (d.Kind is RngComparison.UsedRing or RngComparison.Isr || c.QemuBrokeOnLeftChain(d))
        ),
        new(
            "stale-avail-at-driver-ok",
            "A re-initialisation left avail.idx non-zero in memory (the rings of the previous set-up): QEMU completed "
                + "a chain with fewer bytes than the model, or completed other chains.",
            "Writing DRIVER_OK runs virtio_rng_process, which sizes an entropy request from the available chains "
                + "memory shows then (the stale ones); the backend answers in a bottom half and chr_read pops "
                + "whatever chain the driver has placed by then, filling only the stale size. The model looks at the "
                + "queue at kicks only; VIRTIO 1.2 §2.7.13 has the driver make buffers available after DRIVER_OK "
                + "only through avail.idx it wrote.",
            "virtio_rng_set_status → virtio_rng_process, chr_read (hw/virtio/virtio-rng.c)",
            (c, d) =>
                c.Facts.StaleAvailAtDriverOk
                && d.Kind is RngComparison.UsedRing or RngComparison.Memory or RngComparison.Isr
        ),
        new(
            "model-broke-qemu-went-on",
            "The model broke the device (a ring, table or buffer outside its 64 KiB, or a chain it is stricter about) "
                + "where QEMU did not; everything after differs.",
            "The model's guest has 64 KiB in two regions, QEMU's 128 MiB in one; 7.2 also accepts INDIRECT on a "
                + "non-head descriptor and avail.idx more than a queue ahead (the blk table's memory-horizon, "
                + "indirect-flag-in-chain and pop-without-avail-distance-check rows).",
            "virtqueue_map_desc, virtqueue_split_pop (hw/virtio/virtio.c)",
            (c, _) => c.Facts.ModelEverBroken && !c.Qemu.Broken
        ),
        new(
            "zero-sized-buffer",
            "QEMU broke with \"virtio: zero sized buffers are not allowed\" where the model did not.",
            "7.2's virtqueue_map_desc refuses a descriptor of length 0 (virtio_error); the robust model maps it as an "
                + "empty buffer (VIRTIO 1.2 §2.7.5 does not forbid a zero-length descriptor).",
            "virtqueue_map_desc (hw/virtio/virtio.c)",
            (c, _) =>
                c.Qemu.Broken
                && !c.Facts.ModelEverBroken
                && (
                    c.Qemu.BrokenReason?.Contains("zero sized buffers are not allowed", StringComparison.Ordinal)
                    ?? false
                )
        ),
        new(
            "both-broken",
            "Both broke; the used rings, ISR or untouched bytes differ (input-level: both broke).",
            "The two break at different moments of the input: QEMU also walks the queue from its rate-limit timer and "
                + "at every status write (the model at kicks and DRIVER_OK), and QEMU's pop maps buffers the model's "
                + "64 KiB cannot hold; what each completed before its break differs. After a break QEMU's ISR is 0x3 "
                + "(virtio_notify_config), robust's 0x2.",
            "get_request_size → virtqueue_get_avail_bytes, virtio_error / virtio_notify_config (hw/virtio/virtio.c)",
            (c, d) => c.Facts.ModelEverBroken && c.Qemu.Broken && d.Kind is not RngComparison.Broken
        ),
        new(
            "timer-served-unkicked-chains",
            "The input left chains available while it did something other than kick, or at its end (input-level): "
                + "QEMU completed chains the model did not, or broke (a walk's or a pop's message) where the model "
                + "is not broken at the end (it may have broken earlier and been reset).",
            "QEMU's rate limiter re-arms a timer on QEMU_CLOCK_VIRTUAL, which runs in real time under TCG; every "
                + "period (1 ms here) check_rate_limit refills the quota and calls virtio_rng_process, which walks "
                + "the available chains (virtqueue_get_avail_bytes: \"Looped descriptor\", \"Guest moved used "
                + "index\", \"Invalid size for indirect buffer table\", \"Guest says index … is available\") and "
                + "requests entropy for them; chr_read pops them (virtqueue_map_desc: \"bogus descriptor\"). So "
                + "chains no kick announced may be served or break QEMU at a moment of wall time the model cannot "
                + "know; the model acts at kicks (VIRTIO 1.2 §2.7.13: the device MAY look at the ring at any time).",
            "check_rate_limit → virtio_rng_process → get_request_size, chr_read (hw/virtio/virtio-rng.c)",
            (c, d) => c.Facts.ChainsWaitedUnkicked && !c.Model.Broken
        ),
        new(
            "driver-wrote-register",
            "The input wrote common-config registers itself unaligned, wrote the status register, or rewrote "
                + "queue_size on the enabled queue (input-level).",
            "The blk table's unaligned-register-write, driver-status-needs-reset and queue-size-rewritten rows: QEMU "
                + "splits unaligned writes, stores the driver's status byte as written and takes a new queue size "
                + "without re-mapping the rings.",
            "virtio_pci_common_write, virtio_set_status, virtio_queue_set_num (hw/virtio/virtio-pci.c, virtio.c)",
            (c, d) => c.Facts.UnalignedRegisterWrite || c.Facts.DriverWroteStatus || c.Facts.QueueSizeRewritten
        ),
        new(
            "entropy-over-rings-or-buffers",
            "A buffer the device writes overlapped the rings or another available buffer at a kick, or the rings "
                + "overlapped each other (input-level).",
            "The device writes entropy over what it reads next (descriptors, avail entries, another chain's buffer): "
                + "its values differ by nature between the halves, so what follows differs; VIRTIO 1.2 §2.7 defines "
                + "no outcome.",
            "chr_read → iov_from_buf (hw/virtio/virtio-rng.c)",
            (c, d) => c.Facts.RingsOverlap || c.Facts.BuffersOverlapInKick
        ),
    ];

    /// <summary>The rows that explain every difference, or null when one is explained by none.</summary>
    public static IReadOnlyList<RngDifferenceRow>? Explain(RngCase c, IReadOnlyList<RngDifference> diffs)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(diffs);
        var rows = new List<RngDifferenceRow>();
        foreach (RngDifference d in diffs)
        {
            RngDifferenceRow? row = Entries.FirstOrDefault(r => r.Explains(c, d));
            if (row is null)
                return null;
            if (!rows.Contains(row))
                rows.Add(row);
        }
        return rows;
    }
}
