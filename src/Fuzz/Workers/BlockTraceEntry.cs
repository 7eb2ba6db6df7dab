using System.Globalization;
using System.Reflection;
using System.Text;
using SharpFuzz.Common;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Instrumentation;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// <c>virtsim fuzz blocks --target T &lt;campaign or input dir&gt; &lt;out file&gt;</c>, run inside the instrumented
/// load context (<see cref="Entry.FuzzHost"/>) by <c>virtsim fuzz report</c> with
/// <c>SHARPFUZZ_ENABLE_ON_BRANCH_CALLBACK</c> set, so every SharpFuzz probe also calls <see cref="Trace.OnBranch"/>
/// with its block id and method: it runs each input once (the target's queues, as cmin reads them) and writes the
/// blocks they reached. An edge-map index mixes two block ids (<c>id ^ prev &gt;&gt; 1</c>) and cannot be traced back
/// to one block, so source coverage is measured this way, by replaying the corpus, exactly.
/// Output lines: <c>map TAB &lt;block map file&gt;</c> per instrumented assembly, <c>inputs TAB n</c>, then
/// <c>hit TAB id TAB method</c> per distinct block reached.
/// </summary>
public static class BlockTraceEntry
{
    /// <summary>The <c>virtsim fuzz</c> subcommand this entry serves (<c>blocks</c>), which the report runs as a child
    /// process.</summary>
    public const string Command = "blocks";

    /// <summary>Replays every input of the campaign (or input directory) once under the branch callback and writes the
    /// reached blocks in the format above. Must run inside the instrumented load context with the callback variable
    /// set, or no probe reports.</summary>
    /// <returns>0 when the file was written; 2 on a usage error (unknown target, missing directory or out
    /// file).</returns>
    public static int Run(Entry.FuzzInvocation invocation, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        string? targetName = invocation.Options.Target;
        string[] paths = [invocation.Options.Input ?? "", invocation.Options.SecondPath ?? ""];
        if (
            targetName is null
            || FuzzTargets.Create(targetName) is not { } target
            || !Directory.Exists(paths[0])
            || paths[1].Length == 0
        )
        {
            error.WriteLine("virtsim: usage: virtsim fuzz blocks --target T <campaign or input dir> <out file>");
            return 2;
        }
        if (!SharpFuzzInstrumenter.Callbacks)
        {
            error.WriteLine(
                "virtsim: fuzz blocks needs probes with SharpFuzz's branch callback: set "
                    + $"{SharpFuzzInstrumenter.CallbackVariable}=1 (fuzz report does)"
            );
            return 2;
        }
        ICoverage coverage = EdgeCoverage.Detect(target);
        if (!coverage.IsAvailable)
        {
            error.WriteLine($"virtsim: fuzz blocks needs instrumented code: {coverage.Description}");
            return 2;
        }
        var text = new StringBuilder();
        foreach (string name in target.InstrumentedAssemblies)
        {
            Assembly assembly = AppDomainAssembly(name);
            text.Append("map\t").Append(assembly.Location).Append(BlockMap.FileSuffix).Append('\n');
        }
        var executor = new FuzzExecutor(target, coverage, ExecutionLimits.Default);
        var hits = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        Action<int, string> previous = Trace.OnBranch;
        Trace.OnBranch = (id, method) =>
        {
            if (!hits.TryGetValue(method, out HashSet<int>? ids))
                hits[method] = ids = [];
            ids.Add(id);
        };
        List<string> inputs = CorpusToolsEntry.InputFiles(paths[0], target.Name);
        try
        {
            foreach (string file in inputs)
                _ = executor.Execute(File.ReadAllBytes(file));
        }
        finally
        {
            Trace.OnBranch = previous;
        }
        text.Append(CultureInfo.InvariantCulture, $"inputs\t{inputs.Count}\n");
        foreach ((string method, HashSet<int> ids) in hits.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            foreach (int id in ids.Order())
                text.Append(CultureInfo.InvariantCulture, $"hit\t{id}\t{method}\n");
        }
        File.WriteAllText(paths[1], text.ToString());
        output.WriteLine($"blocks: {inputs.Count} inputs, {hits.Values.Sum(h => h.Count)} blocks reached");
        return 0;
    }

    /// <summary>The assembly <paramref name="name"/> as loaded beside this copy of Virtsim.Fuzz.</summary>
    private static Assembly AppDomainAssembly(string name) =>
        (
            System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(typeof(BlockTraceEntry).Assembly)
            ?? System.Runtime.Loader.AssemblyLoadContext.Default
        ).LoadFromAssemblyName(new AssemblyName(name));
}
