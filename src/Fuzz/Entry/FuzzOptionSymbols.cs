using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Entry;

/// <summary>
/// The options of <c>virtsim fuzz</c>'s subcommands, one factory per option (System.CommandLine gives each
/// command its own instance). Every option states its default, in <c>[default: …]</c> or in its description.
/// Flags take no value (<c>--no-coverage true</c> is an error, not a flag and a stray word).
/// </summary>
internal static class FuzzOptionSymbols
{
    public static Option<string> Target(bool campaign) =>
        new("--target")
        {
            Description = campaign
                ? "The fuzz target (virtsim fuzz list); with -o also a comma list or 'all'"
                : "The fuzz target (virtsim fuzz list)",
            HelpName = "name",
            Required = true,
        };

    public static Option<string?> Backend() =>
        new Option<string?>("--backend")
        {
            Description = "Backend part of a device target's name (default: the device's first, qemu)",
            HelpName = "qemu|vhost|diff",
        }.AcceptOnly(FuzzTargetName.BackendQemu, FuzzTargetName.BackendVhost, FuzzTargetName.BackendDiff);

    public static Option<string?> Flavour() =>
        new Option<string?>("--flavour")
        {
            Description = "Flavour part of a device target's name (default: robust)",
            HelpName = "robust|seed",
        }.AcceptOnly("robust", "seed");

    public static Option<ulong?> Seed() =>
        new("--seed")
        {
            Description = "Root seed; one seed repeats a run (default: picked from the clock and printed)",
            HelpName = "N",
            CustomParser = r => ParseUnsigned(r),
        };

    public static Option<long?> Runs() =>
        Positive("--runs", "Executions to run (default: no limit; give --runs or --time)", long.MaxValue);

    public static Option<Duration?> Time() =>
        new("--time")
        {
            Description =
                $"How long to run: 90s, 1500ms, 5m, 2h; at most {FuzzOptions.TimeMax.TotalHours:F0}h (default: no "
                + "limit; give --runs or --time)",
            HelpName = "duration",
            CustomParser = r => ParseDuration(r, FuzzOptions.TimeMax),
        };

    public static Option<long?> StepsMax() =>
        Positive(
            "--steps-max",
            $"Simulation steps one execution may take before it is a hang (default: {FuzzContext.DefaultStepsMax})",
            long.MaxValue
        );

    public static Option<long?> AllocMax() =>
        Positive(
            "--alloc-max",
            "Bytes one execution may allocate before it is an unbounded allocation (default: "
                + $"{Engine.ExecutionLimits.DefaultAllocatedBytesMax})",
            long.MaxValue,
            "BYTES"
        );

    public static Option<int> MaxLength() =>
        new("--max-len")
        {
            Description = $"Longest generated input in bytes, at most {FuzzOptions.MaxLengthMax}",
            HelpName = "N",
            DefaultValueFactory = _ => FuzzOptions.MaxLengthDefault,
            CustomParser = r => (int)(ParsePositive(r, "--max-len", FuzzOptions.MaxLengthMax) ?? 0),
        };

    public static Option<bool> NoMinimize() => Flag("--no-minimize", "Save findings as found, without minimising them");

    public static Option<bool> NoCoverage() =>
        Flag("--no-coverage", "Run without edge coverage (no instrumentation; blind mutation)");

    public static Option<string?> InstrumentCache() =>
        new("--instrument-cache")
        {
            Description = "Directory caching the instrumented assemblies (default: $TMPDIR/virtsim-instrumented)",
            HelpName = "dir",
        };

    public static Option<string?> Corpus() =>
        new("--corpus")
        {
            Description = "Directory the corpus is loaded from and new inputs saved to (default: none, in memory)",
            HelpName = "dir",
        };

    public static Option<string> Findings() =>
        new("--findings")
        {
            Description = "Directory findings are saved to: <oracle>-<site>/ with input.bin, trace.vtrace, summary.txt",
            HelpName = "dir",
            DefaultValueFactory = _ => FuzzOptions.FindingsDefault,
        };

    public static Option<string?> CampaignOutput() =>
        new("--output", "-o")
        {
            Description =
                "Run a campaign of worker processes in this directory (AFL++'s sync layout); again to resume "
                + "(default: none, one process)",
            HelpName = "dir",
        };

    public static Option<int?> Jobs() =>
        new("--jobs", "-j")
        {
            Description = $"With -o: worker processes, at most {CampaignArgs.JobsMax} (default: 1)",
            HelpName = "N",
            CustomParser = r => (int?)ParsePositive(r, "--jobs", CampaignArgs.JobsMax),
        };

    public static Option<string> Status() =>
        new Option<string>("--status")
        {
            Description = "With -o: the live screen on a terminal, plain lines otherwise (auto), or either always",
            HelpName = "auto|screen|plain",
            DefaultValueFactory = _ => "auto",
        }.AcceptOnly("auto", "screen", "plain");

