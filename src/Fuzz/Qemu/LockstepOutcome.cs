using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// QEMU's observable outcome of one rng or net input (any <see cref="LockstepObservation"/>), coarsened for
/// guidance as <see cref="QemuOutcome"/> is for blk (docs/qemu-backend.md, "Guidance"): broken or not and QEMU's
/// message with its numbers removed, the device status byte, the ISR, how many used entries (classes 0, 1, 2, 3–4,
/// 5–8, more), the set of used length classes (0, 1–15, 16–63, 64–511, 512–4095, 4 KiB–64 KiB−1, larger) and which
/// kinds of difference showed. Raw addresses, ids and exact lengths are left out so that novelty means a new kind
/// of behaviour, not a new random ring. virtio-net adds its frames sent (<see cref="NetOutcome"/>).
/// </summary>
internal static class LockstepOutcome
{
    /// <summary>The outcome of QEMU's half <paramref name="qemu"/>, with the used ring last seen and the kinds of
    /// difference from the model.</summary>
    public static string Describe(
        LockstepObservation qemu,
        (ulong Address, int Size)? used,
        IEnumerable<string> differenceKinds
    )
    {
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(differenceKinds);
        var text = new StringBuilder();
        text.Append(qemu.Broken ? "broken:" : "ok:");
        if (qemu.BrokenReason is { } r)
            text.Append(QemuOutcome.Normalise(r));
        text.Append("|status=").Append(qemu.DeviceStatus.ToString("x2", CultureInfo.InvariantCulture));
        text.Append("|isr=").Append(qemu.Isr);
        ReadOnlySpan<byte> m = qemu.Memory;
        if (
            used is { } q
            && q.Size > 0
            && q.Address <= (ulong)m.Length
            && 4 + (8UL * (ulong)q.Size) <= (ulong)m.Length - q.Address
        )
        {
            int idx = BinaryPrimitives.ReadUInt16LittleEndian(m[(int)(q.Address + 2)..]);
            text.Append("|used=").Append(QemuOutcome.CountClass(idx));
            var classes = new SortedSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < Math.Min(Math.Min(idx, q.Size), QemuOutcome.EntriesMax); i++)
            {
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(m[((int)q.Address + 8 + (8 * i))..]);
                classes.Add(LengthClass(len));
            }
            text.Append('[').AppendJoin(',', classes).Append(']');
        }
        foreach (string kind in differenceKinds.Distinct().Order(StringComparer.Ordinal))
        {
            text.Append("|diff:").Append(kind);
        }
        return text.ToString();
    }

    private static string LengthClass(uint len) =>
        len switch
        {
            0 => "0",
            < 16 => "1-15",
            < 64 => "16-63",
            < 512 => "64-511",
            < 4096 => "512-4095",
            < 65536 => "4K-64K",
            _ => "64K+",
        };
}
