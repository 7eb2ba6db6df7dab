using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Campaign;

/// <summary>One worker's state as its <c>fuzzer_stats</c> and <c>virtsim_stats</c> tell it (what the status screen,
/// the plain log lines and the final statistics show). AFL++ instances in the same directory appear too, with
/// what their <c>fuzzer_stats</c> has.</summary>
public sealed record WorkerStatus(
    string Name,
    string Target,
    long Executions,
    double ExecsPerSecond,
    int Edges,
    int Corpus,
    IReadOnlyList<KeyValuePair<string, int>> FindingsByOracle,
    long LastNewEdgeUnix,
    double StabilityPercent,
    string State,
    long RssKb,
    long RssStartKb,
    double CpuSeconds,
    long LastUpdateUnix
)
{
    /// <summary>Findings of this worker, all oracles together.</summary>
    public int Findings => FindingsByOracle.Sum(p => p.Value);

    /// <summary>The status of every worker of <paramref name="layout"/> that has written one.</summary>
    public static IReadOnlyList<WorkerStatus> ReadAll(CampaignLayout layout) =>
        layout.Workers().Select(w => Read(layout, w)).OfType<WorkerStatus>().ToArray();

    /// <summary>The worker's status, or null before its first stats write.</summary>
    public static WorkerStatus? Read(CampaignLayout layout, string worker)
    {
        Dictionary<string, string> afl;
        Dictionary<string, string> ours;
        try
        {
            afl = StatsFile.Read(layout.FuzzerStats(worker));
            ours = StatsFile.Read(layout.VirtsimStats(worker));
        }
        catch (IOException)
        {
            return null;
        }
        if (afl.Count == 0)
            return null;
        var findings = ours.Where(p => p.Key.StartsWith("findings_", StringComparison.Ordinal))
            .Select(p => new KeyValuePair<string, int>(p.Key["findings_".Length..], (int)StatsFile.Number(ours, p.Key)))
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .ToList();
        if (!ours.ContainsKey("target"))
        {
            // An AFL++ instance: its saved crashes and hangs are its findings.
            int crashes = (int)StatsFile.Number(afl, "saved_crashes"),
                hangs = (int)StatsFile.Number(afl, "saved_hangs");
            if (crashes > 0)
                findings.Add(new("afl-crash", crashes));
            if (hangs > 0)
                findings.Add(new("afl-hang", hangs));
        }
        string target = ours.GetValueOrDefault("target") ?? layout.TargetOf(worker) ?? "?";
        string state = ours.GetValueOrDefault("state")
            ?? (afl.GetValueOrDefault("afl_version") is { } v ? "afl " + v : "?");
        return new WorkerStatus(
            worker,
            target,
            (long)StatsFile.Number(afl, "execs_done"),
            StatsFile.Number(afl, "execs_per_sec"),
            (int)StatsFile.Number(afl, "edges_found"),
            (int)StatsFile.Number(afl, "corpus_count"),
            findings,
            (long)StatsFile.Number(ours, "last_new_edge", StatsFile.Number(afl, "last_find")),
            StatsFile.Number(afl, "stability", 100),
            state,
            (long)StatsFile.Number(ours, "rss_kb", StatsFile.Number(afl, "peak_rss_mb") * 1024),
            (long)StatsFile.Number(ours, "rss_start_kb"),
            StatsFile.Number(ours, "cpu_seconds"),
            (long)StatsFile.Number(afl, "last_update")
        );
    }

    /// <summary>"12s", "4m05s", "2h03m", or "never".</summary>
    public static string Since(long unix, long nowUnix)
    {
        if (unix <= 0)
            return "never";
        long s = Math.Max(0, nowUnix - unix);
        return s < 60 ? $"{s}s"
            : s < 3600 ? $"{s / 60}m{s % 60:00}s"
            : $"{s / 3600}h{s / 60 % 60:00}m";
    }
}
