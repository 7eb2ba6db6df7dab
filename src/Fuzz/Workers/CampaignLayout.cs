namespace Virtsim.Fuzz.Workers;

/// <summary>
/// Where a campaign keeps things. One directory per worker in AFL++'s sync layout, so <c>afl-fuzz -S</c> instances
/// can share it: <c>&lt;out&gt;/&lt;worker&gt;/queue/id:NNNNNN,...</c>, <c>crashes/</c>, <c>hangs/</c>,
/// <c>fuzzer_stats</c>, <c>plot_data</c>, <c>.synced/&lt;other&gt;</c> (AFL++ afl-fuzz-run.c <c>sync_fuzzers</c>);
/// ours beside them: <c>virtsim_target</c>, <c>virtsim_stats</c>, <c>worker.log</c>. Findings (input, trace, summary)
/// go to <c>&lt;out&gt;/findings/&lt;target&gt;/</c>, shared by the target's workers, so one site is saved once.
/// </summary>
public sealed class CampaignLayout(string root)
{
    /// <summary>The directory under the root that holds findings, one subdirectory per target.</summary>
    public const string FindingsName = "findings";
    internal const string QueueName = "queue";
    internal const string CrashesName = "crashes";
    internal const string HangsName = "hangs";
    internal const string SyncedName = ".synced";
    internal const string FuzzerStatsName = "fuzzer_stats";
    internal const string PlotDataName = "plot_data";
    internal const string TargetFileName = "virtsim_target";
    internal const string VirtsimStatsName = "virtsim_stats";
    internal const string LogName = "worker.log";

    /// <summary>AFL++ secondaries (-S) import only from directories holding this file (afl-fuzz-run.c
    /// <c>sync_fuzzers</c>: "a secondary only syncs from main"); a campaign's first worker per target writes
    /// it.</summary>
    public const string MainNodeName = "is_main_node";

    /// <summary>The campaign directory, made absolute when the layout is created (workers may change
    /// directory).</summary>
    public string Root { get; } = Path.GetFullPath(root);

    internal string Worker(string worker) => Path.Combine(Root, worker);

    /// <summary>The worker's AFL++ queue: the inputs it kept, named <c>id:NNNNNN,...</c> (<see
    /// cref="AflQueueName"/>).</summary>
    public string Queue(string worker) => Path.Combine(Root, worker, QueueName);

    internal string Crashes(string worker) => Path.Combine(Root, worker, CrashesName);

    internal string Hangs(string worker) => Path.Combine(Root, worker, HangsName);

    internal string Synced(string worker) => Path.Combine(Root, worker, SyncedName);

    /// <summary>The worker's AFL++ <c>fuzzer_stats</c> file (<see cref="StatsFile"/>).</summary>
    public string FuzzerStats(string worker) => Path.Combine(Root, worker, FuzzerStatsName);

    /// <summary>The worker's AFL++ <c>plot_data</c> file (<see cref="PlotDataFile"/>).</summary>
    public string PlotData(string worker) => Path.Combine(Root, worker, PlotDataName);

    /// <summary>The worker's <c>virtsim_stats</c> file: our own counters in the <c>fuzzer_stats</c> format.</summary>
    public string VirtsimStats(string worker) => Path.Combine(Root, worker, VirtsimStatsName);

    internal string TargetFile(string worker) => Path.Combine(Root, worker, TargetFileName);

    /// <summary>The worker's log (<c>worker.log</c>): what it printed, for a campaign run without a terminal.</summary>
    public string Log(string worker) => Path.Combine(Root, worker, LogName);

    /// <summary>The target's findings directory, shared by all its workers so a site found twice is saved
    /// once.</summary>
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
