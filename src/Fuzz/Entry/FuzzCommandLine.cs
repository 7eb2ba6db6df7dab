using System.CommandLine;
using System.CommandLine.Parsing;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Workers;
using S = Virtsim.Fuzz.Entry.FuzzOptionSymbols;

namespace Virtsim.Fuzz.Entry;

/// <summary>
/// <c>virtsim fuzz</c> on System.CommandLine, defined and parsed here in the fuzzer (the <c>virtsim</c> CLI hands
/// it the words after <c>fuzz</c>): the modes are subcommands, each with only the options that apply to it, so an
/// option of another mode, a repeated option or a malformed value is an error (exit 2) rather than ignored. The old
/// flag forms still work (<see cref="LegacyFuzzArgs"/>). Parsed once, in the default load context; the instrumented
/// context receives the parsed <see cref="FuzzInvocation"/> (<see cref="LoadContextTransfer"/>).
/// </summary>
public static class FuzzCommandLine
{
    /// <summary>The command's name under <c>virtsim</c>; the CLI routes the words after it here.</summary>
    public const string Name = "fuzz";

    /// <summary>The one-line description <c>virtsim --help</c> lists for the command.</summary>
    public const string Description =
        "Coverage-guided fuzzing of the device backends (virtsim fuzz --help; virtsim fuzz <command> --help)";

    /// <summary>The <c>fuzz</c> command and its subcommands (a fresh tree each call).</summary>
    public static Command Build()
    {
        var fuzz = new Command(Name, Description)
        {
            new Command("list", "List the fuzz targets, one per line, name first"),
            RunCommand(),
            ReproduceCommand(),
            EmitTestCommand(),
            AflCommand(),
            LibFuzzerCommand(),
            ReportCommand(),
            CminCommand(),
            TriageCommand(),
            BlockTraceCommand(),
            WorkerCommand(),
        };
        foreach (Command c in fuzz.Subcommands)
            c.Validators.Add(RejectRepeatedOptions);
        fuzz.Subcommands.Single(c => c.Name == "run").Validators.Add(CheckRun);
        return fuzz;
    }

    /// <summary><c>fuzz run</c>: a target fuzzed by virtsim's engine, or with -o a campaign of worker
    /// processes.</summary>
    private static Command RunCommand() =>
        WithTarget(
            new Command(
                "run",
                "Fuzz a target with virtsim's engine; with -o DIR, a campaign of --jobs worker processes (AFL++'s "
                    + "sync layout, resumable)"
            ),
            campaign: true,
            S.Seed(),
            S.Runs(),
            S.Time(),
            S.Corpus(),
            S.Findings(),
            S.MaxLength(),
            S.NoMinimize(),
            S.StepsMax(),
            S.AllocMax(),
            S.NoCoverage(),
            S.InstrumentCache(),
            S.CampaignOutput(),
            S.Jobs(),
            S.Status(),
            S.SyncEvery("With -o: "),
            S.Slice(),
            S.Machine()
        );

    /// <summary><c>fuzz reproduce</c>: one input with every oracle armed.</summary>
    private static Command ReproduceCommand() =>
        WithTarget(
            new Command("reproduce", "Run one input with every oracle armed; exit 1 when one fires")
            {
                Input("The input file, or a finding directory (its input.bin)"),
            },
            campaign: false,
            S.StepsMax(),
            S.AllocMax(),
            S.NoCoverage(),
            S.InstrumentCache()
        );

    /// <summary><c>fuzz emit-test</c>: an xUnit regression test holding one input.</summary>
    private static Command EmitTestCommand() =>
        WithTarget(
            new Command("emit-test", "Write an xUnit regression test holding one input")
            {
                Input("The input file, or a finding directory (its input.bin)"),
            },
            campaign: false,
            S.ExpectFires(),
            S.TestOut(),
            S.StepsMax(),
            S.AllocMax()
        );

