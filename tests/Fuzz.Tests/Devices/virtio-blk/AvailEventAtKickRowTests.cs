using Virtsim.Fuzz.Qemu;
using Xunit;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The row <c>avail-event-left-by-driver</c> of <see cref="Qemu72Differences"/> on hand-built cases (no QEMU needed):
/// QEMU 7.2's virtio_blk_handle_vq ends each kick with virtio_queue_set_notification(vq, 1), storing avail.idx as it
/// is then into avail_event (VIRTIO 1.2 §2.7.10), so the row accepts QEMU's avail_event when it equals avail.idx at
/// the last kick of that ring (<see cref="LockstepFacts.AvailEventsAtKicks"/>), in the current used ring or in an
/// earlier one a re-initialisation replaced, and nothing else.
/// </summary>
public sealed class AvailEventAtKickRowTests
{
    private const string Row = "avail-event-left-by-driver";

    // Queue of 8, used ring at 0x3fc4: avail_event at 0x3fc4 + 4 + 8 × 8 = 0x4008 (the campaign's layout).
    private const ulong Used = 0x3fc4;
    private const int Size = 8;
    private const int AvailEvent = 0x4008;

    private static (BlkObservation Model, BlkObservation Qemu) Observations(byte model, byte qemu)
    {
        var m = new BlkObservation(0x10000, 512);
        var q = new BlkObservation(0x10000, 512);
        m.Memory[AvailEvent] = model;
        q.Memory[AvailEvent] = qemu;
        return (m, q);
    }

    private static string? Explains(
        BlkObservation m,
        BlkObservation q,
        (ulong, int)? usedRing,
        IReadOnlyList<(ulong, ushort)>? kicks
    )
    {
        List<BlkDifference> diffs = BlkComparison.Compare(m, q, usedRing);
        Assert.Single(diffs);
        var c = new DifferenceCase(m, q, diffs, usedRing, [(Used, Size)], false, AvailEventsAtKicks: kicks);
        return Qemu72Differences.Explain(c, out _) is { } rows ? string.Join(", ", rows.Select(r => r.Id)) : null;
    }

    [Fact]
    public void CurrentRing_QemuWroteAvailIdxOfTheLastKick_IsExplained()
    {
        (BlkObservation m, BlkObservation q) = Observations(2, 0);
        // Two kicks: avail.idx 5 at the first, 0 at the last; the end's avail.idx (8 in the campaign) plays no part.
        Assert.Equal(Row, Explains(m, q, (Used, Size), [(AvailEvent, 5), (AvailEvent, 0)]));
    }

    [Fact]
    public void EarlierRing_AfterReinitialisation_IsExplainedAsGuestMemory()
    {
        (BlkObservation m, BlkObservation q) = Observations(2, 0);
        // The current used ring is elsewhere (0x2018, one entry): the difference is plain guest memory.
        Assert.Equal(Row, Explains(m, q, (0x2018, 1), [(AvailEvent, 0)]));
    }

    [Fact]
    public void QemuValueNotWhatTheLastKickWrote_IsAFinding()
    {
        (BlkObservation m, BlkObservation q) = Observations(2, 0);
        // The last kick stored 3 there: QEMU's 0 is not explained by this row (nor by any other).
        Assert.Null(Explains(m, q, (Used, Size), [(AvailEvent, 0), (AvailEvent, 3)]));
        Assert.Null(Explains(m, q, (0x2018, 1), [(AvailEvent, 0), (AvailEvent, 3)]));
    }

    [Fact]
    public void NoKickOfThatRing_IsAFinding()
    {
        (BlkObservation m, BlkObservation q) = Observations(2, 0);
        Assert.Null(Explains(m, q, (Used, Size), []));
        Assert.Null(Explains(m, q, (0x2018, 1), [(0x2020, 0)]));
    }
}
