using Sim.Engine.Memory;
using Virtsim.Fuzz.Engine;

namespace Virtsim.Fuzz.Instrumentation;

/// <summary>
/// Instrumented copies of assemblies, cached under <c>&lt;root&gt;/&lt;key&gt;/</c> where the key hashes the
/// instrumenter version, whether probes carry SharpFuzz's branch callback, Virtsim.Fuzz and every input assembly's
/// bytes — so the rewrite runs again only when one
/// of them changes. A cache directory is built under a temporary name and renamed into place, so it is either
/// complete or absent; concurrent builders race harmlessly.
/// </summary>
internal static class InstrumentedAssemblyCache
{
    /// <summary>Returns the directory holding <c>&lt;name&gt;.dll</c> (and its <see cref="BlockMap"/> side file)
    /// instrumented for each of
    /// <paramref name="assemblyPaths"/>, building it if needed.</summary>
    public static string Prepare(string cacheRoot, IReadOnlyList<string> assemblyPaths, TextWriter? log)
    {
        string[] sorted = assemblyPaths
            .Select(Path.GetFullPath)
            .OrderBy(p => Path.GetFileName(p), StringComparer.Ordinal)
            .ToArray();
        var hash = new StableHash64();
        hash.AddUInt64(SharpFuzzInstrumenter.Version);
        hash.AddUInt64(SharpFuzzInstrumenter.Callbacks ? 1UL : 0UL);
        hash.Add(File.ReadAllBytes(typeof(InstrumentedAssemblyCache).Assembly.Location));
        foreach (string path in sorted)
        {
            hash.Add(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path)));
            hash.Add(File.ReadAllBytes(path));
        }
        string directory = Path.Combine(cacheRoot, hash.Finish().ToString("x16"));
        if (Directory.Exists(directory))
            return directory;
        Directory.CreateDirectory(cacheRoot);
        bool built = AtomicFile.TryCreateDirectory(directory, temp =>
        {
            foreach (string path in sorted)
            {
                InstrumentationResult r = SharpFuzzInstrumenter.Instrument(
                    path,
                    Path.Combine(temp, Path.GetFileName(path)),
                    InstrumentationScope.For(path)
                );
                log?.WriteLine($"instrumented {r.AssemblyName}: {r.Types} types, {r.Blocks} blocks (SharpFuzz)");
            }
        });
        if (!built)
            log?.WriteLine($"instrumented assemblies appeared concurrently in {directory}; using them");
        return directory;
    }
}
