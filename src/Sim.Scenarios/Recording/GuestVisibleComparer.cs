using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;

namespace Sim.Scenarios.Recording;

/// <summary>
/// The differential replay's checker (<see cref="KvmTraceReplay"/> with another backend, or a kernel-vhost
/// recording against our vhost model): compares only what the guest could observe, and only where backends may not
/// legitimately differ. Ignored, by design: times, sources and every host-side event (eventfds, worker switches,
/// device reads, results); how a device splits and orders its memory writes (Linux vhost <c>vhost_add_used_n</c>
/// writes the used elements and then <c>used-&gt;idx</c>; QEMU <c>virtqueue_fill</c> / <c>virtqueue_flush</c> the same
/// bytes in other pieces; a write of the bytes already there is no change); and the notification-suppression
/// fields (<see cref="NotificationFields"/>).
/// <para>
/// The guest synchronises with the device only at its reads and at interrupts, so those are the comparison points:
/// MmioRead/PioIn (address, returned bytes) and IrqInject (GSI), in order. At each point, every byte a device wrote
/// since the previous point (on either side) must hold the same value in the replay's memory as in the recording's,
/// which is rebuilt from its initial memory and its GuestWrite and DeviceWrite events (a shadow). At the end, the
/// whole memory must match the shadow outside the notification fields, and the shadow must hash to the recording's
/// footer (else the recording's events do not explain its own final memory: an error, not a divergence).
/// </para>
/// </summary>
public sealed class GuestVisibleComparer : ITraceSink
{
    /// <summary>Bytes shown on each side of a memory difference.</summary>
    public const int DiffContextBytes = 16;

    private readonly TraceReader _expected;
    private readonly GuestMemory _actual;
    private readonly GuestMemory _shadow;
    private readonly NotificationFields _fields;
    private readonly Action<NotificationFields> _learn;
    private readonly List<(ulong Address, int Length)> _touched = new();
    private ulong _segments;

