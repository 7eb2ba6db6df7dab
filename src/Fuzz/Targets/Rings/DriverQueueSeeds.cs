namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// Seeds of the <c>driver-queue</c> target (<see cref="DriverQueueTarget"/>, input format v1): a header (queue size
/// choice, flags: bit 0 EVENT_IDX, bits 1-2 ring placement), then operations. Driver ops 0..14 (add-batch,
/// add-and-notify, add-chain, add-indirect, publish, notify, reap-batch, reap-all, get-used, has-used,
/// disable-callbacks, enable-callbacks, enable-callbacks-delayed, detach-unused, clear-dirty/reset), device ops 15..20
/// (take chains, complete, stray used entry, used.idx store, suppression word, raw used-ring store). Each seed reaches
/// a round trip the fast paths take: a full batch, a fused kick with and without EVENT_IDX, out-of-order completions
/// reaped by the handler loop, a queue broken by a hostile device. (A choice among one alternative reads no byte: the
/// device's pick of the last chain it holds has no byte, only its len.)
/// </summary>
internal static class DriverQueueSeeds
{
    private const byte AddBatch = 0,
        AddAndNotify = 1,
        AddChain = 2,
        AddIndirect = 3,
        Notify = 5,
        ReapBatch = 6;
    private const byte ReapAll = 7,
        GetUsed = 8,
        HasUsed = 9,
        Disable = 10,
        Enable = 11,
        EnableDelayed = 12;
    private const byte DetachUnused = 13,
        ClearDirty = 14,
        Take = 15,
        Complete = 16,
        StrayUsed = 17,
        UsedIdx = 18;
    private const byte Suppress = 19;

    /// <summary>Every seed.</summary>
    public static IEnumerable<byte[]> All() =>
        [
            BatchReapedInReverse(),
            FusedKicksWithEventIdx(),
            HostileDevice(),
            LargeBatchAcrossPages(),
            HandlerStoppedFullWithFlagsAcrossAPage(),
            LargeQueueBatchAcrossDescriptorPages(),
        ];

    /// <summary>The large queue (flags 0xff: size 16384, the table 0x10 into its page, 65 pages, too many for a
    /// window's page mask): a batch of 128 pairs takes descriptors 0..255, and the last pair (254, 255) straddles the
    /// table's first page boundary, so the batch add's one-at-a-time dirty marks (MarkDescriptorsWritten when the
    /// table does not fit the mask) must mark the second descriptor's page too; the dirty pages are compared at the
    /// end. (The pair count is a two-byte choice, little-endian.)</summary>
    private static byte[] LargeQueueBatchAcrossDescriptorPages() => [0, 0xff, AddBatch, 128, 0, .. Buffers(256)];

    /// <summary>Size 256, no EVENT_IDX, the table at 0xff8 into its page, so the available ring's flags (0x2ff8) and
    /// used_event (0x31fc) lie on different pages: the interrupt handler with room for no id disables callbacks
    /// (VIRTQ_AVAIL_F_NO_INTERRUPT into avail.flags, Linux virtqueue_disable_cb_split) and stops before the enable's
    /// used_event store, so only the flags page is dirty; a batch body that marks another page is seen at the
    /// end.</summary>
    private static byte[] HandlerStoppedFullWithFlagsAcrossAPage() => [8, 4, ReapAll, 0];

    /// <summary>Size 8, no EVENT_IDX: a batch of 3 pairs, kick, the device takes and completes them in
    /// reverse, the interrupt handler reaps them.</summary>
    private static byte[] BatchReapedInReverse() =>
        [3, 0, AddBatch, 3, .. Buffers(6), Notify, Take, 3, Complete, 3, 0, 2, 3, 1, 3, 3, ReapAll, 9, ClearDirty, 0];

    /// <summary>Size 16, EVENT_IDX, table across a page: fused kicks, completions one at a time and out of
    /// order, reaps with callbacks off and on, a direct and an indirect chain, detach after a reset-like
    /// stop.</summary>
    private static byte[] FusedKicksWithEventIdx() =>
        [
            4,
            5,
            AddAndNotify,
            4,
            .. Buffers(8),
            Take,
            4,
            Complete,
            2,
            1,
            3,
            2,
            0,
            4,
            ReapBatch,
            1,
            Disable,
            Complete,
            2,
            0,
            0,
            1,
            0,
            Enable,
            ReapBatch,
            8,
            AddChain,
            2,
            1,
            0,
            .. Buffers(3),
            AddIndirect,
            1,
            2,
            3,
            .. Buffers(3),
            Notify,
            Take,
            4,
            Complete,
            2,
            1,
            0,
            2,
            2,
            GetUsed,
            HasUsed,
            EnableDelayed,
            AddAndNotify,
            2,
            .. Buffers(4),
            Suppress,
            0,
            3,
            AddAndNotify,
            1,
            .. Buffers(2),
            DetachUnused,
            ClearDirty,
            0,
            DetachUnused,
            ClearDirty,
            1,
        ];

    /// <summary>Size 4: a hostile device returns an id never offered, then moves used.idx past everything
    /// outstanding.</summary>
    private static byte[] HostileDevice() =>
        [
            2,
            0,
            AddBatch,
            2,
            .. Buffers(4),
            Notify,
            Take,
            2,
            StrayUsed,
            1,
            1,
            200,
            2,
            UsedIdx,
            1,
            3,
            0,
            ReapAll,
            5,
            ClearDirty,
            1,
            AddBatch,
            1,
            .. Buffers(2),
            Notify,
            Take,
            1,
            UsedIdx,
            1,
            9,
            0,
            ReapBatch,
            5,
        ];

    /// <summary>Size 256, table not 16-aligned: a batch of 127 pairs across the table's pages, and its reap.
    /// (Counts up to size + 1 take two bytes, little-endian, past 256 choices.)</summary>
    private static byte[] LargeBatchAcrossPages() =>
        [
            8,
            6,
            AddAndNotify,
            127,
            .. Buffers(254),
            Take,
            255,
            0,
            Complete,
            255,
            0,
            0,
            .. Repeat(126, 0, 2),
            2,
            ReapAll,
            255,
            0,
            ClearDirty,
            0,
        ];

    /// <summary><paramref name="count"/> buffers: address choice, offset, length choice (varied,
    /// deterministic).</summary>
    private static byte[] Buffers(int count)
    {
        var bytes = new byte[count * 3];
        for (int k = 0; k < count; k++)
        {
            bytes[3 * k] = (byte)(k % 3);
            bytes[(3 * k) + 1] = (byte)(16 * k);
            bytes[(3 * k) + 2] = (byte)(2 + (k % 4));
        }
        return bytes;
    }

    private static byte[] Repeat(int count, byte a, byte b)
    {
        var bytes = new byte[count * 2];
        for (int k = 0; k < count; k++)
        {
            bytes[2 * k] = a;
            bytes[(2 * k) + 1] = b;
        }
        return bytes;
    }
}
