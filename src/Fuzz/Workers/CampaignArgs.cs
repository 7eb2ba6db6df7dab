namespace Virtsim.Fuzz.Workers;

/// <summary>
/// The campaign options of <c>virtsim fuzz run</c> (<c>-o/--output DIR</c>, <c>--jobs N</c>, <c>--status</c>,
/// <c>--sync-every</c>, <c>--slice</c>, <c>--machine</c>) and those the supervisor gives each worker
/// (<c>fuzz worker --name NAME [--main] --parent-pid PID</c>), as <see cref="Entry.FuzzCommandLine"/> parsed them.
/// </summary>
public sealed record CampaignArgs
{
    /// <summary>The most worker processes <c>--jobs</c> accepts (each is a whole process with its own simulation; the
    /// bound keeps a typo from starting thousands).</summary>
    public const int JobsMax = 256;

    /// <summary>The campaign directory (<c>-o/--output</c>); null when the run is not a campaign (a one-process
    /// <c>fuzz run</c>).</summary>
    public string? Output { get; init; }

    /// <summary>Worker processes; 0 when <c>--jobs</c> was not given (one).</summary>
    public int Jobs { get; init; }

    /// <summary>This process's worker name (<c>--name</c>), the directory under <see cref="Output"/> it owns; null in
    /// the supervisor.</summary>
    public string? Worker { get; init; }

    /// <summary>Prefix of this machine's worker names (<c>--machine</c>), so campaign directories synced between
    /// machines never mix two workers of one name; empty on a single machine.</summary>
    public string Machine { get; init; } = "";

    /// <summary>This worker is its target's AFL++ main node (<c>--main</c>): it writes
    /// <see cref="CampaignLayout.MainNodeName"/>, from which AFL++ secondaries sync.</summary>
    public bool Main { get; init; }

    /// <summary>The supervisor's process id (<c>--parent-pid</c>): the worker stops, stats written, once that process
    /// is gone, so a killed supervisor leaves no orphans; 0 when started by hand.</summary>
    public int ParentPid { get; init; }

    /// <summary>How often each worker imports the other workers' new queue entries (<c>--sync-every</c>), in
    /// seconds.</summary>
    public double SyncEverySeconds { get; init; } = 5;

    /// <summary>The supervisor's status output (<c>--status</c>): <c>screen</c> (the live screen), <c>plain</c> (status
    /// lines), or <c>auto</c> (the screen when stdout is a terminal).</summary>
    public string Status { get; init; } = "auto";

    /// <summary>With more targets than jobs: seconds one worker runs one target before the scheduler picks
    /// again.</summary>
    public double SliceSeconds { get; init; } = 300;

    /// <summary>True when these arguments ask for a campaign in a directory (a supervisor or one of its
    /// workers).</summary>
    public bool IsCampaign => Output is not null;
}
