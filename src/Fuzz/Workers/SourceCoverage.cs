using Virtsim.Fuzz.Instrumentation;

namespace Virtsim.Fuzz.Workers;

/// <summary>How a source line fared in a campaign, as llvm-cov colours it.</summary>
public enum LineState
{
    /// <summary>No probe's block holds a sequence point on this line (comments, declarations, uninstrumented
    /// code).</summary>
    None,

    /// <summary>Every block with code on this line was reached.</summary>
    Hit,

    /// <summary>Some blocks with code on this line were reached, some never (one arm of <c>a &amp;&amp; b</c>, a
    /// loop header whose exit was never taken...).</summary>
    Partial,

    /// <summary>No block with code on this line was ever reached.</summary>
    Missed,
}

/// <summary>One source file's lines with code, and their state.</summary>
public sealed record FileCoverage(string Document, IReadOnlyDictionary<int, LineState> Lines)
{
    /// <summary>How many of the file's lines with code are in <paramref name="state"/>.</summary>
    public int Count(LineState state) => Lines.Values.Count(s => s == state);
}

/// <summary>
/// Source-line coverage from block coverage: each SharpFuzz probe guards one basic block, whose source lines the
/// <see cref="BlockMap"/> recorded at instrumentation time; a block is reached when the corpus replay saw its
/// (id, method) pair (<see cref="BlockTraceEntry"/>). A line is hit when all its blocks were reached, partial when
/// some were, missed when none were.
/// </summary>
public static class SourceCoverage
{
    /// <summary>Folds block coverage into line coverage, one entry per source file in ordinal path order.</summary>
    /// <param name="sites">Every instrumented block with its source lines (from the <see cref="BlockMap"/> files);
    /// blocks without a document are skipped.</param>
    /// <param name="reached">The (block id, method) pairs the corpus replay reached.</param>
    public static IReadOnlyList<FileCoverage> FromBlocks(
        IEnumerable<BlockSite> sites,
        IReadOnlySet<(int Id, string Method)> reached
    )
    {
        var perFile = new Dictionary<string, Dictionary<int, (int Hit, int Missed)>>(StringComparer.Ordinal);
        foreach (BlockSite site in sites)
        {
            if (site.Document is null)
                continue;
            if (!perFile.TryGetValue(site.Document, out var lines))
                perFile[site.Document] = lines = [];
            bool hit = reached.Contains((site.Id, site.Method));
            foreach (int line in site.Lines)
            {
                (int h, int m) = lines.GetValueOrDefault(line);
                lines[line] = hit ? (h + 1, m) : (h, m + 1);
            }
        }
        return perFile
            .OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => new FileCoverage(
                f.Key,
                f.Value.ToDictionary(
                    l => l.Key,
                    l =>
                        l.Value.Missed == 0 ? LineState.Hit
                        : l.Value.Hit == 0 ? LineState.Missed
                        : LineState.Partial
                )
            ))
            .ToList();
    }
}
