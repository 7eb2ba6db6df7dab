using System.CommandLine;

namespace Cli.Commands;

/// <summary>Subcommands added by later features (fuzz). Kept apart so the root stays short.</summary>
internal static class ExtraCommands
{
    public static IEnumerable<Command> Build(CliApp app)
    {
        _ = app;
        return [];
    }
}
