using System.CommandLine;

namespace Cli.Commands;

/// <summary>
/// <c>virtsim fuzz</c>: the fuzzer parses its own arguments (it runs inside an assembly load context
/// holding IL-instrumented copies of the backends, so only strings cross into it). This command
/// exists for the help listing; <see cref="CliApp.Run"/> hands <c>fuzz ...</c> straight to
/// <see cref="Fuzz.Entry.FuzzHost"/>.
/// </summary>
internal static class ExtraCommands
{
    public const string FuzzName = "fuzz";

    /// <summary><c>virtsim mutants</c>: mutation testing of the fuzzer (<see cref="Fuzz.Mutants.MutantHost"/>).</summary>
    public const string MutantsName = "mutants";

    public static IEnumerable<Command> Build(CliApp app)
    {
        _ = app;
        var fuzz = new Command(FuzzName, "Coverage-guided fuzzing of the device backends (virtsim fuzz --help, --list)")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        yield return fuzz;
        yield return new Command(MutantsName, "Mutation testing of the fuzzer: mutants of Sim.Devices, each fuzzed until caught (virtsim mutants --list | --run ID; scripts/mutation-score)")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
    }

    /// <summary>Runs the fuzzer with the arguments after <c>fuzz</c>.</summary>
    public static int RunFuzz(CliApp app, string[] args) =>
        Fuzz.Campaign.CampaignCommand.TryRun(args, app.Out, app.Err) ?? Fuzz.Entry.FuzzHost.Run(args, app.Out, app.Err);
}
