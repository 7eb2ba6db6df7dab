using Fuzz.Engine;
using Sim.Engine.Memory;

namespace Fuzz.Instrumentation;

/// <summary>
/// Instrumented copies of assemblies, cached under <c>&lt;root&gt;/&lt;key&gt;/</c> where the key hashes the
/// instrumenter version, Virtsim.Fuzz and every input assembly's bytes — so the rewrite runs again only when one
/// of them changes. A cache directory is built under a temporary name and renamed into place, so it is either
/// complete or absent; concurrent builders race harmlessly.
/// </summary>
public static class InstrumentedAssemblyCache
{
    /// <summary>Returns the directory holding <c>&lt;name&gt;.dll</c> instrumented for each of
    /// <paramref name="assemblyPaths"/>, building it if needed.</summary>
    public static string Prepare(string cacheRoot, IReadOnlyList<string> assemblyPaths, TextWriter? log)
    {
        string[] sorted = assemblyPaths.Select(Path.GetFullPath).OrderBy(p => Path.GetFileName(p), StringComparer.Ordinal).ToArray();
        var hash = new StableHash64();
        hash.AddUInt64(EdgeInstrumenter.Version);
        hash.Add(File.ReadAllBytes(typeof(InstrumentedAssemblyCache).Assembly.Location));
        foreach (string path in sorted)
        {
            hash.Add(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path)));
            hash.Add(File.ReadAllBytes(path));
        }
        string directory = Path.Combine(cacheRoot, hash.Finish().ToString("x16"));
        if (Directory.Exists(directory)) return directory;
        Directory.CreateDirectory(cacheRoot);
        bool built = AtomicFile.TryCreateDirectory(directory, temp =>
        {
            foreach (string path in sorted)
            {
                using var stream = new FileStream(Path.Combine(temp, Path.GetFileName(path)), FileMode.CreateNew, FileAccess.Write);
                InstrumentationResult r = EdgeInstrumenter.Instrument(path, stream);
                log?.WriteLine($"instrumented {r.AssemblyName}: {r.Methods} methods, {r.Blocks} blocks");
            }
        });
        if (!built) log?.WriteLine($"instrumented assemblies appeared concurrently in {directory}; using them");
        return directory;
    }
}
