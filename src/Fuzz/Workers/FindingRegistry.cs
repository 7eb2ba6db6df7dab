namespace Virtsim.Fuzz.Workers;

/// <summary>
/// The findings a campaign directory already holds, read back from each finding's <c>summary.txt</c> (its
/// <c>target:</c>, <c>oracle:</c> and <c>site:</c> lines, <see cref="Engine.FindingWriter.Summary"/>): what a
/// resumed run reports it found before, what triage and the report list. (A campaign knows a finding saved before by
/// its directory, <see cref="Oracles.Finding.DirectoryName"/>, so a site is saved once per target.)
/// </summary>
public static class FindingRegistry
{
    /// <summary>(oracle, site, shape) — the campaign's finding key, <see cref="Oracles.FindingReport.DedupKey"/> — of
    /// every saved finding of <paramref name="target"/> under <paramref name="directory"/>.</summary>
    public static List<(string Oracle, string Site, string Shape)> Load(string directory, string target)
    {
        var keys = new List<(string, string, string)>();
        foreach (FindingRecord r in Records(directory))
        {
            if (r.Target == target)
                keys.Add((r.Oracle, r.Site, r.Shape));
        }
        return keys;
    }

    /// <summary>Every finding directory below <paramref name="directory"/> (one level or two:
    /// <c>findings/&lt;target&gt;/…</c>).</summary>
    public static List<FindingRecord> Records(string directory)
    {
        var records = new List<FindingRecord>();
        if (!Directory.Exists(directory))
            return records;
        var summaries = Directory
            .EnumerateFiles(
                directory,
                Engine.FindingWriter.SummaryFileName,
                new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 2 }
            )
            .Where(p => !Path.GetFileName(Path.GetDirectoryName(p)!).StartsWith('.'))
            .Order(StringComparer.Ordinal);
        foreach (string path in summaries)
        {
            Dictionary<string, string> fields;
            try
            {
                fields = File.ReadLines(path)
                    .Take(16)
                    .Select(l => (Line: l, Colon: l.IndexOf(": ", StringComparison.Ordinal)))
                    .Where(x => x.Colon > 0)
                    .GroupBy(x => x.Line[..x.Colon], StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.First().Line[(g.First().Colon + 2)..], StringComparer.Ordinal);
            }
            catch (IOException)
            {
                continue;
            }
            if (!fields.TryGetValue("oracle", out string? oracle) || !fields.TryGetValue("site", out string? site))
                continue;
            string target = fields.GetValueOrDefault("target") ?? "";
            int paren = target.IndexOf(" (", StringComparison.Ordinal);
            if (paren > 0)
                target = target[..paren];
            records.Add(
                new FindingRecord(
                    target,
                    oracle,
                    site,
                    fields.GetValueOrDefault("rule") ?? "",
                    fields.GetValueOrDefault("message") ?? "",
                    Path.GetDirectoryName(path)!,
                    File.GetLastWriteTimeUtc(path),
                    fields.GetValueOrDefault("reproduce") ?? "",
                    fields.GetValueOrDefault("replay") ?? "",
                    fields.GetValueOrDefault("shape") ?? ""
                )
            );
        }
        return records;
    }
}