    /// <summary><c>fuzz afl</c>: AFL++'s fork-server protocol, served in-process.</summary>
    private static Command AflCommand() =>
        WithTarget(
            new Command(
                "afl",
                "Serve AFL++'s fork-server protocol in-process (started by afl-fuzz; fds 198/199, map __AFL_SHM_ID, "
                    + "AFL_MAP_SIZE)"
            ),
            campaign: false,
            S.AflInput(),
            S.StepsMax(),
            S.AllocMax(),
            S.NoCoverage(),
            S.InstrumentCache()
        );

    /// <summary><c>fuzz libfuzzer</c>: inputs served from tools/libfuzzer-driver.</summary>
    private static Command LibFuzzerCommand() =>
        WithTarget(
            new Command(
                "libfuzzer",
                "Serve inputs from tools/libfuzzer-driver through SharpFuzz's Fuzzer.LibFuzzer.Run (started by the "
                    + "driver; segment __LIBFUZZER_SHM_ID, pipes "
                    + "__LIBFUZZER_CONTROL_PIPE_ID/__LIBFUZZER_STATUS_PIPE_ID)"
            ),
            campaign: false,
            S.StepsMax(),
            S.AllocMax(),
            S.NoCoverage(),
            S.InstrumentCache()
        );

    /// <summary><c>fuzz report</c>: a campaign directory's HTML report.</summary>
    private static Command ReportCommand() =>
        new Command(
            "report",
            "Write a campaign directory's self-contained HTML report (plots, findings, source coverage)"
        )
        {
            new Argument<string>("dir") { Description = "The campaign directory (fuzz run -o)" },
            S.ReportOutput(),
        };

    /// <summary><c>fuzz cmin</c>: a corpus minimised like afl-cmin.</summary>
    private static Command CminCommand() =>
        WithTarget(
            new Command("cmin", "Minimise a corpus keeping every (edge, hit-count bucket), like afl-cmin")
            {
                new Argument<string>("input")
                {
                    Description = "A directory of inputs, or a campaign directory (the target's queues)",
                },
                new Argument<string>("output") { Description = "A new or empty directory for the kept inputs" },
            },
            campaign: false,
            S.StepsMax(),
            S.AllocMax(),
            S.NoCoverage(),
            S.InstrumentCache()
        );

    /// <summary><c>fuzz triage</c>: crash files of other fuzzers turned into findings.</summary>
    private static Command TriageCommand() =>
        WithTarget(
            new Command(
                "triage",
                "Turn crash files of AFL++/libFuzzer runs into deduplicated, minimised findings with traces"
            )
            {
                new Argument<string>("dir") { Description = "A directory holding crash files (searched recursively)" },
                new Argument<string?>("findings")
                {
                    Description = "Where findings are saved (default: <dir>/findings)",
                    Arity = ArgumentArity.ZeroOrOne,
                },
            },
            campaign: false,
            S.StepsMax(),
            S.AllocMax(),
            S.NoCoverage(),
            S.InstrumentCache()
        );

    /// <summary>The hidden block-trace command <c>fuzz report</c> runs.</summary>
    private static Command BlockTraceCommand() =>
        WithTarget(
            Hidden(
                new Command(
                    BlockTraceEntry.Command,
                    "Replay a corpus with SharpFuzz's branch callback and write the blocks reached (fuzz report "
                        + "runs it)"
                )
                {
                    new Argument<string>("input") { Description = "A campaign directory or a directory of inputs" },
                    new Argument<string>("output") { Description = "The file to write" },
                }
            ),
            campaign: false,
            S.StepsMax(),
            S.AllocMax(),
            S.InstrumentCache()
        );

    /// <summary><c>fuzz worker</c> (hidden): one worker of a campaign, as the supervisor starts it.</summary>
    private static Command WorkerCommand() =>
        WithTarget(
            new Command("worker", "One worker of a campaign (the supervisor of fuzz run -o starts these)")
            {
                Hidden = true,
            },
            campaign: false,
            S.WorkerOutput(),
            S.WorkerName(),
            S.Main(),
            S.ParentPid(),
            S.SyncEvery(""),
            S.Seed(),
            S.Runs(),
            S.Time(),
            S.MaxLength(),
            S.NoMinimize(),
            S.StepsMax(),
            S.AllocMax(),
            S.NoCoverage(),
            S.InstrumentCache()
        );

