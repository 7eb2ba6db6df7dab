using Virtsim.Fuzz.Oracles;

namespace Virtsim.Fuzz.Engine;

/// <summary>The outcome of a campaign: counts, the in-memory corpus and the deduplicated findings, both in
/// discovery order (deterministic for a seed and run count).</summary>
internal sealed record CampaignResult(
    long Executions,
    long MinimizeExecutions,
    TimeSpan Elapsed,
    int Edges,
    bool CoverageAvailable,
    IReadOnlyList<byte[]> Corpus,
    IReadOnlyList<Finding> Findings
)
{
    public long ExecutionsPerSecond =>
        Elapsed.TotalSeconds > 0 ? (long)(Executions / Elapsed.TotalSeconds) : Executions;

    /// <summary>The machine-readable last line of the summary.</summary>
    public string SummaryLine =>
        $"execs={Executions} exec_per_s={ExecutionsPerSecond} edges={Edges} corpus={Corpus.Count} "
        + $"findings={Findings.Count}";

    /// <summary>Human-readable summary; the last line is <see cref="SummaryLine"/>.</summary>
    public IEnumerable<string> SummaryLines()
    {
        yield return $"done: {Executions} executions in {Elapsed.TotalSeconds:F1}s ({ExecutionsPerSecond}/s), "
            + $"{MinimizeExecutions} more minimising";
        yield return CoverageAvailable ? $"coverage: {Edges} edges" : "coverage: unavailable";
        yield return $"corpus: {Corpus.Count} inputs";
        foreach (Finding f in Findings)
        {
            string where =
                f.SavedDirectory is not null ? $" -> {f.SavedDirectory}"
                : f.EarlierDirectory is not null ? $" (known, saved earlier in {f.EarlierDirectory})"
                : "";
            string kind = f.EarlierDirectory is null ? "finding" : "known finding";
            yield return $"{kind}: {f.Oracle} at {f.Site} ({f.Hits} hits, {f.Input.Length} bytes){where}: {f.Message}";
        }
        yield return SummaryLine;
    }
}
