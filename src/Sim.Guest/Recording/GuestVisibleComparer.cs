using Sim.Engine.Trace;

namespace Sim.Guest.Recording;

/// <summary>
/// The differential replay's checker (<see cref="KvmTraceReplay"/> with another backend): compares, in order, only
/// what the guest could observe — MmioRead/PioIn (address, size, returned bytes), DeviceWrite (address, bytes) and
/// IrqInject (GSI) — ignoring times, sources and every host-side event (eventfds, worker switches, device reads),
/// which differ between backends by design. Reports the first difference like <see cref="TraceComparer"/>.
/// </summary>
public sealed class GuestVisibleComparer(TraceReader expected) : ITraceSink
{
    public ulong EventsSeen { get; private set; }

    private ulong _compared;

    public TraceDivergence? Divergence { get; private set; }

    public bool HasDiverged => Divergence is not null;

    public static bool IsVisible(TraceEventKind kind) => kind is TraceEventKind.MmioRead or TraceEventKind.PioIn or TraceEventKind.DeviceWrite or TraceEventKind.IrqInject;

    public void Write(in TraceEvent actual)
    {
        EventsSeen++;
        if (Divergence is not null || !IsVisible(actual.Kind)) return;
        ulong index = _compared++;
        if (!TryNextVisible(out TraceEvent e, out TraceError? error))
        {
            Divergence = new TraceDivergence(index, actual.Time, actual.Kind, error is null ? TraceField.Presence : TraceField.TraceUnreadable,
                error?.Message ?? "end of the recording's guest-visible events", "a guest-visible event: " + TraceTextFormatter.FormatEvent(index, actual), null);
            return;
        }
        TraceField field;
        string exp, act;
        string? diff = null;
        if (e.Kind != actual.Kind) (field, exp, act) = (TraceField.Kind, $"{e.Kind}", $"{actual.Kind}");
        else if (e.Kind != TraceEventKind.IrqInject && e.Address != actual.Address) (field, exp, act) = (TraceField.Address, $"0x{e.Address:x}", $"0x{actual.Address:x}");
        else if (e.Kind == TraceEventKind.IrqInject && e.Address != actual.Address) (field, exp, act) = (TraceField.Address, $"GSI {e.Address}", $"GSI {actual.Address}");
        else if (!e.Data.SequenceEqual(actual.Data))
        {
            int at = e.Data.CommonPrefixLength(actual.Data);
            (field, exp, act) = (TraceField.Data, $"{e.Data.Length} bytes", $"{actual.Data.Length} bytes, first difference at byte {at}");
            diff = TraceComparer.HexDiff(e.Data, actual.Data, at);
        }
        else return;
        Divergence = new TraceDivergence(index, e.Time, e.Kind, field, "(guest-visible) " + exp, act, diff);
    }

    /// <summary>The recording must have no guest-visible event left.</summary>
    public bool Finish()
    {
        if (Divergence is not null) return false;
        if (TryNextVisible(out TraceEvent e, out TraceError? error))
        {
            Divergence = new TraceDivergence(_compared, e.Time, e.Kind, TraceField.Presence, "a guest-visible event: " + TraceTextFormatter.FormatEvent(_compared, e), "end of the live run", null);
            return false;
        }
        if (error is not null)
        {
            Divergence = new TraceDivergence(_compared, 0, 0, TraceField.TraceUnreadable, error.Message, "end of the live run", null);
            return false;
        }
        return true;
    }

    private bool TryNextVisible(out TraceEvent ev, out TraceError? error)
    {
        while (expected.TryReadNext(out ev, out error))
        {
            if (IsVisible(ev.Kind)) return true;
        }
        return false;
    }
}
