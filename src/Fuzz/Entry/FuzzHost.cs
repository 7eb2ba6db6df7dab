using System.Reflection;
using System.Runtime.ExceptionServices;
using Fuzz.Instrumentation;
using Fuzz.Targets;

namespace Fuzz.Entry;

/// <summary>
/// What <c>virtsim fuzz</c> calls: for a campaign or a reproduction with coverage, instruments the target's
/// backend assemblies (cached), loads them with Virtsim.Fuzz and the other project assemblies into an
/// <see cref="InstrumentedLoadContext"/>, and runs <see cref="FuzzEntry.Run"/> there by reflection (only
/// <c>string[]</c> and <see cref="TextWriter"/> cross). Everything else (list, emit-test, --no-coverage) runs
/// in-process. Run the host with tiered compilation off (<c>TieredCompilation=false</c>) for stable finding
/// sites and full speed from the first execution.
/// </summary>
public static class FuzzHost
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        // A campaign worker (--worker, started by the supervisor) runs Campaign.WorkerEntry instead of FuzzEntry.
        // cmin and triage (Campaign.CorpusToolsEntry) and blocks (Campaign.BlockTraceEntry, for fuzz report) run
        // there too; only their --target decides the instrumenting.
        bool blocks = args.Length > 0 && args[0] == Campaign.BlockTraceEntry.Command;
        bool tool = blocks || (args.Length > 0 && args[0] is "cmin" or "triage");
        Campaign.CampaignArgs? campaign = null;
        if (!tool && Campaign.CampaignArgs.TryParse(args, out Campaign.CampaignArgs parsed, out _) && parsed.Worker is not null) campaign = parsed;
        bool worker = campaign is not null;
        Func<string[], TextWriter, TextWriter, int> direct = blocks ? Campaign.BlockTraceEntry.Run : tool ? Campaign.CorpusToolsEntry.Run : worker ? Campaign.WorkerEntry.Run : FuzzEntry.Run;
        Type entryType = blocks ? typeof(Campaign.BlockTraceEntry) : tool ? typeof(Campaign.CorpusToolsEntry) : worker ? typeof(Campaign.WorkerEntry) : typeof(FuzzEntry);
        string[] fuzzArgs = tool ? ToolTargetArgs(args) : worker ? [.. campaign!.Rest] : args;
        if (!FuzzOptions.TryParse(fuzzArgs, out FuzzOptions options, out _)
            || options.Help || options.List || options.EmitTest is not null || options.NoCoverage || options.Target is null)
        {
            return direct(args, output, error);
        }
        IFuzzTarget? target = FuzzTargets.Create(options.Target);
        if (target is null || target.InstrumentedAssemblies.Count == 0) return direct(args, output, error);
        // Refuse unwritable paths before the (slow) instrumentation, as FuzzEntry does before a campaign.
        if (FuzzEntry.CheckWritePaths(options) is { } pathError)
        {
            error.WriteLine("virtsim: " + pathError);
            return 2;
        }

        string baseDirectory = Path.GetDirectoryName(typeof(FuzzHost).Assembly.Location) ?? "";
        var paths = target.InstrumentedAssemblies.Select(n => Path.Combine(baseDirectory, n + ".dll")).ToArray();
        string? missing = baseDirectory.Length == 0 ? "the application directory is unknown (single-file publish?)" : paths.FirstOrDefault(p => !File.Exists(p));
        if (missing is not null)
        {
            error.WriteLine($"warning: cannot instrument ({missing} not found); running without coverage");
            return direct(args, output, error);
        }
        string cacheRoot = options.InstrumentCache ?? Path.Combine(Path.GetTempPath(), "virtsim-instrumented");
        string directory = InstrumentedAssemblyCache.Prepare(cacheRoot, paths, error);
        var context = new InstrumentedLoadContext(directory, target.InstrumentedAssemblies, baseDirectory);
        try
        {
            Assembly fuzz = context.LoadFromAssemblyName(typeof(FuzzHost).Assembly.GetName());
            MethodInfo entry = fuzz.GetType(entryType.FullName!, throwOnError: true)!
                .GetMethod(nameof(FuzzEntry.Run), [typeof(string[]), typeof(TextWriter), typeof(TextWriter)])!;
            try
            {
                return (int)entry.Invoke(null, [args, output, error])!;
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
        finally
        {
            context.Unload();
        }
    }

    /// <summary>The <c>--target</c> and <c>--no-coverage</c> of a cmin/triage command line, as FuzzOptions reads them.</summary>
    private static string[] ToolTargetArgs(string[] args)
    {
        var kept = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--target" && i + 1 < args.Length) kept.AddRange([args[i], args[++i]]);
            else if (args[i].StartsWith("--target=", StringComparison.Ordinal) || args[i] == "--no-coverage") kept.Add(args[i]);
        }
        return [.. kept];
    }
}
