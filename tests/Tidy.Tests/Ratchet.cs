namespace Tidy.Tests;

/// <summary>A count that may only go down: tidy-baseline.txt holds one "name count" line per check.
/// Above the baseline the check fails and lists the offenders to fix; below it the check fails too
/// and asks for the baseline to be lowered, so the gain cannot be spent again (TigerBeetle's tidy
/// works the same way).</summary>
public static class Ratchet
{
    public const string BaselineFile = "tests/Tidy.Tests/tidy-baseline.txt";

    public static IReadOnlyDictionary<string, int> ParseBaseline(string text)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !int.TryParse(parts[1], out var n) || n < 0)
                throw new FormatException($"tidy: bad baseline line '{line}' (want: name count)");
            counts[parts[0]] = n;
        }
        return counts;
    }

    /// <summary>Null when the count equals the baseline; otherwise the failure message.</summary>
    public static string? Check(string name, int baseline, IReadOnlyList<string> offenders, string fix)
    {
        var count = offenders.Count;
        if (count == baseline)
            return null;
        if (count < baseline)
            return $"tidy: {name} went down from {baseline} to {count}: well done, now lower '{name}' "
                + $"to {count} in {BaselineFile} so it cannot creep back.";
        const int shown = 200;
        var list = string.Join("\n", offenders.Take(shown));
        var more = count > shown ? $"\n... and {count - shown} more" : "";
        return $"tidy: {name} rose from {baseline} to {count}. {fix}\nOffenders:\n{list}{more}";
    }
}
