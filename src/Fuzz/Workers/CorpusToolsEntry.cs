using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// <c>virtsim fuzz cmin --target T &lt;in&gt; &lt;out&gt;</c> and <c>virtsim fuzz triage --target T &lt;dir&gt;
/// [&lt;findings&gt;]</c>, run inside the instrumented load context (<see cref="FuzzHost"/>) like
/// <see cref="FuzzEntry"/>; the command line is parsed by <see cref="FuzzCommandLine"/>.
/// <para>cmin keeps, for every (edge, hit-count bucket) any input shows, the smallest input showing it — afl-cmin's
/// rule, so the kept set covers every edge and bucket of the whole corpus. Input: a directory of files, or a
/// campaign directory (the queues of the target's workers). Inputs that fire an oracle are left out (they belong
/// to triage). Output: files named by content hash in a new or empty directory.</para>
/// <para>triage runs every file below a directory (AFL++'s <c>crashes/</c> and <c>hangs/</c>, libFuzzer's
/// <c>crash-*</c>/<c>timeout-*</c> artifacts, anything else) and saves one minimised finding per (oracle, site) with
/// its trace and summary, as a campaign would; files that fire nothing now are listed.</para>
/// </summary>
internal static class CorpusToolsEntry
{
    public static int Run(FuzzInvocation invocation, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        FuzzOptions options = invocation.Options;
        string tool = options.Mode == FuzzMode.Cmin ? "cmin" : "triage";
        if (FuzzTargets.Create(options.Target ?? "") is not { } target)
        {
            error.WriteLine($"virtsim: fuzz {tool}: no fuzz target named '{options.Target}'; see virtsim fuzz list");
            return 2;
        }
        if (options.Input is not { } input || !Directory.Exists(input))
        {
            error.WriteLine($"virtsim: fuzz {tool}: '{options.Input}' is not a directory");
            return 2;
        }
        ICoverage coverage = options.NoCoverage ? new NullCoverage("--no-coverage") : EdgeCoverage.Detect(target);
        var executor = new FuzzExecutor(target, coverage, FuzzEntry.Limits(options));
        return options.Mode == FuzzMode.Cmin
            ? Cmin(target, executor, input, options.SecondPath!, output, error)
            : Triage(
                target,
                executor,
                input,
                options.SecondPath ?? Path.Combine(input, CampaignLayout.FindingsName),
                output,
                error
            );
    }

