using SharpFuzz;

namespace Virtsim.Fuzz.Instrumentation;

/// <summary>
/// Edge instrumentation by SharpFuzz (<see cref="Fuzzer.Instrument"/>): at every basic-block leader (method
/// entry, branch and switch targets, the fall-through of a conditional branch, handler starts) it inserts
/// <c>Trace.SharedMem[id ^ Trace.PrevLocation]++; Trace.PrevLocation = id &gt;&gt; 1</c> with a 16-bit id from a
/// fixed-seed generator, so the same input assemblies instrumented in the same order give the same ids. SharpFuzz
/// rewrites in place, so we instrument a copy; beside it we write the <see cref="BlockMap"/> side file that traces
/// each id back to IL and source lines. With <c>SHARPFUZZ_ENABLE_ON_BRANCH_CALLBACK</c> set when the process first
/// instruments, probes also call <c>Trace.OnBranch(id, method)</c> (what <c>fuzz report</c> uses to see blocks).
/// </summary>
public static class SharpFuzzInstrumenter
{
    /// <summary>Bumped whenever what we ask of SharpFuzz changes, so cached instrumented assemblies are
    /// rebuilt.</summary>
    public const int Version = 3;

    /// <summary>SharpFuzz's switch for <c>Trace.OnBranch</c> probes (read once per process, by SharpFuzz).</summary>
    public const string CallbackVariable = "SHARPFUZZ_ENABLE_ON_BRANCH_CALLBACK";

    /// <summary>True when this process's instrumentation adds <c>Trace.OnBranch</c> calls.</summary>
    public static bool Callbacks => Options.Value.EnableOnBranchCallback;

    /// <summary>Instruments a copy of <paramref name="inputPath"/> at <paramref name="outputPath"/> and writes its
    /// block map to <paramref name="outputPath"/><c>.blocks</c>. <paramref name="includeType"/> (full type name →
    /// bool) limits which types are rewritten; null means all.</summary>
    internal static InstrumentationResult Instrument(
        string inputPath,
        string outputPath,
        Func<string, bool>? includeType = null
    )
    {
        File.Copy(inputPath, outputPath, overwrite: false);
        IEnumerable<string> types;
        try
        {
            types = Fuzzer.Instrument(outputPath, includeType ?? (_ => true), Options.Value);
        }
        catch (InstrumentationException e)
        {
            File.Delete(outputPath);
            throw new InvalidOperationException($"{inputPath}: {e.Message}", e);
        }
        IReadOnlyList<BlockSite> sites = BlockMap.Build(inputPath, outputPath);
        BlockMap.Write(outputPath + BlockMap.FileSuffix, sites);
        string name = Path.GetFileNameWithoutExtension(inputPath);
        return new InstrumentationResult(name, types.Count(), sites.Count);
    }
}
