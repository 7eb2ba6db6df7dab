using System.Buffers.Binary;

namespace Virtsim.Fuzz.Qemu;

/// <summary>What a <see cref="QemuDifferenceEntry"/> may look at: both observations, the differences found, and the
/// used ring the model's queue points at, every used ring it was given during the run, and whether it broke at some
/// point.</summary>
internal sealed record DifferenceCase(
    BlkObservation Model,
    BlkObservation Qemu,
    IReadOnlyList<BlkDifference> Differences,
    (ulong Address, int Size)? UsedRing,
    IReadOnlyList<(ulong Address, int Size)> UsedRingsSeen,
    bool ModelEverBroken,
    bool UnalignedRegisterWrite = false,
    bool KickBeforeDriverOk = false,
    bool DriverWroteStatus = false,
    bool RingsOverlap = false,
    bool BuffersOverlapInKick = false,
    IReadOnlyList<string>? ModelBrokenReasons = null,
    bool QueueSizeRewritten = false,
    IReadOnlyList<(ulong Address, ushort AvailIdx)>? AvailEventsAtKicks = null
)
{
    /// <summary>The model's device broke during the run (now, or before a reset hid it) for a reason
    /// <paramref name="match"/> accepts.</summary>
    public bool ModelBrokeWith(Func<string, bool> match)
    {
        ArgumentNullException.ThrowIfNull(match);
        return (Model.Broken && Model.BrokenReason is { } r && match(r)) || (ModelBrokenReasons?.Any(match) ?? false);
    }

    public bool Has(string kind) => Differences.Any(d => d.Kind == kind);

    /// <summary>Same used.idx, flags and avail_event, and the same multiset of (id, len) entries in another
    /// order.</summary>
    public bool UsedEntriesArePermutation()
    {
        if (UsedRing is not { } u)
            return false;
        ulong end = u.Address + 4 + (8UL * (ulong)u.Size) + 2;
        if (end > (ulong)Model.Memory.Length)
            return false;
        int start = (int)u.Address;
        ReadOnlySpan<byte> m = Model.Memory.AsSpan(start, (int)(end - u.Address));
        ReadOnlySpan<byte> q = Qemu.Memory.AsSpan(start, (int)(end - u.Address));
        if (!m[..4].SequenceEqual(q[..4]) || !m[^2..].SequenceEqual(q[^2..]))
            return false;
        int entries = Math.Min(BinaryPrimitives.ReadUInt16LittleEndian(m[2..]), u.Size);
        ulong[] a = new ulong[entries];
        ulong[] b = new ulong[entries];
        for (int i = 0; i < entries; i++)
        {
            a[i] = BinaryPrimitives.ReadUInt64LittleEndian(m[(4 + (8 * i))..]);
            b[i] = BinaryPrimitives.ReadUInt64LittleEndian(q[(4 + (8 * i))..]);
        }
        Array.Sort(a);
        Array.Sort(b);
        return a.AsSpan().SequenceEqual(b) && m[(4 + (8 * entries))..^2].SequenceEqual(q[(4 + (8 * entries))..^2]);
    }

    /// <summary>The used rings agree but for the notification-suppression fields: flags (le16 first) and
    /// avail_event (le16 last).</summary>
    public bool UsedRingDiffersOnlyInSuppression()
    {
        if (UsedRing is not { } u)
            return false;
        ulong end = u.Address + 4 + (8UL * (ulong)u.Size) + 2;
        if (end > (ulong)Model.Memory.Length)
            return false;
        int length = (int)(end - u.Address);
        return Model
            .Memory.AsSpan((int)u.Address + 2, length - 4)
            .SequenceEqual(Qemu.Memory.AsSpan((int)u.Address + 2, length - 4));
    }

    /// <summary>Both broken, and QEMU's used entries are a proper prefix of the model's (same idx field order): QEMU
    /// dropped the completions of requests still in flight when it broke.</summary>
    public bool QemuUsedIsPrefixOfModel()
    {
        if (UsedRing is not { } u || !Model.Broken || !Qemu.Broken)
            return false;
        ulong end = u.Address + 4 + (8UL * (ulong)u.Size) + 2;
        if (end > (ulong)Model.Memory.Length)
            return false;
        int start = (int)u.Address;
        ushort m = BinaryPrimitives.ReadUInt16LittleEndian(Model.Memory.AsSpan(start + 2));
        ushort q = BinaryPrimitives.ReadUInt16LittleEndian(Qemu.Memory.AsSpan(start + 2));
        if (q >= m || m > u.Size)
            return false;
        return Model.Memory.AsSpan(start + 4, 8 * q).SequenceEqual(Qemu.Memory.AsSpan(start + 4, 8 * q));
    }

    /// <summary>Every differing byte of <paramref name="d"/> is a status byte UNSUPP (model) against IOERR (QEMU), or a
    /// byte QEMU set to 0xff (the <c>errors = 255</c> of virtio_blk_handle_scsi_req).</summary>
    public bool OnlyScsiStatusBytes(BlkDifference d) =>
        d.Offsets is { Count: > 0 } offsets
        && offsets.All(o => (Model.Memory[o] == 2 && Qemu.Memory[o] == 1) || Qemu.Memory[o] == 0xff);

    /// <summary>Every offset of <paramref name="d"/> is the avail_event field (le16 after the entries) of a used ring
    /// the model's queue had during the run.</summary>
    public bool OnlyAvailEventFields(BlkDifference d) =>
        d.Offsets is { Count: > 0 } offsets
        && offsets.All(o =>
            UsedRingsSeen.Any(r =>
                (ulong)o >= r.Address + 4 + (8UL * (ulong)r.Size) && (ulong)o < r.Address + 6 + (8UL * (ulong)r.Size)
            )
        );

    /// <summary>The used rings agree but for NO_NOTIFY (bit 0 of used.flags), which the model's ring has and QEMU's
    /// has not.</summary>
    public bool UsedRingDiffersOnlyInNoNotifyKeptByModel()
    {
        if (UsedRing is not { } u || !UsedRingDiffersOnlyInSuppression())
            return false;
        int at = (int)u.Address;
        int end = at + 4 + (8 * u.Size);
        return (Model.Memory[at] ^ Qemu.Memory[at]) == 1
            && (Model.Memory[at] & 1) == 1
            && Model.Memory[at + 1] == Qemu.Memory[at + 1]
            && Model.Memory.AsSpan(end, 2).SequenceEqual(Qemu.Memory.AsSpan(end, 2));
    }

    /// <summary>Every offset of <paramref name="d"/> is the low byte of used.flags of a used ring the model's queue had
    /// during the run, set to NO_NOTIFY in the model's memory and clear in QEMU's.</summary>
    public bool OnlyNoNotifyBitsKeptByModel(BlkDifference d) =>
        d.Offsets is { Count: > 0 } offsets
        && offsets.All(o =>
            UsedRingsSeen.Any(r => (ulong)o == r.Address)
            && (Model.Memory[o] ^ Qemu.Memory[o]) == 1
            && (Model.Memory[o] & 1) == 1
        );

    /// <summary>The model broke during the run, and every offset of <paramref name="d"/> lies in used.idx or the
    /// entries of a used ring the model's queue had (not the last one: a re-initialisation replaced it), where QEMU's
    /// entries are a proper prefix of the model's: QEMU dropped completions after breaking, and a later reset hid the
    /// break.</summary>
    public bool OnlyDroppedCompletionsInOldUsedRings(BlkDifference d)
    {
        if (!ModelEverBroken || d.Offsets is not { Count: > 0 } offsets)
            return false;
        var prefixRings = UsedRingsSeen
            .Where(r =>
                r.Address + 4 + (8UL * (ulong)r.Size) <= (ulong)Model.Memory.Length && QemuEntriesArePrefix(r.Address)
            )
            .ToList();
        return offsets.All(o =>
            prefixRings.Any(r => (ulong)o >= r.Address + 2 && (ulong)o < r.Address + 4 + (8UL * (ulong)r.Size))
        );
    }

    private bool QemuEntriesArePrefix(ulong used)
    {
        int start = (int)used;
        ushort m = BinaryPrimitives.ReadUInt16LittleEndian(Model.Memory.AsSpan(start + 2));
        ushort q = BinaryPrimitives.ReadUInt16LittleEndian(Qemu.Memory.AsSpan(start + 2));
        return q < m
            && start + 4 + (8 * q) <= Model.Memory.Length
            && Model.Memory.AsSpan(start + 4, 8 * q).SequenceEqual(Qemu.Memory.AsSpan(start + 4, 8 * q));
    }

    /// <summary>The used rings agree but for avail_event (le16 after the entries), and QEMU's avail_event is what
    /// its last kick of that ring stored there: avail.idx at that kick (<see cref="AvailEventsAtKicks"/>).</summary>
    public bool UsedRingDiffersOnlyInAvailEventSetToAvailIdx()
    {
        if (UsedRing is not { } u)
            return false;
        ulong end = u.Address + 4 + (8UL * (ulong)u.Size) + 2;
        if (end > (ulong)Model.Memory.Length)
            return false;
        int start = (int)u.Address;
        int length = (int)(end - u.Address);
        return Model.Memory.AsSpan(start, length - 2).SequenceEqual(Qemu.Memory.AsSpan(start, length - 2))
            && QemuAvailEventIsLastKicksAvailIdx(end - 2);
    }

    /// <summary>Every offset of <paramref name="d"/> lies in an avail_event field a kick of the run made QEMU store
    /// (an earlier used ring's, when a re-initialisation moved the rings), and QEMU's value there is avail.idx at the
    /// last such kick.</summary>
    public bool OnlyAvailEventsSetAtKicks(BlkDifference d) =>
        d.Offsets is { Count: > 0 } offsets
        && AvailEventsAtKicks is { } kicks
        && offsets.All(o =>
            kicks.Any(k =>
                (ulong)o >= k.Address && (ulong)o < k.Address + 2 && QemuAvailEventIsLastKicksAvailIdx(k.Address)
            )
        );

    private bool QemuAvailEventIsLastKicksAvailIdx(ulong field)
    {
        if (AvailEventsAtKicks is null || field + 2 > (ulong)Qemu.Memory.Length)
            return false;
        (ulong Address, ushort AvailIdx)? last = null;
        foreach ((ulong Address, ushort AvailIdx) k in AvailEventsAtKicks)
        {
            if (k.Address == field)
                last = k;
        }
        return last is { } l && BinaryPrimitives.ReadUInt16LittleEndian(Qemu.Memory.AsSpan((int)field)) == l.AvailIdx;
    }
}
