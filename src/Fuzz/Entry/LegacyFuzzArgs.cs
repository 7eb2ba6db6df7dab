namespace Virtsim.Fuzz.Entry;

/// <summary>
/// The flag forms <c>virtsim fuzz</c> had before its modes were subcommands, kept as aliases because scripts, docs
/// and saved findings use them: <c>--list</c> is <c>list</c>, <c>--reproduce F</c> is <c>reproduce F</c>,
/// <c>--emit-test F</c> is <c>emit-test F</c>, <c>--afl</c> is <c>afl</c>, <c>--libfuzzer-driver</c> is
/// <c>libfuzzer</c>, <c>--worker N</c> is <c>worker --name N</c>, and anything else (<c>--target T --runs N</c>,
/// <c>-o DIR --jobs N</c>) is <c>run</c>. A command line that starts with a word that is not an option (a subcommand)
/// is left alone.
/// </summary>
internal static class LegacyFuzzArgs
{
    /// <summary>The old mode flags and the subcommands they name; the bool says whether the flag takes a
    /// value.</summary>
    private static readonly (string Flag, string Command, bool Value)[] Modes =
    [
        ("--list", "list", false),
        ("--reproduce", "reproduce", true),
        ("--emit-test", "emit-test", true),
        ("--afl", "afl", false),
        ("--libfuzzer-driver", "libfuzzer", false),
        ("--worker", "worker", true),
    ];

    private static readonly string[] HelpFlags = ["--help", "-h", "-?", "/h", "/?"];

    /// <summary>The subcommand form of <paramref name="args"/> (the words after <c>fuzz</c>), or null with
    /// <paramref name="error"/> when two old mode flags contradict each other.</summary>
    public static string[]? Rewrite(IReadOnlyList<string> args, out string? error)
    {
        ArgumentNullException.ThrowIfNull(args);
        error = null;
        // A first word that is not an option is a subcommand (known or not: System.CommandLine reports an unknown one).
        if (args.Count == 0 || !args[0].StartsWith('-'))
            return [.. args];
        if (args.All(a => HelpFlags.Contains(a)))
            return [.. args];
        var rest = new List<string>();
        (string Flag, string Command, string? Value)? mode = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            string name = arg.StartsWith("--", StringComparison.Ordinal) && eq > 0 ? arg[..eq] : arg;
            int m = Array.FindIndex(Modes, x => x.Flag == name);
            if (m < 0 || (eq > 0 && !Modes[m].Value))
            {
                rest.Add(arg);
                continue;
            }
            (string flag, string command, bool takesValue) = Modes[m];
            string? value = null;
            if (takesValue)
            {
                if (eq > 0)
                    value = arg[(eq + 1)..];
                else if (i + 1 < args.Count)
                    value = args[++i];
                else
                {
                    error = $"{flag} needs a value";
                    return null;
                }
            }
            if (mode is { } earlier)
            {
                error =
                    earlier.Flag == flag
                        ? $"{flag} is given twice; give it once"
                        : $"{earlier.Flag} and {flag} are different modes (virtsim fuzz {earlier.Command} / "
                            + $"{command}); give one";
                return null;
            }
            mode = (flag, command, value);
        }
        if (mode is not { } chosen)
            return ["run", .. rest];
        if (chosen.Command == "worker")
            return ["worker", "--name", chosen.Value!, .. rest];
        // The input goes after "--" so a file name that starts with '-' stays a file name.
        return chosen.Value is null ? [chosen.Command, .. rest] : [chosen.Command, .. rest, "--", chosen.Value];
    }
}
