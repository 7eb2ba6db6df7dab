using System.Buffers.Binary;
using System.Text;
using Sim.Spec.Virtio;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// QEMU's observable outcome of one input, coarsened for guidance (docs/qemu-backend.md, "Guidance"): broken or not
/// and QEMU's error message with its numbers removed, the device status byte, the ISR, how many used entries (in
/// classes 0, 1, 2, 3–4, 5–8, more) and the set of (used length class, status byte) pairs, and which kinds of
/// difference showed. Raw addresses, ids and exact lengths are left out on purpose: with them every random ring is a
/// "new outcome" and novelty says nothing. The status byte is read where the driver put it — the last byte of the
/// chain's last writable descriptor in QEMU's memory (INDIRECT on the head followed, as QEMU 7.2 does).
/// </summary>
internal static class QemuOutcome
{
    /// <summary>Used entries looked at per input at most.</summary>
    public const int EntriesMax = 16;

    public static string Describe(
        BlkObservation qemu,
        (ulong Desc, ulong Used, int Size)? ring,
        bool indirect,
        IEnumerable<string> differenceKinds
    )
    {
        ArgumentNullException.ThrowIfNull(qemu);
        var text = new StringBuilder();
        text.Append(qemu.Broken ? "broken:" : "ok:");
        if (qemu.BrokenReason is { } r)
            text.Append(Normalise(r));
        text.Append("|status=")
            .Append(qemu.DeviceStatus.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        text.Append("|isr=").Append(qemu.Isr);
        if (
            ring is { } q
            && q.Size > 0
            && q.Used <= (ulong)qemu.Memory.Length
            && 4 + (8UL * (ulong)q.Size) <= (ulong)qemu.Memory.Length - q.Used
        )
        {
            ReadOnlySpan<byte> m = qemu.Memory;
            int idx = BinaryPrimitives.ReadUInt16LittleEndian(m[(int)(q.Used + 2)..]);
            text.Append("|used=").Append(CountClass(idx));
            var pairs = new SortedSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < Math.Min(Math.Min(idx, q.Size), EntriesMax); i++)
            {
                int at = (int)q.Used + 4 + (8 * i);
                uint id = BinaryPrimitives.ReadUInt32LittleEndian(m[at..]);
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(m[(at + 4)..]);
                pairs.Add(LengthClass(len) + "/" + StatusClass(m, q.Desc, q.Size, id, indirect));
            }
            text.Append('[').AppendJoin(',', pairs).Append(']');
        }
        foreach (string kind in differenceKinds.Distinct().Order(StringComparer.Ordinal))
            text.Append("|diff:").Append(kind);
        return text.ToString();
    }

    /// <summary>FNV-1a, 64-bit: stable across processes (string.GetHashCode is not).</summary>
    public static ulong Hash(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ulong h = 0xCBF2_9CE4_8422_2325;
        foreach (char ch in text)
            h = unchecked((h ^ ch) * 0x0000_0100_0000_01B3);
        return h;
    }

    /// <summary>QEMU's message without digits or hex numbers (they carry addresses and indices).</summary>
    public static string Normalise(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var b = new StringBuilder(message.Length);
        foreach (string word in message.Split(' '))
        {
            if (word.StartsWith("0x", StringComparison.Ordinal))
                continue;
            foreach (char ch in word)
            {
                if (!char.IsAsciiDigit(ch))
                    b.Append(ch);
            }
            b.Append(' ');
        }
        return b.ToString().TrimEnd();
    }

    internal static string CountClass(int n) =>
        n switch
        {
            0 => "0",
            1 => "1",
            2 => "2",
            <= 4 => "3-4",
            <= 8 => "5-8",
            _ => "9+",
        };

    /// <summary>0; 1 (status only); 2..512; one sector + status; whole sectors + status; other.</summary>
    private static string LengthClass(uint len) =>
        len switch
        {
            0 => "0",
            1 => "1",
            <= 512 => "short",
            513 => "sector+1",
            _ when (len - 1) % 512 == 0 => "sectors+1",
            _ => "other",
        };

    private static string StatusClass(ReadOnlySpan<byte> m, ulong table, int size, uint head, bool indirect)
    {
        if (head >= size)
            return "bad-id";
        int index = (int)head;
        int limit = size;
        ulong lastWritableEnd = 0;
        for (int step = 0; step < KickOverlap.ChainStepsMax; step++)
        {
            ulong at = table + (16UL * (ulong)index);
            if (table > (ulong)m.Length || at < table || at > (ulong)m.Length - 16)
                return "?"; // the sum may wrap
            ulong address = BinaryPrimitives.ReadUInt64LittleEndian(m[(int)at..]);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(m[(int)(at + 8)..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(m[(int)(at + 12)..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(m[(int)(at + 14)..]);
            if (step == 0 && indirect && (flags & VirtioSpec.DescFIndirect) != 0)
            {
                table = address;
                limit = (int)Math.Min(length / 16, (uint)KickOverlap.ChainStepsMax);
                index = 0;
                if (limit == 0)
                    return "?";
                continue;
            }
            if ((flags & VirtioSpec.DescFWrite) != 0 && length > 0)
                lastWritableEnd =
                    address <= (ulong)m.Length && length <= (ulong)m.Length - address
                        ? address + length
                        : ulong.MaxValue;
            if ((flags & VirtioSpec.DescFNext) == 0 || next >= limit)
                break;
            index = next;
        }
        if (lastWritableEnd == 0 || lastWritableEnd > (ulong)m.Length)
            return "?";
        byte status = m[(int)(lastWritableEnd - 1)];
        return status <= 2 ? status.ToString(System.Globalization.CultureInfo.InvariantCulture) : "other";
    }
}
