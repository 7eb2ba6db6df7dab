using System.Diagnostics;
using Fuzz.Coverage;
using Fuzz.Engine;
using Fuzz.Targets;

namespace Fuzz.Entry;

/// <summary>
/// <c>virtsim fuzz</c> inside whatever load context it runs in: list targets, run a campaign, reproduce one input
/// or emit a regression test. Only BCL types in its signature, so <see cref="FuzzHost"/> can call it by reflection
/// inside the instrumented load context. Exit codes: 0 nothing fired, 1 a finding, 2 usage or input error.
/// </summary>
public static class FuzzEntry
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (!FuzzOptions.TryParse(args, out FuzzOptions options, out string? parseError))
        {
            error.WriteLine("error: " + parseError);
            error.WriteLine(FuzzOptions.Usage);
            return 2;
        }
        if (options.Help)
        {
            output.WriteLine(FuzzOptions.Usage);
            return 0;
        }
        if (options.List)
        {
            foreach (string line in FuzzTargets.ListLines()) output.WriteLine(line);
            return 0;
        }
        if (options.Target is null)
        {
            error.WriteLine("error: --target is required (see --list)");
            return 2;
        }
        IFuzzTarget? target = FuzzTargets.Create(options.Target);
        if (target is null)
        {
            error.WriteLine($"error: no fuzz target named '{options.Target}'; known: {string.Join(", ", FuzzTargets.All.Select(t => t.Name))}");
            return 2;
        }
        var limits = new ExecutionLimits(options.StepsMax ?? FuzzContext.DefaultStepsMax, options.AllocMax ?? ExecutionLimits.DefaultAllocatedBytesMax);
        if (options.Reproduce is { } reproduce) return Reproduce(target, reproduce, limits, output, error);
        if (options.EmitTest is { } emit) return EmitTest(target, emit, options, limits, output, error);
        if (options.Afl) return Glue.GlueEntry.RunAfl(target, limits, options.NoCoverage, options.AflInput, error);
        if (options.LibFuzzerDriver) return Glue.GlueEntry.RunLibFuzzer(target, limits, options.NoCoverage, error);
        return Campaign(target, options, limits, output, error);
    }

    private static int Reproduce(IFuzzTarget target, string path, ExecutionLimits limits, TextWriter output, TextWriter error)
    {
        if (!TryReadInput(path, error, out byte[] input)) return 2;
        output.WriteLine($"reproduce: target={target.Name} input={path} ({input.Length} bytes)");
        FuzzReplayResult result = FuzzReplay.Run(target, input, limits, output);
        output.WriteLine(result.Describe());
        return result.Fired ? 1 : 0;
    }

    private static int EmitTest(IFuzzTarget target, string path, FuzzOptions options, ExecutionLimits limits, TextWriter output, TextWriter error)
    {
        if (!TryReadInput(path, error, out byte[] input)) return 2;
        FuzzReplayResult result = FuzzReplay.Run(target, input, limits);
        if (options.ExpectFires && !result.Fired)
        {
            error.WriteLine($"error: --expect-fires, but no oracle fires on {path}");
            return 2;
        }
        if (!result.Fired) error.WriteLine($"note: no oracle fires on {path} now; the test asserts it stays that way");
        string source = RegressionTestEmitter.Emit(target.Name, target.InputVersion, result.Finding, input, options.ExpectFires);
        if (options.Out is { } outPath)
        {
            if (File.Exists(outPath))
            {
                error.WriteLine($"error: {outPath} exists; not overwriting it");
                return 2;
            }
            if (!AtomicFile.TryCreate(outPath, System.Text.Encoding.UTF8.GetBytes(source)))
            {
                error.WriteLine($"error: {outPath} exists; not overwriting it");
                return 2;
            }
            output.WriteLine($"wrote {outPath} ({RegressionTestEmitter.ClassName(target.Name, result.Finding, input)})");
        }
        else
        {
            output.Write(source);
        }
        return 0;
    }

    private static int Campaign(IFuzzTarget target, FuzzOptions options, ExecutionLimits limits, TextWriter output, TextWriter error)
    {
        if (options.Runs <= 0 && options.Time is null)
        {
            error.WriteLine("error: give --runs N or --time <duration>");
            return 2;
        }
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
        output.WriteLine($"fuzz: target={target.Name} seed={seed} runs={(options.Runs > 0 ? options.Runs.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unlimited")} time={(options.Time is { } t ? t.ToString() : "unlimited")}");
        output.WriteLine($"coverage: {coverage.Description}");
        output.WriteLine($"repeat: virtsim fuzz --target {target.Name} --seed {seed}{(options.Runs > 0 ? $" --runs {options.Runs}" : "")}");
        var campaign = new FuzzCampaign(target, campaignOptions, coverage) { Log = output };
        Func<bool>? shouldStop = null;
        if (options.Time is { } time)
        {
            long deadline = Stopwatch.GetTimestamp() + (long)(time.TotalSeconds * Stopwatch.Frequency);
            shouldStop = () => Stopwatch.GetTimestamp() >= deadline;
        }
        CampaignResult result = campaign.Run(shouldStop, status => output.WriteLine(status.ToStatusLine()));
        foreach (string line in result.SummaryLines()) output.WriteLine(line);
        return result.Findings.Count > 0 ? 1 : 0;
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
            error.WriteLine($"error: cannot read {file}: {e.Message}");
            input = [];
            return false;
        }
    }

    private static ulong Prng64(long entropy)
    {
        ulong x = unchecked((ulong)entropy);
        return Sim.Engine.Random.Prng.SplitMix64(ref x) >> 1;
    }
}
