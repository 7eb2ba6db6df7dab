namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// The campaign options of <c>virtsim fuzz run</c> (<c>-o/--output DIR</c>, <c>--jobs N</c>, <c>--status</c>,
/// <c>--sync-every</c>, <c>--slice</c>, <c>--machine</c>) and those the supervisor gives each worker
/// (<c>fuzz worker --name NAME [--main] --parent-pid PID</c>), as <see cref="Entry.FuzzCommandLine"/> parsed them.
/// </summary>
public sealed record CampaignArgs
{
    public const int JobsMax = 256;

    public string? Output { get; init; }

    /// <summary>Worker processes; 0 when <c>--jobs</c> was not given (one).</summary>
    public int Jobs { get; init; }

    public string? Worker { get; init; }

    /// <summary>Prefix of this machine's worker names (<c>--machine</c>), so campaign directories synced between
    /// machines never mix two workers of one name; empty on a single machine.</summary>
    public string Machine { get; init; } = "";

    public bool Main { get; init; }

    public int ParentPid { get; init; }

    public double SyncEverySeconds { get; init; } = 5;

    public string Status { get; init; } = "auto";

    /// <summary>With more targets than jobs: seconds one worker runs one target before the scheduler picks
    /// again.</summary>
    public double SliceSeconds { get; init; } = 300;

    /// <summary>True when these arguments ask for a campaign in a directory (a supervisor or one of its
    /// workers).</summary>
    public bool IsCampaign => Output is not null;
}
