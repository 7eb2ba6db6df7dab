using System.CommandLine;
using System.CommandLine.Help;

namespace Virtsim.Fuzz.Entry;

/// <summary>
/// The outcome of parsing a <c>virtsim fuzz</c> command line: a command to run (<see cref="Invocation"/>), a help
/// request, or errors. <see cref="Handle"/> prints help (exit 0) or the errors, each prefixed <c>virtsim:</c>, with
/// the usage hint (exit 2), as every other virtsim command does.
/// </summary>
public sealed class FuzzParse
{
    internal FuzzParse(FuzzInvocation? invocation, IReadOnlyList<string> errors, string usageCommand, ParseResult? help)
    {
        Invocation = invocation;
        Errors = errors;
        UsageCommand = usageCommand;
        Help = help;
    }

    /// <summary>The command to run; null when the line asked for help or had errors.</summary>
    public FuzzInvocation? Invocation { get; }

    /// <summary>The problems, without the <c>virtsim:</c> prefix; empty when the command parsed.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>The command the errors are about (<c>fuzz run</c>), for the usage hint.</summary>
    public string UsageCommand { get; }

    internal ParseResult? Help { get; }

    /// <summary>Prints help or errors and returns the exit code, or null when <see cref="Invocation"/> is to
    /// run.</summary>
    public int? Handle(TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (Errors.Count > 0)
        {
            foreach (string e in Errors)
                error.WriteLine("virtsim: " + e);
            error.WriteLine($"usage: see 'virtsim {UsageCommand} --help'");
            return 2;
        }
        if (Help is { } help)
        {
            help.Invoke(
                new InvocationConfiguration
                {
                    Output = output,
                    Error = error,
                    EnableDefaultExceptionHandler = false,
                }
            );
            FuzzCommandLine.WriteHelpNotes(help.CommandResult.Command, output);
            return 0;
        }
        return null;
    }

    internal static bool IsHelp(ParseResult result) => result.Action is HelpAction;
}
