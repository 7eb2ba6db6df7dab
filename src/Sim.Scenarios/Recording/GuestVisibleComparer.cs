using Sim.Engine.Trace;

namespace Sim.Scenarios.Recording;

/// <summary>
/// The differential replay's checker (<see cref="KvmTraceReplay"/> with another backend): compares only what the
/// guest could observe, ignoring times, sources and every host-side event (eventfds, worker switches, device
/// reads), which differ between backends by design. The guest synchronises with the device only at its reads and
/// at interrupts, so the comparison is by segments: the device writes (address, bytes) between two such points
/// are compared as a multiset (a vhost worker and QEMU's handler may write the used ring and the buffer in either
/// order), then the point itself: MmioRead/PioIn (address, returned bytes) or IrqInject (GSI).
/// </summary>
public sealed class GuestVisibleComparer(TraceReader expected) : ITraceSink
{
    private readonly List<string> _actualWrites = new();
    private ulong _segments;

    public ulong EventsSeen { get; private set; }

    public TraceDivergence? Divergence { get; private set; }

    public bool HasDiverged => Divergence is not null;

    public static bool IsVisible(TraceEventKind kind) => kind is TraceEventKind.MmioRead or TraceEventKind.PioIn or TraceEventKind.DeviceWrite or TraceEventKind.IrqInject;

    public void Write(in TraceEvent actual)
    {
        EventsSeen++;
        if (Divergence is not null || !IsVisible(actual.Kind)) return;
        if (actual.Kind == TraceEventKind.DeviceWrite)
        {
            _actualWrites.Add(Describe(actual));
            return;
        }
        ulong segment = _segments++;
        if (!TryNextSegment(out List<string> expectedWrites, out bool hasPoint, out TraceEvent point, out TraceError? error))
        {
            Divergence = new TraceDivergence(segment, actual.Time, actual.Kind, TraceField.TraceUnreadable, error!.Message, "a guest-visible event", null);
            return;
        }
        if (!CompareWrites(segment, actual.Time, expectedWrites)) return;
        if (!hasPoint)
        {
            Divergence = new TraceDivergence(segment, actual.Time, actual.Kind, TraceField.Presence, "end of the recording's guest-visible events", "a guest-visible event: " + TraceTextFormatter.FormatEvent(segment, actual), null);
            return;
        }
        TraceField field;
        string exp, act;
        string? diff = null;
        if (point.Kind != actual.Kind) (field, exp, act) = (TraceField.Kind, $"{point.Kind}", $"{actual.Kind}");
        else if (point.Kind == TraceEventKind.IrqInject && point.Address != actual.Address) (field, exp, act) = (TraceField.Address, $"GSI {point.Address}", $"GSI {actual.Address}");
        else if (point.Address != actual.Address) (field, exp, act) = (TraceField.Address, $"0x{point.Address:x}", $"0x{actual.Address:x}");
        else if (!point.Data.SequenceEqual(actual.Data))
        {
            int at = point.Data.CommonPrefixLength(actual.Data);
            (field, exp, act) = (TraceField.Data, $"{point.Data.Length} bytes", $"{actual.Data.Length} bytes, first difference at byte {at}");
            diff = TraceComparer.HexDiff(point.Data, actual.Data, at);
        }
        else return;
        Divergence = new TraceDivergence(segment, point.Time, point.Kind, field, "(guest-visible) " + exp, act, diff);
    }

    /// <summary>The live run ended: its trailing device writes must be the recording's, and nothing guest-visible
    /// may be left in the recording.</summary>
    public bool Finish()
    {
        if (Divergence is not null) return false;
        if (!TryNextSegment(out List<string> expectedWrites, out bool hasPoint, out TraceEvent point, out TraceError? error))
        {
            Divergence = new TraceDivergence(_segments, 0, 0, TraceField.TraceUnreadable, error!.Message, "end of the live run", null);
            return false;
        }
        if (!CompareWrites(_segments, 0, expectedWrites)) return false;
        if (hasPoint)
        {
            Divergence = new TraceDivergence(_segments, point.Time, point.Kind, TraceField.Presence, "a guest-visible event: " + TraceTextFormatter.FormatEvent(_segments, point), "end of the live run", null);
            return false;
        }
        return true;
    }

    private bool CompareWrites(ulong segment, long time, List<string> expectedWrites)
    {
        _actualWrites.Sort(StringComparer.Ordinal);
        expectedWrites.Sort(StringComparer.Ordinal);
        bool same = _actualWrites.SequenceEqual(expectedWrites, StringComparer.Ordinal);
        if (!same)
        {
            string missing = string.Join(", ", expectedWrites.Except(_actualWrites, StringComparer.Ordinal).Take(3));
            string extra = string.Join(", ", _actualWrites.Except(expectedWrites, StringComparer.Ordinal).Take(3));
            Divergence = new TraceDivergence(segment, time, TraceEventKind.DeviceWrite, TraceField.Data,
                $"(guest-visible) {expectedWrites.Count} device writes before this point; missing from the replay: [{missing}]",
                $"{_actualWrites.Count} device writes; not in the recording: [{extra}]", null);
        }
        _actualWrites.Clear();
        return same;
    }

    /// <summary>The recording's device writes up to its next read or interrupt (the point, when there is one).</summary>
    private bool TryNextSegment(out List<string> writes, out bool hasPoint, out TraceEvent point, out TraceError? error)
    {
        writes = new List<string>();
        while (expected.TryReadNext(out TraceEvent ev, out error))
        {
            if (!IsVisible(ev.Kind)) continue;
            if (ev.Kind == TraceEventKind.DeviceWrite)
            {
                writes.Add(Describe(ev));
                continue;
            }
            hasPoint = true;
            point = ev;
            return true;
        }
        hasPoint = false;
        point = default;
        return error is null;
    }

    private static string Describe(in TraceEvent ev) => $"0x{ev.Address:x}={Convert.ToHexString(ev.Data)}";
}
