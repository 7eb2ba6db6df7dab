using Fuzz.Entry;

namespace Fuzz.Campaign;

/// <summary>
/// The campaign forms of <c>virtsim fuzz</c>, tried before the single-process ones: <c>fuzz report &lt;dir&gt;</c>,
/// and <c>fuzz -o &lt;dir&gt; ...</c> (the supervisor; its workers carry <c>--worker</c> and go to
/// <see cref="FuzzHost"/>). Returns null for everything else.
/// </summary>
public static class CampaignCommand
{
    public static int? TryRun(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length > 0 && args[0] == "report") return ReportCommand.Run(args[1..], output, error);
        if (args.Length > 0 && args[0] is "cmin" or "triage" or BlockTraceEntry.Command) return null; // FuzzHost runs them instrumented
        if (!CampaignArgs.TryParse(args, out CampaignArgs campaign, out string? campaignError))
        {
            error.WriteLine("virtsim: " + campaignError);
            return 2;
        }
        if (!campaign.IsCampaign || campaign.Worker is not null) return null;
        if (!FuzzOptions.TryParse(campaign.Rest, out FuzzOptions options, out string? parseError))
        {
            error.WriteLine("virtsim: " + parseError);
            return 2;
        }
        if (options.Help || options.List) return null;
        if (options.Reproduce is not null || options.EmitTest is not null || options.Afl || options.LibFuzzerDriver)
        {
            error.WriteLine("virtsim: -o/--jobs run a campaign; they exclude --reproduce, --emit-test, --afl and --libfuzzer-driver");
            return 2;
        }
        if (WorkerLauncher.Self() is not { } command)
        {
            error.WriteLine("virtsim: cannot tell how to start worker processes (run virtsim through ./virtsim or dotnet virtsim.dll)");
            return 2;
        }
        bool screen = campaign.Status == "screen" || (campaign.Status == "auto" && !Console.IsOutputRedirected && ReferenceEquals(output, Console.Out));
        return new CampaignSupervisor(campaign, options, command, output, error) { Screen = screen }.Run();
    }
}
