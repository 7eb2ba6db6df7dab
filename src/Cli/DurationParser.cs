using System.Globalization;

namespace Cli;

/// <summary>Parses durations such as <c>60s</c>, <c>5m</c>, <c>2h</c>, <c>1500ms</c> or a bare number of seconds.</summary>
public static class DurationParser
{
    public static bool TryParse(string text, out TimeSpan duration, out string error)
    {
        duration = default;
        error = "";
        string t = text.Trim().ToLowerInvariant();
        (string digits, double scale) = t switch
        {
            _ when t.EndsWith("ms", StringComparison.Ordinal) => (t[..^2], 0.001),
            _ when t.EndsWith('s') => (t[..^1], 1.0),
            _ when t.EndsWith('m') => (t[..^1], 60.0),
            _ when t.EndsWith('h') => (t[..^1], 3600.0),
            _ => (t, 1.0),
        };
        if (!double.TryParse(digits, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value <= 0 || double.IsInfinity(value) || value * scale > 7 * 24 * 3600)
        {
            error = $"'{text}' is not a duration: use e.g. 60s, 5m, 2h or 1500ms (positive, at most a week)";
            return false;
        }
        duration = TimeSpan.FromSeconds(value * scale);
        return true;
    }
}
