using System.Reflection;
using System.Runtime.Loader;
using Fuzz.Targets;

namespace Fuzz.Coverage;

/// <summary>Coverage from <see cref="CoverageMap"/>, written by assemblies the
/// <see cref="Instrumentation.EdgeInstrumenter"/> rewrote.</summary>
public sealed class EdgeCoverage : ICoverage
{
    public EdgeCoverage(string description) => Description = description;

    public bool IsAvailable => true;

    public string Description { get; }

    public void Begin() => CoverageMap.Reset();

    public ReadOnlySpan<byte> Map => CoverageMap.Edges;

    /// <summary>Edge coverage when the target's assemblies, as loaded beside this copy of Virtsim.Fuzz, carry the
    /// instrumenter's mark; otherwise <see cref="NullCoverage"/> saying why. Loads those assemblies.</summary>
    public static ICoverage Detect(IFuzzTarget target)
    {
        if (target.InstrumentedAssemblies.Count == 0) return new NullCoverage($"target '{target.Name}' names no assemblies to instrument");
        AssemblyLoadContext context = AssemblyLoadContext.GetLoadContext(typeof(CoverageMap).Assembly) ?? AssemblyLoadContext.Default;
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
            EdgeInstrumentedAttribute? mark = assembly.GetCustomAttribute<EdgeInstrumentedAttribute>();
            if (mark is null) return new NullCoverage($"{name} is not instrumented (run through the instrumenting host: virtsim fuzz)");
            parts.Add($"{name} ({mark.Blocks} blocks)");
        }
        return new EdgeCoverage($"edges, {CoverageMap.Size / 1024} KiB map: " + string.Join(", ", parts));
    }
}
