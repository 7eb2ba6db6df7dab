using System.Text;

namespace Sim.Engine.Trace;

/// <summary>
/// Replay's checker: an <see cref="ITraceSink"/> that compares each live event with the next event of
/// a recorded trace and records the FIRST divergence precisely (<see cref="Divergence"/>); later
/// events are counted but not compared. Call <see cref="Finish"/> when the live run ends, to catch a
/// trace that has more events than the run produced. Allocates only when it finds a divergence.
/// </summary>
public sealed class TraceComparer : ITraceSink
{
    /// <summary>Bytes shown on each side of the first differing data byte.</summary>
    public const int DiffContextBytes = 16;

    private readonly TraceReader _expected;

    /// <param name="expected">Positioned at the events (after <see cref="TraceReader.TryReadInitialMemory"/>, or
    /// freshly opened: the initial memory is then skipped).</param>
    public TraceComparer(TraceReader expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        _expected = expected;
    }

    /// <summary>Live events seen so far.</summary>
    public ulong EventsSeen { get; private set; }

    /// <summary>The first divergence, or null while the run matches.</summary>
    public TraceDivergence? Divergence { get; private set; }

    /// <summary>Whether a divergence was found.</summary>
    public bool HasDiverged => Divergence is not null;

    /// <summary>Compares the next live event with the next event of the trace; the first difference is kept in
    /// <see cref="Divergence"/>.</summary>
    public void Write(in TraceEvent actual)
    {
        ulong index = EventsSeen++;
        if (Divergence is not null)
            return;
        if (!_expected.TryReadNext(out TraceEvent expected, out TraceError? error))
        {
            Divergence = error is null
                ? new TraceDivergence(
                    index,
                    actual.Time,
                    actual.Kind,
                    TraceField.Presence,
                    "end of trace (footer)",
                    "an event: " + TraceTextFormatter.FormatEvent(index, actual),
                    null
                )
                : new TraceDivergence(
                    index,
                    actual.Time,
                    actual.Kind,
                    TraceField.TraceUnreadable,
                    error.Message,
                    "an event: " + TraceTextFormatter.FormatEvent(index, actual),
                    null
                );
            return;
        }
        Compare(index, expected, actual);
    }

    /// <summary>Call after the live run's last event: the trace must end here too (its footer
    /// next). Returns true when no divergence was found.</summary>
    public bool Finish()
    {
        if (Divergence is not null)
            return false;
        if (_expected.TryReadNext(out TraceEvent expected, out TraceError? error))
        {
            Divergence = new TraceDivergence(
                EventsSeen,
                expected.Time,
                expected.Kind,
                TraceField.Presence,
                "an event: " + TraceTextFormatter.FormatEvent(EventsSeen, expected),
                "end of the live run",
                null
            );
            return false;
        }
        if (error is not null)
        {
            Divergence = new TraceDivergence(
                EventsSeen,
                0,
                0,
                TraceField.TraceUnreadable,
                error.Message,
                "end of the live run",
                null
            );
            return false;
        }
        return true;
    }

    private void Compare(ulong index, in TraceEvent e, in TraceEvent a)
    {
        TraceField field;
        string expected,
            actual;
        string? diff = null;
        if (e.Kind != a.Kind)
            (field, expected, actual) = (TraceField.Kind, $"{e.Kind}", $"{a.Kind}");
        else if (e.Time != a.Time)
            (field, expected, actual) = (TraceField.Time, $"{e.Time}", $"{a.Time}");
        else if (e.Source != a.Source)
            (field, expected, actual) = (TraceField.Source, $"{e.Source}", $"{a.Source}");
        else if (e.Address != a.Address)
            (field, expected, actual) = (TraceField.Address, $"0x{e.Address:x}", $"0x{a.Address:x}");
        else if (e.Value != a.Value)
            (field, expected, actual) = (TraceField.Value, $"0x{e.Value:x}", $"0x{a.Value:x}");
        else if (!e.Data.SequenceEqual(a.Data))
        {
            field = TraceField.Data;
            int at = e.Data.CommonPrefixLength(a.Data);
            expected = $"{e.Data.Length} bytes";
            actual = $"{a.Data.Length} bytes, first difference at byte {at}";
            diff = HexDiff(e.Data, a.Data, at);
        }
        else
            return;
        Divergence = new TraceDivergence(index, e.Time, e.Kind, field, expected, actual, diff);
    }

    /// <summary>Two hex lines (expected, actual) of the window around <paramref name="at"/>, with a
    /// caret under the first differing byte.</summary>
    public static string HexDiff(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, int at)
    {
        int from = Math.Max(0, at - DiffContextBytes);
        int to = Math.Max(
            Math.Min(expected.Length, at + DiffContextBytes),
            Math.Min(actual.Length, at + DiffContextBytes)
        );
        var sb = new StringBuilder();
        sb.Append($"  bytes {from}..{to}:").AppendLine();
        AppendHex(sb, "  expected:", expected, from, to);
        AppendHex(sb, "  actual:  ", actual, from, to);
        sb.Append(' ', "  expected:".Length + 1 + (3 * (at - from))).Append('^');
        return sb.ToString();
    }

    private static void AppendHex(StringBuilder sb, string label, ReadOnlySpan<byte> bytes, int from, int to)
    {
        sb.Append(label);
        for (int i = from; i < to; i++)
            sb.Append(i < bytes.Length ? $" {bytes[i]:x2}" : " --");
        sb.AppendLine();
    }
}
