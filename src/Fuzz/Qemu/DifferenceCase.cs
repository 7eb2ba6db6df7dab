using System.Buffers.Binary;

namespace Fuzz.Qemu;

/// <summary>What a <see cref="QemuDifferenceEntry"/> may look at: both observations, the differences found, and the
/// used ring the model's queue points at, every used ring it was given during the run, and whether it broke at some point.</summary>
public sealed record DifferenceCase(BlkObservation Model, BlkObservation Qemu, IReadOnlyList<BlkDifference> Differences, (ulong Address, int Size)? UsedRing, IReadOnlyList<(ulong Address, int Size)> UsedRingsSeen, bool ModelEverBroken)
{
    public bool Has(string kind) => Differences.Any(d => d.Kind == kind);

    /// <summary>Same used.idx, flags and avail_event, and the same multiset of (id, len) entries in another order.</summary>
    public bool UsedEntriesArePermutation()
    {
        if (UsedRing is not { } u) return false;
        ulong end = u.Address + 4 + (8UL * (ulong)u.Size) + 2;
        if (end > (ulong)Model.Memory.Length) return false;
        int start = (int)u.Address;
        ReadOnlySpan<byte> m = Model.Memory.AsSpan(start, (int)(end - u.Address));
        ReadOnlySpan<byte> q = Qemu.Memory.AsSpan(start, (int)(end - u.Address));
        if (!m[..4].SequenceEqual(q[..4]) || !m[^2..].SequenceEqual(q[^2..])) return false;
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

    /// <summary>The used rings agree but for avail_event (the trailing le16).</summary>
    public bool UsedRingDiffersOnlyInAvailEvent()
    {
        if (UsedRing is not { } u) return false;
        ulong end = u.Address + 4 + (8UL * (ulong)u.Size) + 2;
        if (end > (ulong)Model.Memory.Length) return false;
        int length = (int)(end - u.Address);
        return Model.Memory.AsSpan((int)u.Address, length - 2).SequenceEqual(Qemu.Memory.AsSpan((int)u.Address, length - 2));
    }

    /// <summary>Every offset of <paramref name="d"/> is the avail_event field (le16 after the entries) of a used ring
    /// the model's queue had during the run.</summary>
    public bool OnlyAvailEventFields(BlkDifference d) =>
        d.Offsets is { Count: > 0 } offsets && offsets.All(o => UsedRingsSeen.Any(r => (ulong)o >= r.Address + 4 + (8UL * (ulong)r.Size) && (ulong)o < r.Address + 6 + (8UL * (ulong)r.Size)));
}