    /// <param name="expected">The recording, positioned after its initial memory.</param>
    /// <param name="actual">The replay machine's memory, holding the recording's initial memory now.</param>
    /// <param name="learn">Called at each point to add the notification fields the replay machine knows now.</param>
    public GuestVisibleComparer(TraceReader expected, GuestMemory actual, Action<NotificationFields> learn)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(learn);
        _expected = expected;
        _actual = actual;
        _learn = learn;
        _fields = new NotificationFields();
        if (!GuestMemory.TryCreate(actual.Layout, out GuestMemory? shadow, out string? error))
            throw new ArgumentException(error, nameof(actual));
        _shadow = shadow;
        _shadow.HashScheme = actual.HashScheme; // the recording's scheme: its footer hash is checked against this
        foreach (MemoryRegion r in actual.Regions)
        {
            if (
                actual.TryGetSpan(new GuestAddress(r.Base), r.Size, out Span<byte> from)
                && _shadow.TryGetSpan(new GuestAddress(r.Base), r.Size, out Span<byte> to)
            )
                from.CopyTo(to);
        }
    }

    /// <summary>Live events seen so far.</summary>
    public ulong EventsSeen { get; private set; }

    /// <summary>The first divergence, or null while the run matches.</summary>
    public TraceDivergence? Divergence { get; private set; }

    /// <summary>Whether a divergence was found.</summary>
    public bool HasDiverged => Divergence is not null;

    /// <summary>Memory bytes compared at points, and bytes skipped as notification fields (at points and at the
    /// end).</summary>
    public long BytesCompared { get; private set; }

    /// <summary>Bytes not compared because they are notification fields (<see cref="NotificationFields"/>).</summary>
    public long NotificationBytesSkipped { get; private set; }

    /// <summary>Whether <paramref name="kind"/> is a point where the guest observes the device (a read it returns or an
    /// interrupt), at which memory is compared.</summary>
    public static bool IsPoint(TraceEventKind kind) =>
        kind is TraceEventKind.MmioRead or TraceEventKind.PioIn or TraceEventKind.IrqInject;

    /// <summary>Compares <paramref name="actual"/> with the recording at the guest's observation points.</summary>
    public void Write(in TraceEvent actual)
    {
        EventsSeen++;
        if (Divergence is not null)
            return;
        if (actual.Kind == TraceEventKind.DeviceWrite)
        {
            Touch(actual.Address, actual.Data.Length);
            return;
        }
        if (!IsPoint(actual.Kind))
            return;
        ulong segment = _segments++;
        if (!TryNextSegment(out bool hasPoint, out TraceEvent point, out TraceError? error))
        {
            Divergence = new TraceDivergence(
                segment,
                actual.Time,
                actual.Kind,
                TraceField.TraceUnreadable,
                error!.Message,
                "a guest-visible event",
                null
            );
            return;
        }
        if (!CompareTouched(segment, actual.Time))
            return;
        if (!hasPoint)
        {
            Divergence = new TraceDivergence(
                segment,
                actual.Time,
                actual.Kind,
                TraceField.Presence,
                "end of the recording's guest-visible events",
                "a guest-visible event: " + TraceTextFormatter.FormatEvent(segment, actual),
                null
            );
            return;
        }
        TraceField field;
        string exp,
            act;
        string? diff = null;
        if (point.Kind != actual.Kind)
            (field, exp, act) = (TraceField.Kind, $"{point.Kind}", $"{actual.Kind}");
        else if (point.Kind == TraceEventKind.IrqInject && point.Address != actual.Address)
            (field, exp, act) = (TraceField.Address, $"GSI {point.Address}", $"GSI {actual.Address}");
        else if (point.Address != actual.Address)
            (field, exp, act) = (TraceField.Address, $"0x{point.Address:x}", $"0x{actual.Address:x}");
        else if (!point.Data.SequenceEqual(actual.Data))
        {
            int at = point.Data.CommonPrefixLength(actual.Data);
            (field, exp, act) = (
                TraceField.Data,
                $"{point.Data.Length} bytes",
                $"{actual.Data.Length} bytes, first difference at byte {at}"
            );
            diff = TraceComparer.HexDiff(point.Data, actual.Data, at);
        }
        else
            return;
        Divergence = new TraceDivergence(segment, point.Time, point.Kind, field, "(guest-visible) " + exp, act, diff);
    }

    /// <summary>The live run ended: the trailing device writes must match, nothing guest-visible may be left in the
    /// recording, the whole memory must match outside the notification fields, and the recording's events must
    /// rebuild its final memory (<paramref name="recordedMemoryHash"/>, the footer's).</summary>
    public bool Finish(ulong recordedMemoryHash)
    {
        if (Divergence is not null)
            return false;
        if (!TryNextSegment(out bool hasPoint, out TraceEvent point, out TraceError? error))
        {
            Divergence = new TraceDivergence(
                _segments,
                0,
                0,
                TraceField.TraceUnreadable,
                error!.Message,
                "end of the live run",
                null
            );
            return false;
        }
        if (!CompareTouched(_segments, 0))
            return false;
        if (hasPoint)
        {
            Divergence = new TraceDivergence(
                _segments,
                point.Time,
                point.Kind,
                TraceField.Presence,
                "a guest-visible event: " + TraceTextFormatter.FormatEvent(_segments, point),
                "end of the live run",
                null
            );
            return false;
        }
        ulong shadowHash = _shadow.ContentHash();
        if (shadowHash != recordedMemoryHash)
        {
            Divergence = new TraceDivergence(
                _segments,
                0,
                0,
                TraceField.TraceUnreadable,
                $"the recording's events rebuild a final memory with hash 0x{shadowHash:x16}, "
                    + $"its footer says 0x{recordedMemoryHash:x16}",
                "",
                null
            );
            return false;
        }
        return CompareFinalMemory();
    }

    /// <summary>The live memory against the one the recording's events rebuild, region by region, skipping the
    /// notification fields (the only bytes the two runs may disagree on).</summary>
    private bool CompareFinalMemory()
    {
        foreach (MemoryRegion r in _actual.Regions)
        {
            if (
                !_actual.TryGetSpan(new GuestAddress(r.Base), r.Size, out Span<byte> a)
                || !_shadow.TryGetSpan(new GuestAddress(r.Base), r.Size, out Span<byte> s)
            )
                continue;
            int i = 0;
            while (i < a.Length)
            {
                int same = a[i..].CommonPrefixLength(s[i..]);
                i += same;
                if (i >= a.Length)
                    break;
                ulong address = r.Base + Narrow.AsUInt64Bits(i);
                if (_fields.Contains(address))
                {
                    NotificationBytesSkipped++;
                    i++;
                    continue;
                }
                Divergence = MemoryDivergence(_segments, 0, address, "final guest memory");
                return false;
            }
        }
        return true;
    }

    private void Touch(ulong address, int length)
    {
        if (length > 0)
            _touched.Add((address, length));
    }

    /// <summary>Every byte a device wrote in this segment, on either side: the replay's value against the
    /// recording's.</summary>
    private bool CompareTouched(ulong segment, long time)
    {
        _learn(_fields);
        foreach (var (address, length) in _touched)
        {
            for (int k = 0; k < length; k++)
            {
                ulong at = address + Narrow.AsUInt64Bits(k);
                bool haveActual = TryPeek(_actual, at, out byte a);
                bool haveShadow = TryPeek(_shadow, at, out byte s);
                if (!haveActual && !haveShadow)
                    continue; // outside memory on both sides: nothing to see
                if (haveActual && haveShadow && a == s)
                {
                    BytesCompared++;
                    continue;
                }
                if (_fields.Contains(at))
                {
                    NotificationBytesSkipped++;
                    continue;
                }
                _touched.Clear();
                Divergence = MemoryDivergence(
                    segment,
                    time,
                    at,
                    "device-written guest memory before this guest-visible point"
                );
                return false;
            }
        }
        _touched.Clear();
        return true;
    }

    private TraceDivergence MemoryDivergence(ulong segment, long time, ulong address, string what)
    {
        ulong start = address >= DiffContextBytes ? address - DiffContextBytes : 0;
        byte[] e = new byte[2 * DiffContextBytes];
        byte[] a = new byte[2 * DiffContextBytes];
        int n = 0;
        for (; n < e.Length; n++)
        {
            ulong g = start + Narrow.AsUInt64Bits(n);
            if (!TryPeek(_shadow, g, out e[n]) || !TryPeek(_actual, g, out a[n]))
                break;
        }
        int at = unchecked((int)(address - start));
        return new TraceDivergence(
            segment,
            time,
            TraceEventKind.DeviceWrite,
            TraceField.Data,
            $"(guest-visible) {what}: recording has 0x{(at < n ? e[at] : 0):x2} at 0x{address:x}",
            $"replay has 0x{(at < n ? a[at] : 0):x2}",
            TraceComparer.HexDiff(e.AsSpan(0, n), a.AsSpan(0, n), Math.Min(at, n))
        );
    }

    /// <summary>One byte, read past the memory's observer (the comparer's look must not become a trace
    /// event).</summary>
    private static bool TryPeek(GuestMemory memory, ulong address, out byte value)
    {
        bool ok = memory.TryGetSpan(new GuestAddress(address), 1, out Span<byte> b);
        value = ok ? b[0] : (byte)0;
        return ok;
    }

    /// <summary>Reads the recording up to its next read or interrupt (the point, when there is one), applying its
    /// guest and device writes to the shadow and noting the device's.</summary>
    private bool TryNextSegment(out bool hasPoint, out TraceEvent point, out TraceError? error)
    {
        while (_expected.TryReadNext(out TraceEvent ev, out error))
        {
            if (ev.Kind is TraceEventKind.GuestWrite or TraceEventKind.DeviceWrite)
            {
                // Outside memory the recording's write changed nothing there either.
                using (_shadow.As(MemoryActor.Host))
                    _shadow.TryWrite(new GuestAddress(ev.Address), ev.Data);
                if (ev.Kind == TraceEventKind.DeviceWrite)
                    Touch(ev.Address, ev.Data.Length);
                continue;
            }
            if (!IsPoint(ev.Kind))
                continue;
            hasPoint = true;
            point = ev;
            return true;
        }
        hasPoint = false;
        point = default;
        return error is null;
    }
}
