using System.CommandLine;

namespace Cli.Commands;

/// <summary>
/// <c>virtsim fuzz</c>: the fuzzer defines its own System.CommandLine tree (<see cref="Fuzz.Entry.FuzzCommandLine"/>)
/// and parses it itself, because the modes that run a target continue inside an assembly load context holding
/// IL-instrumented copies of the backends. The tree is added here for <c>virtsim --help</c>; <see cref="CliApp.Run"/>
/// hands <c>fuzz ...</c> to <see cref="Fuzz.Campaign.CampaignCommand"/>.
/// </summary>
internal static class ExtraCommands
{
    public const string FuzzName = Fuzz.Entry.FuzzCommandLine.Name;

    /// <summary><c>virtsim mutants</c>: mutation testing of the fuzzer
    /// (<see cref="Fuzz.Mutants.MutantHost"/>).</summary>
    public const string MutantsName = Fuzz.Mutants.MutantHost.Name;

    public static IEnumerable<Command> Build(CliApp app)
    {
        _ = app;
        yield return Fuzz.Entry.FuzzCommandLine.Build();
        yield return Fuzz.Mutants.MutantHost.BuildCommand();
    }

    /// <summary>Runs the fuzzer with the arguments after <c>fuzz</c>.</summary>
    public static int RunFuzz(CliApp app, string[] args) =>
        Fuzz.Campaign.CampaignCommand.Run(args, app.Out, app.Err);
}
