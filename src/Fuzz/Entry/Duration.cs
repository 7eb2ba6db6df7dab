using System.Globalization;

namespace Virtsim.Fuzz.Entry;

/// <summary>A positive duration as the fuzzer's options write it: <c>90</c> or <c>90s</c>, <c>1500ms</c>, <c>5m</c>,
/// <c>2h</c>. Its own type so <c>--help</c> prints defaults the way they are typed (5s, not 00:00:05).</summary>
internal readonly record struct Duration(TimeSpan Value)
{
    public static bool TryParse(string? text, out Duration duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (
            !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value)
            || value <= 0
            || value * scale > TimeSpan.MaxValue.TotalSeconds / 2
        )
            return false;
        duration = new Duration(TimeSpan.FromSeconds(value * scale));
        return true;
    }

    /// <summary>The shortest exact form among h, m, s and ms (what <see cref="TryParse"/> reads back).</summary>
    public override string ToString()
    {
        double s = Value.TotalSeconds;
        if (s >= 3600 && s % 3600 == 0)
            return (s / 3600).ToString("0", CultureInfo.InvariantCulture) + "h";
        if (s >= 60 && s % 60 == 0)
            return (s / 60).ToString("0", CultureInfo.InvariantCulture) + "m";
        if (s >= 1 || Value.TotalMilliseconds % 1 != 0)
            return s.ToString("0.######", CultureInfo.InvariantCulture) + "s";
        return Value.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms";
    }
}
