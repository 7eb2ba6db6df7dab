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
        if (!FuzzOptions.TryParse(args, out FuzzOptions options, out _)
            || options.Help || options.List || options.EmitTest is not null || options.NoCoverage || options.Target is null)
        {
            return FuzzEntry.Run(args, output, error);
        }
        IFuzzTarget? target = FuzzTargets.Create(options.Target);
        if (target is null || target.InstrumentedAssemblies.Count == 0) return FuzzEntry.Run(args, output, error);
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
            return FuzzEntry.Run(args, output, error);
        }
        string cacheRoot = options.InstrumentCache ?? Path.Combine(Path.GetTempPath(), "virtsim-instrumented");
        string directory = InstrumentedAssemblyCache.Prepare(cacheRoot, paths, error);
        var context = new InstrumentedLoadContext(directory, target.InstrumentedAssemblies, baseDirectory);
        try
        {
            Assembly fuzz = context.LoadFromAssemblyName(typeof(FuzzHost).Assembly.GetName());
            MethodInfo entry = fuzz.GetType(typeof(FuzzEntry).FullName!, throwOnError: true)!
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
}
