namespace Virtsim.Fuzz.Workers;

/// <summary>What makes one worker of a campaign different from the others.</summary>
internal sealed record WorkerSettings
{
    /// <summary>Directory name under the campaign root (AFL++'s <c>-S</c> name): letters, digits, '-', '_'.</summary>
    public required string Name { get; init; }

    /// <summary>Writes <see cref="CampaignLayout.MainNodeName"/>, so AFL++ secondaries import this worker's
    /// queue.</summary>
    public bool Main { get; init; }

    /// <summary>The supervising process; the worker stops gracefully when it is gone (0: none).</summary>
    public int ParentPid { get; init; }

    /// <summary>Seconds between imports of other workers' queues.</summary>
    public double SyncEverySeconds { get; init; } = 5;

    /// <summary>Seconds between <c>fuzzer_stats</c>/<c>plot_data</c> updates.</summary>
    public double StatsEverySeconds { get; init; } = 2;

    /// <summary>What <c>fuzzer_stats</c> shows as <c>command_line</c>.</summary>
    public string CommandLine { get; init; } = "";

    /// <summary>Valid worker names: what AFL++ accepts for <c>-S</c> and stays one path component.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64
        && name[0] != '.'
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
        && name != CampaignLayout.FindingsName;
}
