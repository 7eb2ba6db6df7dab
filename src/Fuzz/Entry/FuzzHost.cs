using System.Reflection;
using System.Runtime.ExceptionServices;
using Virtsim.Fuzz.Instrumentation;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Entry;

/// <summary>
/// What <c>virtsim fuzz</c> calls once the command line is parsed: for a mode that runs a target with coverage
/// (run, reproduce, afl, libfuzzer, worker, cmin, triage), instruments the target's backend assemblies (cached),
/// loads them with Virtsim.Fuzz and the other project assemblies into an <see cref="InstrumentedLoadContext"/>, and
/// runs <see cref="FuzzEntry.RunTransferred"/> there by reflection with the parsed invocation
/// (<see cref="LoadContextTransfer"/>; only BCL types cross). Everything else (list, emit-test, --no-coverage) runs
/// in-process. Run the host with tiered compilation off (<c>TieredCompilation=false</c>) for stable finding
/// sites and full speed from the first execution.
/// </summary>
public static class FuzzHost
{
    /// <summary>Parses the words after <c>fuzz</c> and runs them (tests; the CLI goes through
    /// Virtsim.Fuzz.Campaign).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        FuzzParse parse = FuzzCommandLine.Parse(args);
        return parse.Handle(output, error) ?? Run(parse.Invocation!, output, error);
    }

    /// <summary>Runs a parsed invocation: in the instrumented load context when its mode runs a target with coverage
    /// and the target names assemblies to instrument, in-process otherwise (and, with a warning, when those assemblies
    /// are not on disk beside this one).</summary>
    /// <returns>The mode's exit code (0 ok, 1 a finding, 2 a usage or path error; see <see
    /// cref="FuzzEntry"/>).</returns>
    public static int Run(FuzzInvocation invocation, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        FuzzOptions options = invocation.Options;
        if (!options.RunsTarget || options.Mode == FuzzMode.EmitTest || options.NoCoverage || invocation.IsSupervisor)
            return FuzzEntry.Run(invocation, output, error);
        IFuzzTarget? target = FuzzTargets.Create(options.Target ?? "");
        if (target is null || target.InstrumentedAssemblies.Count == 0)
            return FuzzEntry.Run(invocation, output, error);
        // Refuse unwritable paths before the (slow) instrumentation, as FuzzEntry does before a campaign.
        if (FuzzEntry.CheckWritePaths(options) is { } pathError)
        {
            error.WriteLine("virtsim: " + pathError);
            return 2;
        }

        string baseDirectory = Path.GetDirectoryName(typeof(FuzzHost).Assembly.Location) ?? "";
        var paths = target.InstrumentedAssemblies.Select(n => Path.Combine(baseDirectory, n + ".dll")).ToArray();
        string? missing =
            baseDirectory.Length == 0
                ? "the application directory is unknown (single-file publish?)"
                : paths.FirstOrDefault(p => !File.Exists(p));
        if (missing is not null)
        {
            error.WriteLine($"warning: cannot instrument ({missing} not found); running without coverage");
            return FuzzEntry.Run(invocation, output, error);
        }
        string cacheRoot = options.InstrumentCache ?? Path.Combine(Path.GetTempPath(), "virtsim-instrumented");
        string directory = InstrumentedAssemblyCache.Prepare(cacheRoot, paths, error);
        var context = new InstrumentedLoadContext(directory, target.InstrumentedAssemblies, baseDirectory);
        try
        {
            Assembly fuzz = context.LoadFromAssemblyName(typeof(FuzzHost).Assembly.GetName());
            MethodInfo entry = fuzz.GetType(typeof(FuzzEntry).FullName!, throwOnError: true)!
                .GetMethod(
                    nameof(FuzzEntry.RunTransferred),
                    [typeof(IReadOnlyDictionary<string, object?>), typeof(TextWriter), typeof(TextWriter)]
                )!;
            try
            {
                return (int)entry.Invoke(null, [LoadContextTransfer.Export(invocation), output, error])!;
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
}
