using System.Globalization;

namespace Virtsim.Fuzz.Qemu;

/// <summary>One way the net halves differ: <see cref="Kind"/> is one of the <see cref="NetComparison"/>
/// constants.</summary>
internal sealed record NetDifference(string Kind, string Detail) : IQemuDifference;

/// <summary>
/// Compares the two <see cref="NetObservation"/>s of a net input: the used rings the model's queues had (idx, (id,
/// len) entries, flags, avail_event; receiveq1's and transmitq1's), the frames each put on its link, every other guest
/// byte (headers and frames written, and what was left alone), broken
/// or not, the device status and the ISR. A differing byte the model's device wrote as 0x01 or 0x00 where QEMU left
/// another value is kind <see cref="NumBuffers"/> when there are at most two of them per received frame (the
/// num_buffers field of VIRTIO 1.2 §5.1.6: the model writes 1, QEMU 7.2 without mergeable buffers does not write it);
/// any other byte is kind <see cref="Memory"/>.
/// </summary>
internal static class NetComparison
{
    public const string UsedRing = "used-ring";
    public const string UsedFlags = "used-flags";
    public const string Memory = "memory";
    public const string NumBuffers = "num-buffers";
    public const string Broken = "broken";
    public const string Status = "status";
    public const string Isr = "isr";
    public const string FramesSent = "frames-sent";

