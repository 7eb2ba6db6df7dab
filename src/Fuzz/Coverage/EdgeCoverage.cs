using System.Reflection;
using System.Runtime.Loader;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Coverage;

/// <summary>Coverage from <see cref="CoverageMap"/>, written by assemblies SharpFuzz instrumented
/// (<see cref="Instrumentation.SharpFuzzInstrumenter"/>).</summary>
internal sealed class EdgeCoverage : ICoverage
{
    public EdgeCoverage(string description) => Description = description;

    public bool IsAvailable => true;

    public string Description { get; }

    public void Begin() => CoverageMap.Reset();

    public ReadOnlySpan<byte> Map => CoverageMap.Edges;

    /// <summary>Edge coverage when the target's assemblies, as loaded beside this copy of Virtsim.Fuzz, reference
    /// SharpFuzz.Common (which only its instrumentation adds; SharpFuzz itself refuses an assembly that already does);
    /// otherwise <see cref="NullCoverage"/> saying why. Loads those assemblies.</summary>
    public static ICoverage Detect(IFuzzTarget target)
    {
        if (target.InstrumentedAssemblies.Count == 0)
            return new NullCoverage($"target '{target.Name}' names no assemblies to instrument");
        AssemblyLoadContext context = AssemblyLoadContext.GetLoadContext(typeof(CoverageMap).Assembly)
            ?? AssemblyLoadContext.Default;
        var parts = new List<string>();
        foreach (string name in target.InstrumentedAssemblies)
        {
            Assembly assembly;
            try
            {
                assembly = context.LoadFromAssemblyName(new AssemblyName(name));
            }
            catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
            {
                return new NullCoverage($"assembly {name} cannot be loaded: {e.Message}");
            }
            if (!IsInstrumented(assembly))
                return new NullCoverage(
                    $"{name} is not instrumented (run through the instrumenting host: virtsim fuzz)"
                );
            string blocks = assembly.Location + Instrumentation.BlockMap.FileSuffix;
            parts.Add(File.Exists(blocks) ? $"{name} ({File.ReadLines(blocks).Count()} blocks)" : name);
        }
        return new EdgeCoverage($"edges (SharpFuzz), {CoverageMap.Size / 1024} KiB map: " + string.Join(", ", parts));
    }

    /// <summary>True when SharpFuzz instrumented <paramref name="assembly"/>.</summary>
    public static bool IsInstrumented(Assembly assembly) =>
        assembly.GetReferencedAssemblies().Any(r => r.Name == typeof(SharpFuzz.Common.Trace).Assembly.GetName().Name);
}