    public static Option<Duration> SyncEvery(string scope) =>
        new("--sync-every")
        {
            Description = $"{scope}how often each worker imports the other workers' new queue entries",
            HelpName = "duration",
            DefaultValueFactory = _ => new Duration(TimeSpan.FromSeconds(5)),
            CustomParser = r => ParseDuration(r, FuzzOptions.TimeMax) ?? default,
        };

    public static Option<Duration> Slice() =>
        new("--slice")
        {
            Description =
                "With -o and more targets than jobs: how long a worker fuzzes one target before the scheduler picks "
                + "again",
            HelpName = "duration",
            DefaultValueFactory = _ => new Duration(TimeSpan.FromMinutes(5)),
            CustomParser = r => ParseDuration(r, FuzzOptions.TimeMax) ?? default,
        };

    public static Option<string?> Machine() =>
        new("--machine")
        {
            Description =
                "With -o: prefix of this machine's worker names, for a campaign directory synced between machines "
                + "(default: none)",
            HelpName = "name",
            CustomParser = r => ParseName(r, "--machine"),
        };

    public static Option<string> WorkerName() =>
        new("--name", "--worker")
        {
            Description = "This worker's directory name under -o",
            HelpName = "name",
            Required = true,
            CustomParser = r => ParseName(r, "--name") ?? "",
        };

    public static Option<string> WorkerOutput() =>
        new("--output", "-o")
        {
            Description = "The campaign directory",
            HelpName = "dir",
            Required = true,
        };

    public static Option<bool> Main() => Flag("--main", "This worker is AFL++'s main node of its target");

    public static Option<int?> ParentPid() =>
        new("--parent-pid")
        {
            Description = "Stop when this process (the supervisor) is gone (default: none)",
            HelpName = "pid",
            CustomParser = r => (int?)ParsePositive(r, "--parent-pid", int.MaxValue),
        };

    public static Option<bool> ExpectFires() =>
        Flag("--expect-fires", "Refuse an input on which no oracle fires; the test asserts that it still fires");

    public static Option<string?> TestOut() =>
        new("--out")
        {
            Description = "Write the test to this new .cs file, never overwriting (default: standard output)",
            HelpName = "file.cs",
        };

    public static Option<string?> AflInput() =>
        new("--afl-input")
        {
            Description =
                "Read each test case from this file (afl-fuzz's @@) (default: standard input, afl-fuzz's .cur_input)",
            HelpName = "file",
        };

    public static Option<string?> ReportOutput() =>
        new("--output", "-o")
        {
            Description = "The HTML file to write (default: <dir>/report.html)",
            HelpName = "file",
        };

    private static Option<bool> Flag(string name, string description) =>
        new(name) { Description = description, Arity = ArgumentArity.Zero };

    private static Option<long?> Positive(string name, string description, long max, string helpName = "N") =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r => ParsePositive(r, name, max),
        };

    private static T AcceptOnly<T>(this T option, params string[] values)
        where T : Option
    {
        option.Validators.Add(r =>
        {
            string? v = r.GetValueOrDefault<string?>();
            if (v is not null && !values.Contains(v, StringComparer.Ordinal))
                r.AddError($"{option.Name} is {string.Join(", ", values[..^1])} or {values[^1]}, got '{v}'");
        });
        return option;
    }

    private static string Token(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[0].Value : "";

    private static string Name(ArgumentResult r) => (r.Parent as OptionResult)?.Option.Name ?? r.Argument.Name;

    private static long? ParsePositive(ArgumentResult r, string name, long max)
    {
        string text = Token(r);
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0)
        {
            r.AddError($"{name} needs a positive integer, got '{text}'");
            return null;
        }
        if (n > max)
        {
            r.AddError($"{name} is at most {max}, got {n}");
            return null;
        }
        return n;
    }

    private static ulong? ParseUnsigned(ArgumentResult r)
    {
        string text = Token(r);
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n))
            return n;
        r.AddError($"{Name(r)} needs an unsigned integer, got '{text}'");
        return null;
    }

    private static Duration? ParseDuration(ArgumentResult r, TimeSpan max)
    {
        string text = Token(r);
        if (!Duration.TryParse(text, out Duration d))
        {
            r.AddError($"{Name(r)} needs a duration such as 90s, 1500ms, 5m, 2h; got '{text}'");
            return null;
        }
        if (d.Value > max)
        {
            r.AddError($"{Name(r)} is at most {max.TotalHours:F0}h ({max.TotalDays:F0} days); got '{text}'");
            return null;
        }
        return d;
    }

    private static string? ParseName(ArgumentResult r, string name)
    {
        string text = Token(r);
        if (WorkerSettings.IsValidName(text))
            return text;
        r.AddError($"{name} needs a name of letters, digits, '-', '_' (got '{text}')");
        return null;
    }
}