    public static List<NetDifference> Compare(
        NetObservation model,
        NetObservation qemu,
        IReadOnlyList<(ulong Address, int Size)> usedRings,
        long framesReceived
    )
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(usedRings);
        var diffs = new List<NetDifference>();
        MemoryTally tally = TallyMemory(model, qemu, usedRings, framesReceived);
        AddMemoryDiffs(model, qemu, usedRings, tally, diffs);
        AddRegisterDiffs(model, qemu, diffs);
        AddSentDiff(model, qemu, diffs);
        return diffs;
    }

    /// <summary>Where the differing guest bytes fall: the first in a used ring (-1: none), the first and the count of
    /// those outside (-1, 0: none), the count taken for num_buffers and the count of notification hints.</summary>
    private readonly record struct MemoryTally(int FirstUsed, int FirstOther, int Others, int NumBuffers, int Hints);

    /// <summary>Sorts each differing byte of guest memory into one kind (hint, used ring, num_buffers, other); more
    /// num_buffers bytes than two per received frame are not num_buffers fields and count as other bytes.</summary>
    private static MemoryTally TallyMemory(
        NetObservation model,
        NetObservation qemu,
        IReadOnlyList<(ulong Address, int Size)> usedRings,
        long framesReceived
    )
    {
        bool[] inUsed = UsedMask(model.Memory.Length, usedRings);
        bool[] hint = HintMask(model.Memory.Length, usedRings);
        int firstUsed = -1,
            firstOther = -1,
            others = 0,
            numBuffers = 0,
            hints = 0;
        for (int a = 0; a < model.Memory.Length; a++)
        {
            if (model.Memory[a] == qemu.Memory[a])
                continue;
            if (hint[a])
            {
                hints++;
            }
            else if (inUsed[a])
            {
                if (firstUsed < 0)
                    firstUsed = a;
            }
            else if (model.DeviceWrote[a] && model.Memory[a] is 0 or 1)
            {
                numBuffers++;
            }
            else
            {
                if (firstOther < 0)
                    firstOther = a;
                others++;
            }
        }
        if (numBuffers > 2 * framesReceived)
        {
            others += numBuffers;
            numBuffers = 0;
        }
        return new(firstUsed, firstOther, others, numBuffers, hints);
    }

    /// <summary>One difference per kind of differing guest byte in <paramref name="t"/>.</summary>
    private static void AddMemoryDiffs(
        NetObservation model,
        NetObservation qemu,
        IReadOnlyList<(ulong Address, int Size)> usedRings,
        MemoryTally t,
        List<NetDifference> diffs
    )
    {
        (int firstUsed, int firstOther, int others, int numBuffers, int hints) = t;
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
                        $"used ring 0x{address:x}: model "
                            + $"{VirtioBlkLockstep.DescribeUsed(model.Memory, address, size)}; "
                            + $"QEMU {VirtioBlkLockstep.DescribeUsed(qemu.Memory, address, size)}"
                    )
                )
            );
        }
        if (hints > 0)
        {
            diffs.Add(
                new(
                    UsedFlags,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"{hints} bytes of used.flags or avail_event (notification hints) differ"
                    )
                )
            );
        }
        if (numBuffers > 0)
        {
            diffs.Add(
                new(
                    NumBuffers,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"{numBuffers} bytes the model wrote as num_buffers (0x01 0x00), QEMU left the guest's"
                    )
                )
            );
        }
        if (others > 0)
        {
            string first =
                firstOther < 0
                    ? ""
                    : string.Create(
                        CultureInfo.InvariantCulture,
                        $", first at 0x{firstOther:x}: model 0x{model.Memory[firstOther]:x2}, "
                            + $"QEMU 0x{qemu.Memory[firstOther]:x2}"
                    );
            diffs.Add(
                new(
                    Memory,
                    string.Create(CultureInfo.InvariantCulture, $"{others} bytes outside the used rings{first}")
                )
            );
        }
    }

    /// <summary>What went out on the link (transmitq1): the model's frames against the datagrams QEMU sent (its socket
    /// backend has no vnet header, so QEMU strips the guest's 12 bytes as the model does).</summary>
    private static void AddSentDiff(NetObservation model, NetObservation qemu, List<NetDifference> diffs)
    {
        bool same = model.SentCount == qemu.SentCount && model.Sent.Count == qemu.Sent.Count;
        for (int i = 0; same && i < model.Sent.Count; i++)
            same = model.Sent[i].AsSpan().SequenceEqual(qemu.Sent[i]);
        if (same)
            return;
        diffs.Add(
            new(
                FramesSent,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"frames on the link: model {model.SentCount} ({Lengths(model.Sent)}), "
                        + $"QEMU {qemu.SentCount} ({Lengths(qemu.Sent)})"
                )
            )
        );
    }

    private static string Lengths(List<byte[]> frames) =>
        frames.Count == 0
            ? "none"
            : string.Join(' ', frames.TakeLast(8).Select(f => f.Length.ToString(CultureInfo.InvariantCulture) + " B"));

    private static bool[] UsedMask(int length, IReadOnlyList<(ulong Address, int Size)> usedRings)
    {
        bool[] inUsed = new bool[length];
        foreach ((ulong address, int size) in usedRings)
        {
            ulong end = Math.Min((ulong)length, address + 6 + (8UL * (ulong)size));
            for (ulong a = address; a < end; a++)
                inUsed[a] = true;
        }
        return inUsed;
    }

    /// <summary>The used rings' flags (bytes 0-1) and avail_event (the two bytes after the ring): the device's
    /// notification hints to the driver (VIRTIO 1.2 §2.7.10), not what it completed.</summary>
    private static bool[] HintMask(int length, IReadOnlyList<(ulong Address, int Size)> usedRings)
    {
        bool[] hint = new bool[length];
        foreach ((ulong address, int size) in usedRings)
        {
            ulong avail = address + 4 + (8UL * (ulong)size);
            foreach (ulong a in (ReadOnlySpan<ulong>)[address, address + 1, avail, avail + 1])
            {
                if (a < (ulong)length)
                    hint[a] = true;
            }
        }
        return hint;
    }

    private static void AddRegisterDiffs(NetObservation model, NetObservation qemu, List<NetDifference> diffs)
    {
        if (model.Broken != qemu.Broken)
        {
            diffs.Add(new(Broken, $"model {Describe(model)}, QEMU {Describe(qemu)}"));
        }
        if (model.DeviceStatus != qemu.DeviceStatus)
        {
            diffs.Add(
                new(
                    Status,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"device status model 0x{model.DeviceStatus:x2}, QEMU 0x{qemu.DeviceStatus:x2}"
                    )
                )
            );
        }
        if (model.Isr != qemu.Isr)
        {
            diffs.Add(
                new(Isr, string.Create(CultureInfo.InvariantCulture, $"ISR model 0x{model.Isr:x}, QEMU 0x{qemu.Isr:x}"))
            );
        }
    }

    private static string Describe(NetObservation o) => o.Broken ? "broken (" + o.BrokenReason + ")" : "not broken";
}
