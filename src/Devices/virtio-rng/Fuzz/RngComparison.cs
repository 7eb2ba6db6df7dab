using System.Buffers.Binary;
using System.Globalization;

namespace Virtsim.Fuzz.Qemu;

/// <summary>One way the rng halves differ: <see cref="Kind"/> is one of the <see cref="RngComparison"/>
/// constants.</summary>
internal sealed record RngDifference(string Kind, string Detail) : IQemuDifference;

/// <summary>
/// Compares the two <see cref="RngObservation"/>s of an rng input: the used rings the model's queue had (byte for byte:
/// idx, (id, len) entries, flags, avail_event), every other guest byte except the entropy the model wrote (values
/// differ by nature; a QEMU write outside them shows as a changed byte, a missing or shorter one as used.len), broken
/// or not, the device status and the ISR.
/// </summary>
internal static class RngComparison
{
    public const string UsedRing = "used-ring";
    public const string Memory = "memory";
    public const string Broken = "broken";
    public const string Status = "status";
    public const string Isr = "isr";

    public static List<RngDifference> Compare(
        RngObservation model,
        RngObservation qemu,
        IReadOnlyList<(ulong Address, int Size)> usedRings
    )
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(usedRings);
        var diffs = new List<RngDifference>();
        AddMemoryDiffs(model, qemu, usedRings, diffs);
        AddRegisterDiffs(model, qemu, diffs);
        return diffs;
    }

    /// <summary>The bytes of guest memory inside one of <paramref name="usedRings"/> (flags, idx, ring and
    /// avail_event), clipped to <paramref name="length"/>.</summary>
    private static bool[] UsedMask(int length, IReadOnlyList<(ulong Address, int Size)> usedRings)
    {
        bool[] inUsed = new bool[length];
        foreach ((ulong address, int size) in usedRings)
        {
            ulong end = Math.Min((ulong)inUsed.Length, address + 6 + (8UL * (ulong)size));
            for (ulong a = address; a < end; a++)
                inUsed[a] = true;
        }
        return inUsed;
    }

    /// <summary>A <see cref="UsedRing"/> difference when a used-ring byte differs, a <see cref="Memory"/> one when a
    /// byte outside the used rings and the model's entropy does.</summary>
    private static void AddMemoryDiffs(
        RngObservation model,
        RngObservation qemu,
        IReadOnlyList<(ulong Address, int Size)> usedRings,
        List<RngDifference> diffs
    )
    {
        bool[] inUsed = UsedMask(model.Memory.Length, usedRings);
        int firstUsed = -1,
            firstOther = -1,
            others = 0;
        for (int a = 0; a < model.Memory.Length; a++)
        {
            if (model.Memory[a] == qemu.Memory[a] || (model.Entropy[a] && !inUsed[a]))
                continue;
            if (inUsed[a])
            {
                if (firstUsed < 0)
                    firstUsed = a;
            }
            else
            {
                if (firstOther < 0)
                    firstOther = a;
                others++;
            }
        }
        if (firstUsed >= 0)
        {
            (ulong address, int size) = usedRings.First(r =>
                (ulong)firstUsed >= r.Address && (ulong)firstUsed < r.Address + 6 + (8UL * (ulong)r.Size)
            );
            diffs.Add(
                new(
                    UsedRing,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"used ring 0x{address:x}: model {DescribeUsed(model.Memory, address, size)}; QEMU "
                            + $"{DescribeUsed(qemu.Memory, address, size)}"
                    )
                )
            );
        }
        if (firstOther >= 0)
        {
            diffs.Add(
                new(
                    Memory,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"{others} bytes outside the model's entropy and used rings, first at 0x{firstOther:x}: model "
                            + $"0x{model.Memory[firstOther]:x2}, QEMU 0x{qemu.Memory[firstOther]:x2}"
                    )
                )
            );
        }
    }

    /// <summary>Differences in broken or not, the device status and the ISR.</summary>
    private static void AddRegisterDiffs(RngObservation model, RngObservation qemu, List<RngDifference> diffs)
    {
        if (model.Broken != qemu.Broken)
            diffs.Add(
                new(
                    Broken,
                    $"model {(model.Broken ? "broken (" + model.BrokenReason + ")" : "not broken")}, QEMU "
                        + $"{(qemu.Broken ? "broken (" + qemu.BrokenReason + ")" : "not broken")}"
                )
            );
        if (model.DeviceStatus != qemu.DeviceStatus)
            diffs.Add(
                new(
                    Status,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"device status model 0x{model.DeviceStatus:x2}, QEMU 0x{qemu.DeviceStatus:x2}"
                    )
                )
            );
        if (model.Isr != qemu.Isr)
            diffs.Add(
                new(Isr, string.Create(CultureInfo.InvariantCulture, $"ISR model 0x{model.Isr:x}, QEMU 0x{qemu.Isr:x}"))
            );
    }

    /// <summary>Whether the used ring at (<paramref name="address"/>, <paramref name="size"/>) in
    /// <paramref name="memory"/> holds an entry with len 0 among its first used.idx entries.</summary>
    public static bool HasZeroLengthEntry(ReadOnlySpan<byte> memory, ulong address, int size)
    {
        if (address + 4 + (8UL * (ulong)size) > (ulong)memory.Length)
            return false;
        ushort idx = BinaryPrimitives.ReadUInt16LittleEndian(memory[(int)(address + 2)..]);
        for (int i = 0; i < Math.Min(idx, size); i++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(memory[(int)(address + 8 + (8UL * (ulong)i))..]) == 0)
                return true;
        }
        return false;
    }

    private static string DescribeUsed(ReadOnlySpan<byte> memory, ulong address, int size) =>
        VirtioBlkLockstep.DescribeUsed(memory, address, size);
}
