using System.Globalization;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Compares the two halves' <see cref="BlkObservation"/>s: broken or not, the used ring (used.idx and the (id, len)
/// entries, at the address the model's queue uses), the rest of guest memory (status bytes, data the device wrote),
/// the disk, the device status byte and the ISR.
/// </summary>
internal static class BlkComparison
{
    public const string Broken = "broken";
    public const string UsedRing = "used-ring";
    public const string GuestMemory = "guest-memory";
    public const string Disk = "disk";
    public const string DeviceStatus = "device-status";
    public const string Isr = "isr";

    /// <summary>Differing offsets listed in a detail at most.</summary>
    public const int OffsetsListedMax = 8;

    public static List<BlkDifference> Compare(
        BlkObservation model,
        BlkObservation qemu,
        (ulong Address, int Size)? usedRing
    )
    {
        var d = new List<BlkDifference>();
        if (model.Broken != qemu.Broken)
        {
            string modelState = model.Broken ? "broken (" + model.BrokenReason + ")" : "not broken";
            string qemuState = qemu.Broken ? "broken (" + qemu.BrokenReason + ")" : "not broken";
            d.Add(new(Broken, $"model {modelState}, QEMU {qemuState}"));
        }
        ulong usedStart = usedRing?.Address ?? ulong.MaxValue;
        ulong usedEnd = usedRing is { } u ? u.Address + 4 + (8UL * (ulong)u.Size) + 2 : 0;
        var usedOffsets = new List<int>();
        var otherOffsets = new List<int>();
        for (int i = 0; i < model.Memory.Length; i++)
        {
            if (model.Memory[i] == qemu.Memory[i])
                continue;
            if ((ulong)i >= usedStart && (ulong)i < usedEnd)
                usedOffsets.Add(i);
            else
                otherOffsets.Add(i);
        }
        if (usedOffsets.Count > 0 && usedRing is { } ur)
        {
            string modelUsed = VirtioBlkLockstep.DescribeUsed(model.Memory, ur.Address, ur.Size);
            string qemuUsed = VirtioBlkLockstep.DescribeUsed(qemu.Memory, ur.Address, ur.Size);
            d.Add(new(UsedRing, $"model {modelUsed}, QEMU {qemuUsed}"));
        }
        if (otherOffsets.Count > 0)
            d.Add(new(GuestMemory, Bytes(otherOffsets, model.Memory, qemu.Memory), otherOffsets));
        var diskOffsets = new List<int>();
        for (int i = 0; i < model.Disk.Length && diskOffsets.Count <= OffsetsListedMax; i++)
        {
            if (model.Disk[i] != qemu.Disk[i])
                diskOffsets.Add(i);
        }
        if (diskOffsets.Count > 0)
            d.Add(new(Disk, Bytes(diskOffsets, model.Disk, qemu.Disk)));
        if (model.DeviceStatus != qemu.DeviceStatus)
            d.Add(new(DeviceStatus, $"model 0x{model.DeviceStatus:x2}, QEMU 0x{qemu.DeviceStatus:x2}"));
        if (model.Isr != qemu.Isr)
            d.Add(new(Isr, $"model 0x{model.Isr:x2}, QEMU 0x{qemu.Isr:x2}"));
        return d;
    }

    private static string Bytes(List<int> offsets, byte[] model, byte[] qemu) =>
        $"{offsets.Count} byte(s) differ, first at "
        + string.Join(
            ", ",
            offsets
                .Take(OffsetsListedMax)
                .Select(o =>
                    string.Create(CultureInfo.InvariantCulture, $"0x{o:x} model {model[o]:x2} QEMU {qemu[o]:x2}")
                )
        );

    /// <summary>Is <paramref name="offset"/> inside the data buffer area the guest actor hands out?</summary>
    public static bool InBufferArea(int offset) =>
        (ulong)offset >= RingInput.BufferBase && (ulong)offset < RingInput.BufferBase + RingInput.BufferAreaSize;
}
