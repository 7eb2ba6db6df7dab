using System.Globalization;
using System.Text;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// AFL++'s <c>fuzzer_stats</c> format: one <c>key : value</c> per line, the key padded to 18 characters
/// (afl-fuzz-stats.c <c>write_stats_file</c>). Written whole to a dot-prefixed temporary file and renamed over the
/// old one, so a reader (afl-whatsup, the status screen, a resumed run after <c>kill -9</c>) sees a complete file.
/// </summary>
public static class StatsFile
{
    /// <summary>The file's text: each field as <c>key : value</c>, key padded to 18 columns, in the order
    /// given.</summary>
    public static string Format(IEnumerable<KeyValuePair<string, string>> fields)
    {
        var s = new StringBuilder();
        foreach ((string key, string value) in fields)
            s.Append(key.PadRight(18)).Append(": ").Append(value).Append('\n');
        return s.ToString();
    }

    /// <summary>Replaces <paramref name="path"/> atomically with <paramref name="text"/>.</summary>
    public static void WriteAtomically(string path, string text)
    {
        string temp = Path.Combine(
            Path.GetDirectoryName(path)!,
            $".{Path.GetFileName(path)}.tmp-{Environment.ProcessId}"
        );
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads the fields; missing file or unreadable lines give what could be read.</summary>
    public static Dictionary<string, string> Read(string path)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path))
            return fields;
        foreach (string line in File.ReadAllLines(path))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
                continue;
            fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return fields;
    }

    /// <summary>A numeric field (a trailing % is dropped), or <paramref name="fallback"/>.</summary>
    public static double Number(IReadOnlyDictionary<string, string> fields, string key, double fallback = 0)
    {
        if (!fields.TryGetValue(key, out string? text))
            return fallback;
        return double.TryParse(text.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v
            : fallback;
    }
}
