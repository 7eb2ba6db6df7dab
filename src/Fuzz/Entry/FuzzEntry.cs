using System.Diagnostics;
using System.Runtime.InteropServices;
using Sim.Engine;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Entry;

/// <summary>
/// <c>virtsim fuzz</c> inside whatever load context it runs in: list targets, run a campaign, reproduce one input,
/// emit a regression test, serve an external engine, run a campaign worker, cmin or triage.
/// <see cref="FuzzHost"/> calls <see cref="RunTransferred"/> by reflection inside the instrumented load context
/// (only BCL types cross). Exit codes: 0 nothing fired, 1 a finding, 2 usage or input error.
/// </summary>
internal static class FuzzEntry
{
    /// <summary>Parses the words after <c>fuzz</c> and runs them in this load context (no instrumentation).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        FuzzParse parse = FuzzCommandLine.Parse(args);
        return parse.Handle(output, error) ?? Run(parse.Invocation!, output, error);
    }

    /// <summary>The entry <see cref="FuzzHost"/> invokes inside the instrumented load context.</summary>
    public static int RunTransferred(
        IReadOnlyDictionary<string, object?> invocation,
        TextWriter output,
        TextWriter error
    ) => Run(LoadContextTransfer.Import(invocation), output, error);

    public static int Run(FuzzInvocation invocation, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        FuzzOptions options = invocation.Options;
        switch (options.Mode)
        {
            case FuzzMode.List:
                foreach (string line in FuzzTargets.ListLines())
                    output.WriteLine(line);
                return 0;
            case FuzzMode.Worker:
                return Virtsim.Fuzz.Workers.WorkerEntry.Run(invocation, output, error);
            case FuzzMode.Cmin or FuzzMode.Triage:
                return Virtsim.Fuzz.Workers.CorpusToolsEntry.Run(invocation, output, error);
            case FuzzMode.Blocks:
                return Virtsim.Fuzz.Workers.BlockTraceEntry.Run(invocation, output, error);
            case FuzzMode.Report:
                error.WriteLine("virtsim: fuzz report runs in the virtsim command (Virtsim.Fuzz.Campaign)");
                return 2;
            case FuzzMode.Run when invocation.IsSupervisor:
                error.WriteLine(
                    "virtsim: a campaign (fuzz run -o) runs in the virtsim command (Virtsim.Fuzz.Campaign)"
                );
                return 2;
        }
        IFuzzTarget? target = FuzzTargets.Create(options.Target ?? "");
        if (target is null)
        {
            error.WriteLine(
                $"virtsim: no fuzz target named '{options.Target}'; known: "
                    + $"{string.Join(", ", FuzzTargets.All.Select(t => t.Name))}"
            );
            return 2;
        }
        if (CheckWritePaths(options) is { } pathError)
        {
            error.WriteLine("virtsim: " + pathError);
            return 2;
        }
        ExecutionLimits limits = Limits(options);
        return options.Mode switch
        {
            FuzzMode.Reproduce => Reproduce(target, options.Input!, limits, output, error),
            FuzzMode.EmitTest => EmitTest(target, options.Input!, options, limits, output, error),
            FuzzMode.Afl => Glue.GlueEntry.RunAfl(target, limits, options.NoCoverage, options.AflInput, error),
            FuzzMode.LibFuzzer => Glue.GlueEntry.RunLibFuzzer(target, limits, options.NoCoverage, error),
            _ => Campaign(target, options, limits, output, error),
        };
    }

    /// <summary>The per-execution limits <c>--steps-max</c> and <c>--alloc-max</c> ask for.</summary>
    public static ExecutionLimits Limits(FuzzOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ExecutionLimits(
            options.StepsMax ?? FuzzContext.DefaultStepsMax,
            options.AllocMax ?? ExecutionLimits.DefaultAllocatedBytesMax
        );
    }

    private static int Reproduce(
        IFuzzTarget target,
        string path,
        ExecutionLimits limits,
        TextWriter output,
        TextWriter error
    )
    {
        if (!TryReadInput(path, error, out byte[] input))
            return 2;
        output.WriteLine($"reproduce: target={target.Name} input={path} ({input.Length} bytes)");
        FuzzReplayResult result = FuzzReplay.Run(target, input, limits, output);
        output.WriteLine(result.Describe());
        return result.Fired ? 1 : 0;
    }

    private static int EmitTest(
        IFuzzTarget target,
        string path,
        FuzzOptions options,
        ExecutionLimits limits,
        TextWriter output,
        TextWriter error
    )
    {
        if (!TryReadInput(path, error, out byte[] input))
            return 2;
        FuzzReplayResult result = FuzzReplay.Run(target, input, limits);
        if (options.ExpectFires && !result.Fired)
        {
            error.WriteLine($"virtsim: --expect-fires, but no oracle fires on {path}");
            return 2;
        }
        if (!result.Fired)
            error.WriteLine($"note: no oracle fires on {path} now; the test asserts it stays that way");
        string source = RegressionTestEmitter.Emit(
            target.Name,
            target.InputVersion,
            result.Finding,
            input,
            options.ExpectFires
        );
        if (options.Out is { } outPath)
        {
            if (File.Exists(outPath))
            {
                error.WriteLine($"virtsim: {outPath} exists; not overwriting it");
                return 2;
            }
            bool created;
            try
            {
                created = AtomicFile.TryCreate(outPath, System.Text.Encoding.UTF8.GetBytes(source));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"virtsim: cannot write --out '{outPath}': {e.Message}");
                return 2;
            }
            if (!created)
            {
                error.WriteLine($"virtsim: {outPath} exists; not overwriting it");
                return 2;
            }
            output.WriteLine(
                $"wrote {outPath} ({RegressionTestEmitter.ClassName(target.Name, result.Finding, input)})"
            );
        }
        else
        {
            output.Write(source);
        }
        return 0;
    }

    private static int Campaign(
        IFuzzTarget target,
        FuzzOptions options,
        ExecutionLimits limits,
        TextWriter output,
        TextWriter error
    )
    {
        ulong seed = options.Seed ?? Prng64(Stopwatch.GetTimestamp() ^ Environment.ProcessId);
        ICoverage coverage = options.NoCoverage ? new NullCoverage("--no-coverage") : EdgeCoverage.Detect(target);
        var campaignOptions = new CampaignOptions
        {
            Seed = seed,
            RunsMax = options.Runs,
            InputLengthMax = options.MaxLength,
            CorpusDirectory = options.Corpus,
            FindingsDirectory = options.Findings,
            Limits = limits,
            Minimize = !options.NoMinimize,
        };
        // The seed comes first, so any run can be repeated (STYLE.md item 10).
        string runs =
            options.Runs > 0 ? options.Runs.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unlimited";
        output.WriteLine(
            $"fuzz: target={target.Name} seed={seed} runs={runs} "
                + $"time={(options.Time is { } t ? t.ToString() : "unlimited")}"
        );
        output.WriteLine($"coverage: {coverage.Description}");
        output.WriteLine(
            $"repeat: virtsim fuzz run --target {target.Name} --seed {seed}"
                + (options.Runs > 0 ? $" --runs {options.Runs}" : "")
                + (options.Time is { } d ? $" --time {new Duration(d)}" : "")
        );
        var campaign = new FuzzCampaign(target, campaignOptions, coverage) { Log = output };
        // Ctrl-C and SIGTERM end the campaign after the current execution, so the final statistics are printed and
        // every finding is saved; a second signal is not cancelled and ends the process at once.
        // The message is written before the stop flag is raised: the main thread may return from Main as soon as it
        // sees the flag, and a handler thread still writing then loses its line (a flaky CI run showed it).
        int claimed = 0,
            signalled = 0;
        void OnSignal(PosixSignalContext context)
        {
            if (Interlocked.Exchange(ref claimed, 1) != 0)
                return;
            context.Cancel = true;
            error.WriteLine(
                $"virtsim: {context.Signal} received; stopping after the current execution (again to stop at once)"
            );
            error.Flush();
            Volatile.Write(ref signalled, 1);
        }
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        Func<bool> shouldStop = () => Volatile.Read(ref signalled) != 0;
        if (options.Time is { } time)
        {
            // The parser bounds --time (FuzzOptions.TimeMax), so the deadline fits a long; saturate anyway.
            double ticks = time.TotalSeconds * Stopwatch.Frequency;
            long now = Stopwatch.GetTimestamp();
            long deadline = ticks >= long.MaxValue - (double)now ? long.MaxValue : now + (long)ticks;
            shouldStop = () => Volatile.Read(ref signalled) != 0 || Stopwatch.GetTimestamp() >= deadline;
        }
        CampaignResult result = campaign.Run(shouldStop, status => output.WriteLine(status.ToStatusLine()));
        if (signalled != 0)
            output.WriteLine("stopped by signal");
        foreach (string line in result.SummaryLines())
            output.WriteLine(line);
        return result.Findings.Count > 0 ? 1 : 0;
    }

    /// <summary>Checks, before anything runs, every directory the chosen mode writes: a run's corpus and findings,
    /// the instrumentation cache, the directory of an <c>emit-test --out</c> file. Null when all can be written;
    /// otherwise the first problem.</summary>
    public static string? CheckWritePaths(FuzzOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.RunsTarget)
            return null;
        if (
            options.InstrumentCache is { } cache
            && !options.NoCoverage
            && WritableDirectory.Check(cache, "--instrument-cache") is { } c
        )
            return c;
        if (options.Mode == FuzzMode.EmitTest)
        {
            if (options.Out is not { } outPath)
                return null;
            if (Directory.Exists(outPath))
                return $"--out '{outPath}' is a directory; name the .cs file to write";
            string? dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
            if (dir is not null && !Directory.Exists(dir))
                return $"--out '{outPath}': directory '{dir}' does not exist";
            return dir is null ? null : WritableDirectory.Check(dir, "--out");
        }
        if (options.Mode != FuzzMode.Run)
            return null;
        if (options.Corpus is { } corpus && WritableDirectory.Check(corpus, "--corpus") is { } e)
            return e;
        return WritableDirectory.Check(options.Findings, "--findings");
    }

    private static bool TryReadInput(string path, TextWriter error, out byte[] input)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, FindingWriter.InputFileName) : path;
        try
        {
            input = File.ReadAllBytes(file);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"virtsim: cannot read {file}: {e.Message}");
            input = [];
            return false;
        }
    }

    private static ulong Prng64(long entropy)
    {
        ulong x = Narrow.AsUInt64Bits(entropy);
        return Sim.Engine.Random.Prng.SplitMix64(ref x) >> 1;
    }
}
