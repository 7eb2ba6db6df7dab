using System.Text;

namespace Virtsim.Fuzz.Engine;

/// <summary>A live snapshot of a campaign, for the status line.</summary>
internal sealed record CampaignStatus(
    long Executions,
    long ExecutionsPerSecond,
    int Edges,
    bool CoverageAvailable,
    int CorpusSize,
    IReadOnlyList<KeyValuePair<string, int>> FindingsByOracle,
    TimeSpan Elapsed
)
{
    public int Findings => FindingsByOracle.Sum(p => p.Value);

    /// <summary>e.g. <c>#120000 12s exec/s=9800 edges=312 corpus=45 findings=2 (exception:1 hang:1)</c>.</summary>
    public string ToStatusLine()
    {
        var s = new StringBuilder();
        s.Append('#')
            .Append(Executions)
            .Append(' ')
            .Append((long)Elapsed.TotalSeconds)
            .Append("s exec/s=")
            .Append(ExecutionsPerSecond);
        s.Append(" edges=")
            .Append(CoverageAvailable ? Edges.ToString(System.Globalization.CultureInfo.InvariantCulture) : "n/a");
        s.Append(" corpus=").Append(CorpusSize).Append(" findings=").Append(Findings);
        if (FindingsByOracle.Count > 0)
            s.Append(" (").AppendJoin(' ', FindingsByOracle.Select(p => $"{p.Key}:{p.Value}")).Append(')');
        return s.ToString();
    }
}
