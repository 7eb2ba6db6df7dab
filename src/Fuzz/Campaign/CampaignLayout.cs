namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// Where a campaign keeps things. One directory per worker in AFL++'s sync layout, so <c>afl-fuzz -S</c> instances
/// can share it: <c>&lt;out&gt;/&lt;worker&gt;/queue/id:NNNNNN,...</c>, <c>crashes/</c>, <c>hangs/</c>,
/// <c>fuzzer_stats</c>, <c>plot_data</c>, <c>.synced/&lt;other&gt;</c> (AFL++ afl-fuzz-run.c <c>sync_fuzzers</c>);
/// ours beside them: <c>virtsim_target</c>, <c>virtsim_stats</c>, <c>worker.log</c>. Findings (input, trace, summary)
/// go to <c>&lt;out&gt;/findings/&lt;target&gt;/</c>, shared by the target's workers, so one site is saved once.
/// </summary>
public sealed class CampaignLayout(string root)
{
    public const string FindingsName = "findings";
    public const string QueueName = "queue";
    public const string CrashesName = "crashes";
    public const string HangsName = "hangs";
    public const string SyncedName = ".synced";
    public const string FuzzerStatsName = "fuzzer_stats";
    public const string PlotDataName = "plot_data";
    public const string TargetFileName = "virtsim_target";
    public const string VirtsimStatsName = "virtsim_stats";
    public const string LogName = "worker.log";

    /// <summary>AFL++ secondaries (-S) import only from directories holding this file (afl-fuzz-run.c
    /// <c>sync_fuzzers</c>: "a secondary only syncs from main"); a campaign's first worker per target writes
    /// it.</summary>
    public const string MainNodeName = "is_main_node";

    public string Root { get; } = Path.GetFullPath(root);

    public string Worker(string worker) => Path.Combine(Root, worker);

    public string Queue(string worker) => Path.Combine(Root, worker, QueueName);

    public string Crashes(string worker) => Path.Combine(Root, worker, CrashesName);

    public string Hangs(string worker) => Path.Combine(Root, worker, HangsName);

    public string Synced(string worker) => Path.Combine(Root, worker, SyncedName);

    public string FuzzerStats(string worker) => Path.Combine(Root, worker, FuzzerStatsName);

    public string PlotData(string worker) => Path.Combine(Root, worker, PlotDataName);

    public string VirtsimStats(string worker) => Path.Combine(Root, worker, VirtsimStatsName);

    public string TargetFile(string worker) => Path.Combine(Root, worker, TargetFileName);

    public string Log(string worker) => Path.Combine(Root, worker, LogName);

    public string Findings(string target) => Path.Combine(Root, FindingsName, target);

    /// <summary>Worker directory names under the root (anything with a <c>queue/</c>), ordinal order.</summary>
    public IReadOnlyList<string> Workers()
    {
        if (!Directory.Exists(Root))
            return [];
        var names = Directory
            .GetDirectories(Root)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => !n.StartsWith('.') && n != FindingsName && Directory.Exists(Path.Combine(Root, n, QueueName)))
            .ToList();
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>The target a worker directory fuzzes: our <c>virtsim_target</c> file, or the <c>--target</c> of the
    /// <c>command_line</c> in an AFL++ instance's <c>fuzzer_stats</c> (afl-fuzz driving <c>virtsim fuzz --afl</c>);
    /// null when neither says.</summary>
    public string? TargetOf(string worker)
    {
        try
        {
            string file = TargetFile(worker);
            if (File.Exists(file))
                return File.ReadAllText(file).Trim();
            string stats = FuzzerStats(worker);
            if (!File.Exists(stats))
                return null;
            string? commandLine = StatsFile.Read(stats).GetValueOrDefault("command_line");
            return commandLine is null ? null : TargetInCommandLine(commandLine);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The value of <c>--target</c> (or <c>--target=</c>) in a command line, or null.</summary>
    public static string? TargetInCommandLine(string commandLine)
    {
        string[] words = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < words.Length; i++)
        {
            if (words[i] == "--target" && i + 1 < words.Length)
                return words[i + 1].Trim('\'', '"');
            if (words[i].StartsWith("--target=", StringComparison.Ordinal))
                return words[i]["--target=".Length..].Trim('\'', '"');
        }
        return null;
    }
}
