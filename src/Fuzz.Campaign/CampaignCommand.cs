using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// <c>virtsim fuzz ...</c> as the CLI runs it: parses the command line once (<see cref="FuzzCommandLine"/>), prints
/// help or errors, runs <c>fuzz report</c> and the campaign supervisor (<c>fuzz run -o DIR</c>) here, and hands
/// every other mode to <see cref="FuzzHost"/> (which instruments and runs it in its load context).
/// </summary>
public static class CampaignCommand
{
    /// <summary>Runs <c>virtsim fuzz</c> with <paramref name="args"/>; returns the process exit code (0 clean,
    /// 1 findings, 2 bad usage).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        FuzzParse parse = FuzzCommandLine.Parse(args);
        if (parse.Handle(output, error) is { } code)
            return code;
        FuzzInvocation invocation = parse.Invocation!;
        if (invocation.Mode == FuzzMode.Report)
            return ReportCommand.Run(invocation.Options.Input!, invocation.Options.Out, output, error);
        if (!invocation.IsSupervisor)
            return FuzzHost.Run(invocation, output, error);
        if (WorkerLauncher.Self() is not { } command)
        {
            error.WriteLine(
                "virtsim: cannot tell how to start worker processes (run virtsim through ./virtsim or dotnet "
                    + "virtsim.dll)"
            );
            return 2;
        }
        CampaignArgs campaign = invocation.Campaign;
        bool screen =
            campaign.Status == "screen"
            || (campaign.Status == "auto" && !Console.IsOutputRedirected && ReferenceEquals(output, Console.Out));
        return new CampaignSupervisor(campaign, invocation.Options, command, output, error) { Screen = screen }.Run();
    }
}