    /// <summary>Input files of <paramref name="directory"/>: the target's queues when it is a campaign directory,
    /// else every non-dot file below it; ordinal path order.</summary>
    public static List<string> InputFiles(string directory, string targetName)
    {
        var layout = new CampaignLayout(directory);
        IReadOnlyList<string> workers = layout.Workers();
        IEnumerable<string> files =
            workers.Count > 0
                ? workers
                    .Where(w => layout.TargetOf(w) is { } t && (FuzzTargets.Create(t)?.Name ?? t) == targetName)
                    .SelectMany(w => Directory.EnumerateFiles(layout.Queue(w)))
                : Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories);
        return files
            .Where(f => !Path.GetFileName(f).StartsWith('.') && Path.GetFileName(f) != "README.txt")
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static int Cmin(
        IFuzzTarget target,
        FuzzExecutor executor,
        string input,
        string output,
        TextWriter stdout,
        TextWriter error
    )
    {
        if (!executor.Coverage.IsAvailable)
        {
            error.WriteLine($"virtsim: fuzz cmin needs edge coverage: {executor.Coverage.Description}");
            return 2;
        }
        if (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
        {
            error.WriteLine(
                $"virtsim: {output} is not empty; cmin writes into a new or empty directory and never overwrites"
            );
            return 2;
        }
        List<string> files = InputFiles(input, target.Name);
        // best[(edge index << 8) | bucket] = smallest input showing that tuple.
        var best = new Dictionary<int, byte[]>();
        int fired = 0,
            read = 0;
        foreach (string file in files)
        {
            byte[] data;
            try
            {
                data = File.ReadAllBytes(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"warning: {file} is unreadable, skipped: {e.Message}");
                continue;
            }
            read++;
            if (executor.Execute(data).Finding is not null)
            {
                fired++;
                continue;
            }
            foreach (int tuple in Tuples(executor.Coverage.Map))
            {
                if (!best.TryGetValue(tuple, out byte[]? current) || FindingMinimizer.IsSimpler(data, current))
                    best[tuple] = data;
            }
        }
        var kept = best.Values.Distinct().ToList();
        Directory.CreateDirectory(output);
        foreach (byte[] data in kept)
            CorpusDirectory.Save(output, data);
        int edges = best.Keys.Select(t => t >> 8).Distinct().Count();
        stdout.WriteLine(
            $"cmin: {read} inputs -> {kept.Count} in {output}; they keep all {best.Count} (edge, hit-count bucket) "
                + $"tuples over {edges} edges"
                + (fired > 0 ? $"; {fired} inputs fire an oracle and were left out (virtsim fuzz triage)" : "")
        );
        return 0;
    }

    /// <summary>(edge index &lt;&lt; 8) | bucket bit for every edge of <paramref name="map"/> (AFL's
    /// buckets).</summary>
    public static IEnumerable<int> Tuples(ReadOnlySpan<byte> map)
    {
        var tuples = new List<int>();
        for (int i = 0; i < map.Length; i++)
        {
            if (map[i] != 0)
                tuples.Add((i << 8) | Bucket(map[i]));
        }
        return tuples;
    }

    private static int Bucket(byte count) =>
        count switch
        {
            1 => 1,
            2 => 2,
            3 => 4,
            <= 7 => 8,
            <= 15 => 16,
            <= 31 => 32,
            <= 127 => 64,
            _ => 128,
        };

    private static int Triage(
        IFuzzTarget target,
        FuzzExecutor executor,
        string directory,
        string findingsDirectory,
        TextWriter stdout,
        TextWriter error
    )
    {
        target.UseFindingsDirectory(findingsDirectory);
        List<string> files = TriageInputs(directory, findingsDirectory);
        var known = new HashSet<(string, string, string)>(FindingRegistry.Load(findingsDirectory, target.Name));
        var seen = new Dictionary<(string, string, string), int>();
        var quiet = new List<string>();
        int saved = 0,
            alreadyKnown = 0;
        foreach (string file in files)
        {
            if (ReadInput(file, error) is not { } data)
                continue;
            if (executor.Execute(data).Finding is not { } report)
            {
                quiet.Add(file);
                continue;
            }
            if (seen.TryGetValue(report.DedupKey, out int n))
            {
                seen[report.DedupKey] = n + 1;
                continue;
            }
            seen[report.DedupKey] = 1;
            if (known.Contains(report.DedupKey))
            {
                alreadyKnown++;
                stdout.WriteLine($"known: {report.Oracle} at {report.Site} ({file})");
                continue;
            }
            if (SaveMinimized(target, executor, findingsDirectory, report, data, file, stdout))
                saved++;
        }
        foreach (string file in quiet)
            stdout.WriteLine($"no oracle fires now: {file}");
        stdout.WriteLine(
            $"triage: {files.Count} files, {files.Count - quiet.Count} fire, {seen.Count} distinct (oracle, site, "
                + "shape), "
                + $"{saved} saved to {findingsDirectory}, {alreadyKnown} known before, {quiet.Count} fire nothing"
        );
        return seen.Count > 0 ? 1 : 0;
    }

    /// <summary>The files triage runs, in ordinal order: every file under <paramref name="directory"/> but hidden
    /// ones, READMEs and summaries, traces, and what lies in the findings directory itself.</summary>
    private static List<string> TriageInputs(string directory, string findingsDirectory) =>
        Directory
            .EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(f =>
                !Path.GetFileName(f).StartsWith('.')
                && Path.GetFileName(f) is not ("README.txt" or FindingWriter.SummaryFileName)
                && !f.EndsWith(".vtrace", StringComparison.Ordinal)
                && !Path.GetFullPath(f)
                    .StartsWith(
                        Path.GetFullPath(findingsDirectory) + Path.DirectorySeparatorChar,
                        StringComparison.Ordinal
                    )
            )
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>The file's bytes cut to the default input length limit, or null (with a warning) when it cannot
    /// be read.</summary>
    private static byte[]? ReadInput(string file, TextWriter error)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"warning: {file} is unreadable, skipped: {e.Message}");
            return null;
        }
        if (data.Length > FuzzOptions.MaxLengthDefault)
            data = data.AsSpan(0, FuzzOptions.MaxLengthDefault).ToArray();
        return data;
    }

    /// <summary>Minimizes a new finding (keeping its dedup key), saves it and prints it; true when it was saved
    /// (false when the same finding was on disk already).</summary>
    private static bool SaveMinimized(
        IFuzzTarget target,
        FuzzExecutor executor,
        string findingsDirectory,
        FindingReport report,
        byte[] data,
        string file,
        TextWriter stdout
    )
    {
        var finding = new Finding(target.Name, report, data, 0) { OriginalLength = data.Length };
        finding.Input = FindingMinimizer.Minimize(
            data,
            c => executor.Execute(c).Finding?.DedupKey == report.DedupKey,
            target.Minimizer,
            FindingMinimizer.DefaultExecutionsMax,
            out _,
            target.MinimizeFiringRunsMax(report.Oracle)
        );
        string? path = FindingWriter.Save(findingsDirectory, finding, target.InputVersion, 0, target, executor.Limits);
        stdout.WriteLine(
            $"finding: {report.Oracle} at {report.Site}: {report.Message} [{finding.Input.Length} bytes, "
                + $"from {data.Length}] {(path is null ? "(already saved)" : "-> " + path)} (first: {file})"
        );
        return path is not null;
    }
}
