using System.CommandLine;

namespace Virtsim.Cli.Commands;

/// <summary>
/// <c>virtsim fuzz</c>: the fuzzer defines its own System.CommandLine tree
/// (<see cref="Virtsim.Fuzz.Entry.FuzzCommandLine"/>) and parses it itself, because the modes that run a target
/// continue inside an assembly load context holding IL-instrumented copies of the backends. The tree is added here
/// for <c>virtsim --help</c>; <see cref="CliApp.Run"/> hands <c>fuzz ...</c> to
/// <see cref="Virtsim.Fuzz.Campaign.CampaignCommand"/>.
/// </summary>
internal static class ExtraCommands
{
    public const string FuzzName = Virtsim.Fuzz.Entry.FuzzCommandLine.Name;

    /// <summary><c>virtsim mutants</c>: mutation testing of the fuzzer
    /// (<see cref="Virtsim.Fuzz.Mutants.MutantHost"/>).</summary>
    public const string MutantsName = Virtsim.Fuzz.Mutants.MutantHost.Name;

    public static IEnumerable<Command> Build(CliApp app)
    {
        _ = app;
        yield return Virtsim.Fuzz.Entry.FuzzCommandLine.Build();
        yield return Virtsim.Fuzz.Mutants.MutantHost.BuildCommand();
    }

    /// <summary>Runs the fuzzer with the arguments after <c>fuzz</c>.</summary>
    public static int RunFuzz(CliApp app, string[] args) =>
        Virtsim.Fuzz.Campaign.CampaignCommand.Run(args, app.Out, app.Err);
}
