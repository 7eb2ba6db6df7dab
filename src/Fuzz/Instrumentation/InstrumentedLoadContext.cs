using System.Reflection;
using System.Runtime.Loader;

namespace Virtsim.Fuzz.Instrumentation;

/// <summary>
/// A collectible load context that takes instrumented assemblies from the cache directory and the project's own
/// assemblies (<c>Sim.*</c>, <c>Virtsim.*</c>) from the application directory, so that everything which touches
/// the instrumented code binds to it; BCL and third-party assemblies come from the default context.
/// </summary>
internal sealed class InstrumentedLoadContext : AssemblyLoadContext
{
    private readonly string _instrumentedDirectory;
    private readonly string _baseDirectory;
    private readonly HashSet<string> _instrumented;

    public InstrumentedLoadContext(
        string instrumentedDirectory,
        IEnumerable<string> instrumentedNames,
        string baseDirectory
    )
        : base("virtsim-fuzz-instrumented", isCollectible: true)
    {
        _instrumentedDirectory = instrumentedDirectory;
        _baseDirectory = baseDirectory;
        _instrumented = new HashSet<string>(instrumentedNames, StringComparer.Ordinal);
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        string? name = assemblyName.Name;
        if (name is null)
            return null;
        if (_instrumented.Contains(name))
            return LoadFromAssemblyPath(Path.Combine(_instrumentedDirectory, name + ".dll"));
        if (IsProjectAssembly(name))
        {
            string path = Path.Combine(_baseDirectory, name + ".dll");
            if (File.Exists(path))
                return LoadFromAssemblyPath(path);
        }
        return null;
    }

    /// <summary>The project's assemblies, which must be loaded again beside instrumented code.</summary>
    public static bool IsProjectAssembly(string name) =>
        name.StartsWith("Sim.", StringComparison.Ordinal) || name.StartsWith("Virtsim.", StringComparison.Ordinal);
}
