using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Sim.Engine.Trace;

namespace Virtsim.Cli.Commands;

/// <summary>Which events <c>virtsim show</c> lists: <c>--kind</c> (any of the named kinds), <c>--from</c>/<c>--to</c>
/// (inclusive bounds, each an event index such as <c>120</c> or a virtual time with a unit such as <c>1.5ms</c>,
/// <c>1134100ns</c>, <c>2us</c>, <c>1s</c>).</summary>
internal sealed class ShowFilter
{
    private readonly HashSet<TraceEventKind>? _kinds;
    private readonly Bound? _from;
    private readonly Bound? _to;

    private ShowFilter(HashSet<TraceEventKind>? kinds, Bound? from, Bound? to)
    {
        _kinds = kinds;
        _from = from;
        _to = to;
    }

    /// <summary>A bound: an event index, or a virtual time in nanoseconds.</summary>
    private readonly record struct Bound(bool IsTime, long Value);

    public static ShowFilter Parse(IReadOnlyList<string> kinds, string? from, string? to)
    {
        HashSet<TraceEventKind>? set = null;
        foreach (
            string name in kinds.SelectMany(k =>
                k.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            )
        )
        {
            if (
                !Enum.TryParse(name, ignoreCase: true, out TraceEventKind kind)
                || !Enum.IsDefined(kind)
                || int.TryParse(name, out _)
            )
            {
                throw new CliInputException(
                    $"--kind: unknown event kind '{name}'; known: {string.Join(", ", Enum.GetNames<TraceEventKind>())}"
                );
            }
            (set ??= []).Add(kind);
        }
        Bound? lo = from is null ? null : ParseBound("--from", from);
        Bound? hi = to is null ? null : ParseBound("--to", to);
        if (lo is { } l && hi is { } h && l.IsTime == h.IsTime && l.Value > h.Value)
            throw new CliInputException($"--from {from} lies after --to {to}");
        return new ShowFilter(set, lo, hi);
    }

    /// <summary>True when event <paramref name="index"/> at <paramref name="time"/> of <paramref name="kind"/> is
    /// listed.</summary>
    public bool Matches(ulong index, long time, TraceEventKind kind)
    {
        if (_kinds is not null && !_kinds.Contains(kind))
            return false;
        if (_from is { } f && (f.IsTime ? time < f.Value : index < (ulong)f.Value))
            return false;
        return _to is not { } t || (t.IsTime ? time <= t.Value : index <= (ulong)t.Value);
    }

    private static Bound ParseBound(string option, string text)
    {
        string s = text.Trim();
        if (
            ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong index)
            && index <= long.MaxValue
        )
            return new Bound(false, (long)index);
        (string number, decimal scale) = s switch
        {
            _ when s.EndsWith("ns", StringComparison.Ordinal) => (s[..^2], 1m),
            _ when s.EndsWith("us", StringComparison.Ordinal) || s.EndsWith("µs", StringComparison.Ordinal) => (
                s[..^2],
                1_000m
            ),
            _ when s.EndsWith("ms", StringComparison.Ordinal) => (s[..^2], 1_000_000m),
            _ when s.EndsWith('s') => (s[..^1], 1_000_000_000m),
            _ => ("", 0m),
        };
        if (
            scale == 0
            || !decimal.TryParse(
                number,
                NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture,
                out decimal value
            )
            || value * scale > long.MaxValue
        )
        {
            throw new CliInputException(
                $"{option} takes an event index (120) or a time with a unit (1134100ns, 2us, 1.5ms, 1s); got '{text}'"
            );
        }
        return new Bound(true, (long)decimal.Floor(value * scale));
    }

    /// <summary>One event as one line of JSON: index, time, kind, source, address, value and the data (all of it,
    /// hex).</summary>
    public static string ToJsonLine(ulong index, in TraceEvent ev)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + ev.Data.Length * 2);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("i", index);
            json.WriteNumber("t_ns", ev.Time);
            json.WriteString("kind", ev.Kind.ToString());
            json.WriteNumber("src", ev.Source);
            json.WriteNumber("addr", ev.Address);
            json.WriteNumber("value", ev.Value);
            json.WriteString("data", Convert.ToHexStringLower(ev.Data));
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
