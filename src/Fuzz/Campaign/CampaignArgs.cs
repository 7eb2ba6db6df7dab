using System.Globalization;

namespace Fuzz.Campaign;

/// <summary>
/// The campaign options of <c>virtsim fuzz</c>, taken out of the argument list before the rest goes to
/// <see cref="Entry.FuzzOptions"/>: <c>-o/--output DIR</c> (the campaign directory), <c>--jobs N</c>,
/// <c>--status auto|screen|plain</c>, <c>--sync-every SECONDS</c>, and the ones the supervisor gives its workers
/// (<c>--worker NAME</c>, <c>--main</c>, <c>--parent-pid PID</c>).
/// </summary>
public sealed record CampaignArgs
{
    public const int JobsMax = 256;

    public string? Output { get; init; }

    public int Jobs { get; init; }

    public string? Worker { get; init; }

    /// <summary>Prefix of this machine's worker names (<c>--machine</c>), so campaign directories synced between
    /// machines never mix two workers of one name; empty on a single machine.</summary>
    public string Machine { get; init; } = "";

    public bool Main { get; init; }

    public int ParentPid { get; init; }

    public double SyncEverySeconds { get; init; } = 5;

    public string Status { get; init; } = "auto";

    /// <summary>With more targets than jobs: seconds one worker runs one target before the scheduler picks again.</summary>
    public double SliceSeconds { get; init; } = 300;

    /// <summary>The arguments that are not campaign options, in order.</summary>
    public IReadOnlyList<string> Rest { get; init; } = [];

    /// <summary>True when these arguments ask for a campaign in a directory (a supervisor or one of its workers).</summary>
    public bool IsCampaign => Output is not null;

    public static bool TryParse(IReadOnlyList<string> args, out CampaignArgs parsed, out string? error)
    {
        parsed = new CampaignArgs();
        error = null;
        var rest = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string name = arg;
            string? inline = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }
            string? Value() => inline ?? (i + 1 < args.Count ? args[++i] : null);
            switch (name)
            {
                case "-o" or "--output":
                    {
                        string? v = Value();
                        if (string.IsNullOrEmpty(v)) { error = $"{name} needs a directory"; return false; }
                        parsed = parsed with { Output = v };
                        break;
                    }
                case "--worker" or "--machine":
                    {
                        string? v = Value();
                        if (v is null || !WorkerSettings.IsValidName(v)) { error = $"{name} needs a name of letters, digits, '-', '_' (got '{v}')"; return false; }
                        parsed = name == "--worker" ? parsed with { Worker = v } : parsed with { Machine = v };
                        break;
                    }
                case "--main":
                    parsed = parsed with { Main = true };
                    break;
                case "--jobs" or "--parent-pid":
                    {
                        string? v = Value();
                        if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n <= 0) { error = $"{name} needs a positive integer, got '{v}'"; return false; }
                        if (name == "--jobs" && n > JobsMax) { error = $"--jobs is at most {JobsMax}"; return false; }
                        parsed = name == "--jobs" ? parsed with { Jobs = n } : parsed with { ParentPid = n };
                        break;
                    }
                case "--sync-every" or "--slice":
                    {
                        string? v = Value();
                        if (!Entry.FuzzOptions.TryParseDuration(v, out TimeSpan t)) { error = $"{name} needs a duration such as 5s, got '{v}'"; return false; }
                        parsed = name == "--slice" ? parsed with { SliceSeconds = t.TotalSeconds } : parsed with { SyncEverySeconds = t.TotalSeconds };
                        break;
                    }
                case "--status":
                    {
                        string? v = Value();
                        if (v is not ("auto" or "screen" or "plain")) { error = $"--status is auto, screen or plain, got '{v}'"; return false; }
                        parsed = parsed with { Status = v };
                        break;
                    }
                default:
                    rest.Add(arg);
                    break;
            }
        }
        parsed = parsed with { Rest = rest };
        if (parsed.Output is null && (parsed.Jobs > 0 || parsed.Worker is not null)) { error = "--jobs needs -o <campaign directory>"; return false; }
        return true;
    }
}