    /// <summary>Parses the words after <c>fuzz</c>.</summary>
    public static FuzzParse Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        Command fuzz = Build();
        string[]? words = LegacyFuzzArgs.Rewrite(args, out string? legacyError);
        if (words is null)
            return new FuzzParse(null, [legacyError!], Name, null);
        if (
            words.Length > 0
            && fuzz.Subcommands.FirstOrDefault(c => c.Name == words[0]) is { } chosen
            && MisplacedOptions(fuzz, chosen, words) is { Count: > 0 } misplaced
        )
        {
            return new FuzzParse(null, misplaced, Name + " " + chosen.Name, null);
        }
        var root = new Command("virtsim")
        {
            new System.CommandLine.Help.HelpOption { Recursive = true },
            fuzz,
        };
        // No response files: afl-fuzz and triage pass file names, and one starting with '@' is a file name.
        ParseResult result = root.Parse([Name, .. words], new ParserConfiguration { ResponseFileTokenReplacer = null });
        string usage = string.Join(' ', Path(result.CommandResult));
        if (FuzzParse.IsHelp(result))
            return new FuzzParse(null, [], usage, result);
        if (result.Errors.Count > 0)
            return new FuzzParse(
                null,
                [.. result.Errors.Select(e => e.Message).Distinct(StringComparer.Ordinal)],
                usage,
                null
            );
        if (result.CommandResult.Command == fuzz)
            return new FuzzParse(
                null,
                [
                    "name a fuzz command: "
                        + string.Join(", ", fuzz.Subcommands.Where(c => !c.Hidden).Select(c => c.Name)),
                ],
                Name,
                null
            );
        return new FuzzParse(Read(result, [.. args]), [], usage, null);
    }

    /// <summary>What <c>--help</c> adds after System.CommandLine's text: for <c>fuzz</c> itself every subcommand's
    /// options, then the notes on target names, findings, external engines and durations.</summary>
    internal static void WriteHelpNotes(Command command, TextWriter output)
    {
        if (command.Name == Name)
        {
            foreach (Command sub in command.Subcommands.Where(c => !c.Hidden))
            {
                output.WriteLine($"--- virtsim fuzz {sub.Name} ---");
                Parse([sub.Name, "--help"])
                    .Help!.Invoke(
                        new InvocationConfiguration { Output = output, EnableDefaultExceptionHandler = false }
                    );
            }
        }
        if (command.Name is Name or "run" or "reproduce" or "emit-test" or "afl" or "libfuzzer" or "cmin" or "triage")
            output.WriteLine(Notes);
    }

    private const string Notes = """
        Targets: device targets are named <device>-<backend>-<flavour> (virtio-demo-vhost-seed); --target virtio-demo
          --backend vhost --flavour seed means the same; a part left out defaults to the device's first backend (qemu)
          and flavour robust. Engine targets (split-virtqueue, guest-memory) have plain names. See virtsim fuzz list.
        Findings: <findings>/<oracle>-<site-hash>/ holds input.bin, trace.vtrace (virtsim replay <findings>) and
          summary.txt; a campaign keeps them in <dir>/findings. Real-QEMU targets write each finding's standalone
          reproducer (run.sh, qtest script) to <findings>/qemu-reproducers/ ($VIRTSIM_QEMU_REPRODUCERS overrides it).
        External engines: afl answers a finding with SIGABRT (a hang with SIGALRM), so afl-fuzz saves a crash; under
          libfuzzer the driver aborts on a finding (a crash) and waits out libFuzzer's -timeout on a hang (a timeout);
          replay either with fuzz reproduce. Outside its engine either exits 2. docs/fuzzing.md: "Driving virtsim with
          AFL++ / libFuzzer".
        Durations: 90, 90s, 1500ms, 5m, 2h. Exit codes: 0 nothing fired, 1 a finding, 2 usage or input error
          (libfuzzer: 128 + the finding's signal).
        Old forms still work: --list, --target T --runs N, --reproduce F, --emit-test F, --afl, --libfuzzer-driver.
        """;

    private static Command WithTarget(Command command, bool campaign, params Option[] options)
    {
        command.Add(S.Target(campaign));
        command.Add(S.Backend());
        command.Add(S.Flavour());
        foreach (Option o in options)
            command.Add(o);
        return command;
    }

    private static Command Hidden(Command command)
    {
        command.Hidden = true;
        return command;
    }

    private static Argument<string> Input(string description) => new("input") { Description = description };

    /// <summary>A command validator: an option given twice is an error (also used by <c>virtsim mutants</c>).</summary>
    internal static void RejectRepeatedOptions(CommandResult command)
    {
        foreach (OptionResult o in command.Children.OfType<OptionResult>())
        {
            if (o.IdentifierTokenCount > 1)
                command.AddError($"{o.Option.Name} is given {o.IdentifierTokenCount} times; give it once");
        }
    }

    private static readonly string[] CampaignOnly = ["--jobs", "--status", "--sync-every", "--slice", "--machine"];

    private static void CheckRun(CommandResult run)
    {
        var given = run
            .Children.OfType<OptionResult>()
            .Where(o => !o.Implicit)
            .Select(o => o.Option.Name)
            .ToHashSet(StringComparer.Ordinal);
        bool campaign = given.Contains("--output");
        if (!campaign && CampaignOnly.FirstOrDefault(given.Contains) is { } lone)
            run.AddError($"{lone} applies to a campaign; add -o <campaign directory>");
        if (campaign && new[] { "--corpus", "--findings" }.FirstOrDefault(given.Contains) is { } local)
            run.AddError(
                $"{local} does not apply to a campaign: it keeps its corpus in <dir>/<worker>/queue and findings in "
                    + "<dir>/findings"
            );
        if (!given.Contains("--runs") && !given.Contains("--time"))
            run.AddError(
                campaign
                    ? "a campaign needs --time <duration> or --runs N (per worker); Ctrl-C stops it earlier"
                    : "give --runs N or --time <duration>"
            );
    }

    /// <summary>
    /// Option words that the chosen subcommand does not have: an option of another mode ("does not apply") or no
    /// option at all. Checked before System.CommandLine parses, which would otherwise take an unknown word as the
    /// value of the command's argument (<c>reproduce --runs 5 f</c> would read the input "--runs"). Words after
    /// <c>--</c> and the value after an option that takes one are not options.
    /// </summary>
    private static List<string> MisplacedOptions(Command fuzz, Command chosen, string[] words)
    {
        var errors = new List<string>();
        for (int i = 1; i < words.Length; i++)
        {
            string word = words[i];
            if (word == "--")
                break;
            if (word.Length < 2 || word[0] != '-')
                continue;
            int split = word.IndexOfAny(['=', ':']);
            string name = split > 0 && word.StartsWith("--", StringComparison.Ordinal) ? word[..split] : word;
            if (Find(chosen, name) is { } own)
            {
                if (split < 0 && own.Arity.MaximumNumberOfValues > 0)
                    i++;
                continue;
            }
            if (name is "-h" or "-?" or "--help" or "/h" or "/?")
                continue;
            string[] owners =
            [
                .. fuzz
                    .Subcommands.Where(c => c != chosen && !c.Hidden && Find(c, name) is not null)
                    .Select(c => c.Name),
            ];
            errors.Add(
                owners.Length > 0
                    ? $"{name} does not apply to 'fuzz {chosen.Name}' (it is an option of fuzz "
                        + $"{string.Join(", ", owners)})"
                    : $"unknown option '{name}' for 'fuzz {chosen.Name}'"
            );
        }
        return errors;
    }

    private static Option? Find(Command command, string name) =>
        command.Options.FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));

    private static IEnumerable<string> Path(CommandResult? result)
    {
        var names = new Stack<string>();
        for (CommandResult? r = result; r is not null && r.Command.Name != "virtsim"; r = r.Parent as CommandResult)
            names.Push(r.Command.Name);
        return names;
    }

    private static FuzzInvocation Read(ParseResult r, IReadOnlyList<string> commandLine)
    {
        Command command = r.CommandResult.Command;
        FuzzMode mode = ModeOf(command.Name);
        T? Get<T>(string name) =>
            command.Options.Any(o => o.Name == name) || command.Arguments.Any(a => a.Name == name)
                ? r.GetValue<T>(name)
                : default;
        string? target = Get<string>("--target");
        if (target is not null)
        {
            // --backend and --flavour fold into the target name (device-backend-flavour), which the registry resolves.
            if (Get<string?>("--backend") is { } backend)
                target += FuzzTargetName.Separator + backend;
            if (Get<string?>("--flavour") is { } flavour)
                target += FuzzTargetName.Separator + flavour;
        }
        var options = new FuzzOptions
        {
            Mode = mode,
            CommandLine = commandLine,
            Target = target,
            Seed = Get<ulong?>("--seed"),
            Runs = Get<long?>("--runs") ?? 0,
            Time = Get<Duration?>("--time")?.Value,
            Corpus = Get<string?>("--corpus"),
            Findings = Get<string>("--findings") ?? FuzzOptions.FindingsDefault,
            Input = mode is FuzzMode.Report or FuzzMode.Triage ? Get<string>("dir") : Get<string>("input"),
            SecondPath = mode is FuzzMode.Cmin or FuzzMode.Blocks ? Get<string>("output") : Get<string?>("findings"),
            ExpectFires = Get<bool>("--expect-fires"),
            Out = mode == FuzzMode.Report ? Get<string?>("--output") : Get<string?>("--out"),
            MaxLength = command.Options.Any(o => o.Name == "--max-len")
                ? r.GetValue<int>("--max-len")
                : FuzzOptions.MaxLengthDefault,
            StepsMax = Get<long?>("--steps-max"),
            AllocMax = Get<long?>("--alloc-max"),
            NoMinimize = Get<bool>("--no-minimize"),
            NoCoverage = Get<bool>("--no-coverage"),
            InstrumentCache = Get<string?>("--instrument-cache"),
            AflInput = Get<string?>("--afl-input"),
        };
        var campaign = new CampaignArgs();
        if (mode is FuzzMode.Run or FuzzMode.Worker)
        {
            campaign = new CampaignArgs
            {
                Output = Get<string?>("--output"),
                Jobs = Get<int?>("--jobs") ?? 0,
                Worker = mode == FuzzMode.Worker ? Get<string>("--name") : null,
                Machine = Get<string?>("--machine") ?? "",
                Main = Get<bool>("--main"),
                ParentPid = Get<int?>("--parent-pid") ?? 0,
                SyncEverySeconds = r.GetValue<Duration>("--sync-every").Value.TotalSeconds,
                Status = Get<string>("--status") ?? "auto",
                SliceSeconds =
                    mode == FuzzMode.Run
                        ? r.GetValue<Duration>("--slice").Value.TotalSeconds
                        : new CampaignArgs().SliceSeconds,
            };
        }
        return new FuzzInvocation(options, campaign);
    }

    /// <summary>The mode a subcommand name selects.</summary>
    private static FuzzMode ModeOf(string command) =>
        command switch
        {
            "list" => FuzzMode.List,
            "run" => FuzzMode.Run,
            "reproduce" => FuzzMode.Reproduce,
            "emit-test" => FuzzMode.EmitTest,
            "afl" => FuzzMode.Afl,
            "libfuzzer" => FuzzMode.LibFuzzer,
            "worker" => FuzzMode.Worker,
            "report" => FuzzMode.Report,
            "cmin" => FuzzMode.Cmin,
            BlockTraceEntry.Command => FuzzMode.Blocks,
            _ => FuzzMode.Triage,
        };
}
