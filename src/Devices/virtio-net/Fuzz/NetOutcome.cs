using System.Text;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// QEMU's observable outcome of one virtio-net input, coarsened for guidance (docs/qemu-backend.md, "Guidance"): what
/// <see cref="LockstepOutcome"/> describes for any device (broken or not and QEMU's message without its numbers,
/// status, ISR, used entries and their length classes, the kinds of difference), plus how many frames QEMU put on its
/// link (classes 0, 1, 2, 3–4, 5–8, more: transmitq1's behaviour). Frame bytes are left out, as raw addresses are:
/// novelty means a new kind of behaviour, not a new random frame.
/// </summary>
internal static class NetOutcome
{
    /// <summary>The outcome of QEMU's half <paramref name="qemu"/> (with the used ring last seen and the kinds of
    /// difference from the model).</summary>
    public static string Describe(
        NetObservation qemu,
        (ulong Address, int Size)? used,
        IEnumerable<string> differenceKinds
    )
    {
        ArgumentNullException.ThrowIfNull(qemu);
        var text = new StringBuilder(LockstepOutcome.Describe(qemu, used, differenceKinds));
        text.Append("|sent=").Append(QemuOutcome.CountClass(checked((int)Math.Min(qemu.SentCount, 9))));
        return text.ToString();
    }
}
