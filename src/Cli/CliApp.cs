using System.CommandLine;
using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Virtsim.Cli.Commands;

namespace Virtsim.Cli;

/// <summary>
/// The <c>virtsim</c> command tree. Output goes to the given writers so tests can run the command
/// in-process. Exit codes: <see cref="ExitCodes"/> (0 ok, 1 finding or divergence, 2 usage or input
/// error); a parse error prints what was wrong and the subcommand's usage hint, and exits 2.
/// </summary>
public sealed class CliApp
{
    public CliApp(TextWriter output, TextWriter error)
    {
        Out = output;
        Err = error;
    }

    /// <summary><c>virtsim help [command]</c>: the same as <c>virtsim [command] --help</c>.</summary>
    public const string HelpName = "help";

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    public RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "virtsim: a deterministic record-replay simulator and fuzzer for virtual I/O (virtio, vhost, KVM exits).\n"
                + "Exit codes: 0 ok, 1 finding or replay divergence, 2 usage or input error."
        );
        root.Add(RunCommand.Build(this));
        root.Add(ShowCommand.Build(this));
        root.Add(ReplayCommand.Build(this));
        root.Add(ExportCommand.Build(this));
        root.Add(BenchCommand.Build(this));
        root.Add(RecordCommand.Build(this));
        foreach (Command extra in ExtraCommands.Build(this))
            root.Add(extra);
        // Listed for the help text only: Run turns "help X" into "X --help" before parsing.
        root.Add(
            new Command(HelpName, "Show a command's help: virtsim help <command> is virtsim <command> --help")
            {
                new Argument<string[]>("command")
                {
                    Arity = ArgumentArity.ZeroOrMore,
                    Description = "The command (and, for run, a scenario)",
                },
            }
        );
        return root;
    }

    public int Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        // virtsim help [command [scenario]] is the command's --help.
        if (args.Length > 0 && args[0] == HelpName)
        {
            if (args.Length > 1 && !BuildRoot().Subcommands.Any(c => c.Name == args[1]))
            {
                Err.WriteLine($"virtsim: no command named '{args[1]}'; see 'virtsim --help'");
                return ExitCodes.UsageOrInput;
            }
            args = [.. args[1..], "--help"];
        }
        if (args.Length > 0 && args[0] == ExtraCommands.FuzzName)
            return ExtraCommands.RunFuzz(this, args[1..]);
        if (args.Length > 0 && args[0] == ExtraCommands.MutantsName)
            return Virtsim.Fuzz.Mutants.MutantHost.Run(args[1..], Out, Err);
        RootCommand root = BuildRoot();
        ParseResult parsed = root.Parse(args);
        // run <scenario> --help: the command's help, then the scenario's own --opt options and their defaults.
        IScenario? helpScenario =
            args.Length >= 2 && args[0] == "run" && args.Skip(1).Any(a => a is "--help" or "-h" or "-?")
                ? ScenarioCatalog.Find(args[1])
                : null;
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
                Err.WriteLine($"virtsim: {e.Message}");
            string path = string.Join(' ', CommandPath(parsed.CommandResult));
            Err.WriteLine($"usage: see 'virtsim {path}{(path.Length > 0 ? " " : "")}--help'");
            return ExitCodes.UsageOrInput;
        }
        var config = new InvocationConfiguration
        {
            Output = Out,
            Error = Err,
            EnableDefaultExceptionHandler = false,
        };
        try
        {
            int code = parsed.Invoke(config);
            if (helpScenario is not null)
                RunCommand.WriteScenarioHelp(Out, helpScenario);
            return code;
        }
        catch (CliInputException ex)
        {
            Err.WriteLine($"virtsim: {ex.Message}");
            return ExitCodes.UsageOrInput;
        }
    }

    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult? result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
        {
            if (r.Command is not RootCommand)
                names.Push(r.Command.Name);
        }
        return names;
    }
}
