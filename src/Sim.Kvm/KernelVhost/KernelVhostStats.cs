using Sim.Engine;

namespace Sim.Kvm.KernelVhost;

/// <summary>
/// lab/vhost-demo's data-path counters (<c>VHOST_DEMO_GET_STATS</c>, struct vhost_demo_stats): handler runs with a
/// backend attached, used entries added, <c>vhost_signal</c> calls with a call eventfd set, and the used index right
/// after each of the last <see cref="SignalLog"/> signals (signal i at <c>SignalUsedIdx[i % SignalLog]</c>).
/// </summary>
/// <param name="Kicks">Handler runs (coalesced kicks are one run; a run over its weight requeues itself).</param>
/// <param name="Used">Used entries added (vhost_add_used that succeeded).</param>
/// <param name="Signals">vhost_signal calls made with a call eventfd set.</param>
/// <param name="SignalUsedIdx">The module's ring of used indexes at the signals (length
/// <see cref="SignalLog"/>).</param>
public sealed record KernelVhostStats(ulong Kicks, ulong Used, ulong Signals, ushort[] SignalUsedIdx)
{
    /// <summary>VHOST_DEMO_SIGNAL_LOG: signals whose used index the module keeps.</summary>
    public const int SignalLog = 64;

    /// <summary>Counters of a freshly opened device.</summary>
    public static KernelVhostStats Zero { get; } = new(0, 0, 0, new ushort[SignalLog]);

    /// <summary>The used index right after signal <paramref name="signal"/> (0-based), when the ring still holds
    /// it.</summary>
    public bool TryUsedIdxAtSignal(ulong signal, out ushort usedIdx)
    {
        usedIdx = 0;
        if (signal >= Signals || Signals - signal > SignalLog)
            return false;
        usedIdx = SignalUsedIdx[checked((int)(signal % SignalLog))];
        return true;
    }
}

/// <summary>
/// What the kernel did between two looks of the direct-wired recorder (docs/recording.md §5): the difference of two
/// <see cref="KernelVhostStats"/> read while the kernel was quiescent (after the module's flush, the guest stopped in
/// an exit), checked against the used index the recorder read from real memory. Each interrupt is known to lie
/// between the two looks; the used index at each signal orders it among the used entries, which is all the replay
/// needs (the guest-visible differential compares device bytes at each interrupt, in order).
/// </summary>
/// <param name="Kicks">Handler runs since the previous look.</param>
/// <param name="Used">Used entries added since the previous look.</param>
/// <param name="SignalUsedIdx">For each signal since the previous look, in order: the used index after it.</param>
public sealed record KernelVhostActivity(ulong Kicks, ulong Used, IReadOnlyList<ushort> SignalUsedIdx)
{
    /// <summary>Nothing happened.</summary>
    public bool IsEmpty => Kicks == 0 && Used == 0 && SignalUsedIdx.Count == 0;

    /// <summary>The activity from <paramref name="before"/> to <paramref name="after"/>; the used index was
    /// <paramref name="lastUsedIdx"/> at the previous look and is <paramref name="usedIdx"/> now (read in real
    /// memory). False, with the reason, when the counters do not explain the ring: a counter went back, the used
    /// entries added are not the used index's advance (mod 2^16), more signals than the module's log keeps, or a
    /// signal's used index outside (lastUsedIdx, usedIdx] or behind the previous signal's.</summary>
    public static bool TryDiff(
        KernelVhostStats before,
        KernelVhostStats after,
        ushort lastUsedIdx,
        ushort usedIdx,
        out KernelVhostActivity activity,
        out string error
    )
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        activity = new KernelVhostActivity(0, 0, []);
        error = "";
        if (after.Kicks < before.Kicks || after.Used < before.Used || after.Signals < before.Signals)
        {
            error =
                $"the module's counters went back (kicks {before.Kicks}→{after.Kicks}, used {before.Used}→"
                + $"{after.Used}, signals {before.Signals}→{after.Signals})";
            return false;
        }
        ulong used = after.Used - before.Used;
        int advance = Narrow.ToUInt16Wrapping(usedIdx - lastUsedIdx);
        if (used % 0x10000 != (ulong)advance)
        {
            error = $"{used} used entries added but used->idx moved {advance} ({lastUsedIdx}→{usedIdx})";
            return false;
        }
        ulong signals = after.Signals - before.Signals;
        if (signals > KernelVhostStats.SignalLog)
        {
            error =
                $"{signals} signals between two looks: the module logs the used index of the last "
                + $"{KernelVhostStats.SignalLog} only";
            return false;
        }
        var at = new List<ushort>((int)signals);
        int previous = 0; // distance from lastUsedIdx of the previous signal's index
        for (ulong s = before.Signals; s < after.Signals; s++)
        {
            if (!after.TryUsedIdxAtSignal(s, out ushort idx))
                throw new InvalidOperationException("signal log");
            int distance = Narrow.ToUInt16Wrapping(idx - lastUsedIdx);
            if (distance > advance || distance < previous)
            {
                error =
                    $"signal {s} at used index {idx}, outside {lastUsedIdx}..{usedIdx} "
                    + "or before the previous signal's";
                return false;
            }
            previous = distance;
            at.Add(idx);
        }
        activity = new KernelVhostActivity(after.Kicks - before.Kicks, used, at);
        return true;
    }
}
