namespace Virtsim.Fuzz.Entry;

/// <summary>
/// What a <c>virtsim fuzz</c> command line asked for, as <see cref="FuzzCommandLine"/> parsed it: the mode
/// (subcommand) and its options. Plain data of BCL types, so <see cref="LoadContextTransfer"/> can carry it into the
/// instrumented load context without parsing the command line a second time.
/// </summary>
public sealed record FuzzOptions
{
    /// <summary>Longest <c>--time</c>: a year and a day. Far longer values overflowed the deadline and ran
    /// nothing.</summary>
    public static readonly TimeSpan TimeMax = TimeSpan.FromDays(366);

    /// <summary>Default <c>--max-len</c>.</summary>
    public const int MaxLengthDefault = 4096;

    /// <summary>Largest <c>--max-len</c>.</summary>
    public const int MaxLengthMax = 1 << 20;

    internal const string FindingsDefault = "findings";

    /// <summary>The subcommand (<c>run</c>, <c>reproduce</c>, <c>cmin</c>, ...).</summary>
    public FuzzMode Mode { get; init; } = FuzzMode.Run;

    /// <summary>The arguments after <c>fuzz</c> as given (before old flag forms were rewritten).</summary>
    public IReadOnlyList<string> CommandLine { get; init; } = [];

    /// <summary>The target, with <c>--backend</c>/<c>--flavour</c> folded in (device-backend-flavour).</summary>
    public string? Target { get; init; }

    /// <summary>Root seed; null means "pick one and print it".</summary>
    public ulong? Seed { get; init; }

    /// <summary>Executions to run; 0 for no limit (then <see cref="Time"/> bounds the run).</summary>
    public long Runs { get; init; }

    /// <summary><c>--time</c>: how long to run, at most <see cref="TimeMax"/>; null for no limit (then
    /// <see cref="Runs"/> bounds the run).</summary>
    public TimeSpan? Time { get; init; }

    /// <summary><c>--corpus</c>: the directory the corpus is loaded from and new inputs are saved to; null keeps the
    /// corpus in memory.</summary>
    public string? Corpus { get; init; }

    /// <summary><c>--findings</c>: the directory findings are saved to, one <c>&lt;oracle&gt;-&lt;site&gt;/</c> each
    /// (input, trace, summary); <c>findings</c> by default.</summary>
    public string Findings { get; init; } = FindingsDefault;

    /// <summary>The input of reproduce and emit-test; the directory of report, cmin and triage.</summary>
    public string? Input { get; init; }

    /// <summary>The second path of cmin (its output directory) and triage (its findings directory).</summary>
    public string? SecondPath { get; init; }

    /// <summary>emit-test's <c>--expect-fires</c>: refuse an input on which no oracle fires, and emit a test asserting
    /// that it still fires (otherwise the test asserts that nothing does).</summary>
    public bool ExpectFires { get; init; }

    /// <summary>emit-test's <c>--out</c> file, report's <c>--output</c> file.</summary>
    public string? Out { get; init; }

    /// <summary><c>--max-len</c>: the longest input the engine generates, in bytes (1 to <see cref="MaxLengthMax"/>);
    /// longer corpus inputs are cut.</summary>
    public int MaxLength { get; init; } = MaxLengthDefault;

    /// <summary><c>--steps-max</c>: simulation steps one execution may take before it is a hang; null for the default
    /// (<see cref="Targets.FuzzContext.DefaultStepsMax"/>).</summary>
    public long? StepsMax { get; init; }

    /// <summary><c>--alloc-max</c>: bytes one execution may allocate before it is an unbounded allocation; null for the
    /// default (<see cref="Engine.ExecutionLimits.DefaultAllocatedBytesMax"/>).</summary>
    public long? AllocMax { get; init; }

    /// <summary><c>--no-minimize</c>: save findings as found, without minimising them.</summary>
    public bool NoMinimize { get; init; }

    /// <summary><c>--no-coverage</c>: run in-process without instrumentation (blind mutation, no edge
    /// feedback).</summary>
    public bool NoCoverage { get; init; }

    /// <summary><c>--instrument-cache</c>: where instrumented assemblies are cached; null for
    /// <c>$TMPDIR/virtsim-instrumented</c>.</summary>
    public string? InstrumentCache { get; init; }

    /// <summary>With <see cref="FuzzMode.Afl"/>: the file afl-fuzz names with <c>@@</c>; null reads stdin.</summary>
    public string? AflInput { get; init; }

    /// <summary>True for the modes that run a target and so may run instrumented (<see cref="FuzzHost"/>).</summary>
    public bool RunsTarget => Mode is not (FuzzMode.List or FuzzMode.Report);

    /// <summary>Parses a <c>virtsim fuzz</c> command line (the words after <c>fuzz</c>, old flag forms included)
    /// without running it; <paramref name="error"/> holds every problem, joined by "; ". Help requests are errors
    /// here.</summary>
    public static bool TryParse(IReadOnlyList<string> args, out FuzzOptions options, out string? error)
    {
        ArgumentNullException.ThrowIfNull(args);
        string[] words = args.Count > 0 && args[0] == FuzzCommandLine.Name ? [.. args.Skip(1)] : [.. args];
        FuzzParse parse = FuzzCommandLine.Parse(words);
        options = parse.Invocation?.Options ?? new FuzzOptions();
        error = parse.Invocation is null
            ? (parse.Errors.Count > 0 ? string.Join("; ", parse.Errors) : "help requested")
            : null;
        return parse.Invocation is not null;
    }

    /// <summary>Parses 90, 90s, 1500ms, 5m, 2h (positive).</summary>
    public static bool TryParseDuration(string? text, out TimeSpan duration)
    {
        bool ok = Duration.TryParse(text, out Duration d);
        duration = d.Value;
        return ok;
    }

    /// <summary>The engine options of a run as <c>fuzz run</c>/<c>fuzz worker</c> arguments (what a campaign
    /// passes on to each worker): limits, input bound, minimisation, coverage; <c>--time</c> when asked.</summary>
    public IEnumerable<string> EngineArguments(bool withTime)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (Runs > 0)
        {
            yield return "--runs";
            yield return Runs.ToString(inv);
        }
        if (withTime && Time is { } t)
        {
            yield return "--time";
            yield return new Duration(t).ToString();
        }
        if (MaxLength != MaxLengthDefault)
        {
            yield return "--max-len";
            yield return MaxLength.ToString(inv);
        }
        if (StepsMax is { } steps)
        {
            yield return "--steps-max";
            yield return steps.ToString(inv);
        }
        if (AllocMax is { } alloc)
        {
            yield return "--alloc-max";
            yield return alloc.ToString(inv);
        }
        if (NoMinimize)
            yield return "--no-minimize";
        if (NoCoverage)
            yield return "--no-coverage";
        if (InstrumentCache is { } cache)
        {
            yield return "--instrument-cache";
            yield return cache;
        }
    }
}
