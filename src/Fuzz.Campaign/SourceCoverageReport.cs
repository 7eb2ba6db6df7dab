using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Virtsim.Fuzz.Instrumentation;
using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// The source-coverage part of <c>virtsim fuzz report</c>: replays a target's queues in a child
/// <c>virtsim fuzz blocks</c> (instrumented with SharpFuzz's branch callback, <see cref="BlockTraceEntry"/>), maps the
/// blocks reached to source lines through the block maps written at instrumentation time
/// (<see cref="BlockMap"/>: probe → original IL offset → portable-PDB sequence points), and renders every source
/// file of the instrumented assemblies with its lines hit, partly hit and never hit, as llvm-cov does.
/// </summary>
public static class SourceCoverageReport
{
    /// <summary>What one target's replay found: the files, or why there are none.</summary>
    public sealed record Result(IReadOnlyList<FileCoverage> Files, int Inputs, string? Problem);

    /// <summary>Replays <paramref name="target"/>'s queues in <paramref name="layout"/> through
    /// <paramref name="command"/> (this program) and returns its source coverage.</summary>
    public static Result Collect(
        CampaignLayout layout,
        string target,
        (string File, string[] Leading)? command,
        TimeSpan timeout
    )
    {
        if (command is null)
            return new Result(
                [],
                0,
                "source coverage replays the corpus in a virtsim process; run the report through ./virtsim or "
                    + "dotnet virtsim.dll"
            );
        string output = Path.Combine(Path.GetTempPath(), $"virtsim-blocks-{Environment.ProcessId}-{target}.tsv");
        try
        {
            ProcessStartInfo psi = WorkerLauncher.StartInfo(
                command.Value,
                [BlockTraceEntry.Command, "--target", target, layout.Root, output]
            );
            psi.Environment[SharpFuzzInstrumenter.CallbackVariable] = "1";
            using Process process = Process.Start(psi)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return new Result([], 0, $"the corpus replay did not finish within {timeout.TotalSeconds:0} s");
            }
            if (process.ExitCode != 0 || !File.Exists(output))
            {
                string why = (stderr.Result + stdout.Result).Trim();
                return new Result(
                    [],
                    0,
                    $"the corpus replay failed (exit {process.ExitCode}): {why[..Math.Min(why.Length, 400)]}"
                );
            }
            return Read(output);
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>Reads <see cref="BlockTraceEntry"/>'s output and the block maps it names.</summary>
    public static Result Read(string blocksOutput)
    {
        var sites = new List<BlockSite>();
        var reached = new HashSet<(int, string)>();
        int inputs = 0;
        foreach (string line in File.ReadLines(blocksOutput))
        {
            string[] f = line.Split('\t');
            switch (f[0])
            {
                case "map":
                    sites.AddRange(BlockMap.Read(f[1]));
                    break;
                case "inputs":
                    inputs = int.Parse(f[1], CultureInfo.InvariantCulture);
                    break;
                case "hit":
                    reached.Add((int.Parse(f[1], CultureInfo.InvariantCulture), f[2]));
                    break;
            }
        }
        return new Result(SourceCoverage.FromBlocks(sites, reached), inputs, null);
    }

    /// <summary>The style sheet of the coverage tables and highlighted sources (hit, partly hit, missed).</summary>
    public const string Css =
        ".cov td.n{text-align:right}"
        + ".src{font:12px monospace;margin:0;padding:4px;border:1px solid #ddd;overflow-x:auto}.src "
        + "span{display:block;white-space:pre}"
        + ".src i{display:inline-block;width:4em;color:#888;font-style:normal;text-align:right;margin-right:1em}"
        + ".src .h{background:#d8f5d8}.src .p{background:#fff1b8}.src .m{background:#fbd3d3}.key "
        + "span{padding:0 6px;margin-right:6px}";

    /// <summary>Appends the "Source coverage" section for <paramref name="result"/> to <paramref name="h"/>.</summary>
    public static void AppendHtml(StringBuilder h, Result result)
    {
        h.Append("<h3>Source coverage</h3>");
        if (result.Problem is not null)
        {
            h.Append("<p>Not measured: ").Append(E(result.Problem)).Append(".</p>");
            return;
        }
        int hit = result.Files.Sum(f => f.Count(LineState.Hit)),
            partial = result.Files.Sum(f => f.Count(LineState.Partial)),
            missed = result.Files.Sum(f => f.Count(LineState.Missed));
        int total = hit + partial + missed;
        h.Append(
                CultureInfo.InvariantCulture,
                $"<p>The queue ({result.Inputs} inputs) replayed once: of {total} source lines with code in the "
                    + $"instrumented assemblies, {hit} hit, {partial} partly hit, {missed} never hit "
                    + $"({Percent(hit + partial, total)} reached). "
            )
            .Append(
                "<span class=\"key\"><span class=\"h\" style=\"background:#d8f5d8\">hit</span>"
                    + "<span style=\"background:#fff1b8\">partly hit (some of its blocks never ran)</span>"
                    + "<span style=\"background:#fbd3d3\">never hit</span></span></p>"
            );
        string prefix = CommonDirectory(result.Files.Select(f => f.Document).ToList());
        // Files the target reached first (path order within each group): the rest is code it never runs at all.
        FileCoverage[] files = result
            .Files.OrderBy(f => f.Count(LineState.Hit) + f.Count(LineState.Partial) == 0)
            .ThenBy(f => f.Document, StringComparer.Ordinal)
            .ToArray();
        h.Append(
            "<table class=\"cov\"><tr><th>file</th><th>hit</th><th>partly</th><th>never</th><th>reached</th></tr>"
        );
        foreach (FileCoverage f in files)
        {
            int fh = f.Count(LineState.Hit),
                fp = f.Count(LineState.Partial),
                fm = f.Count(LineState.Missed);
            h.Append(
                CultureInfo.InvariantCulture,
                $"<tr><td><code>{E(f.Document[prefix.Length..])}</code></td><td class=\"n\">{fh}</td>"
                    + $"<td class=\"n\">{fp}</td><td class=\"n\">{fm}</td>"
                    + $"<td class=\"n\">{Percent(fh + fp, fh + fp + fm)}</td></tr>"
            );
        }
        h.Append("</table>");
        foreach (FileCoverage f in files)
            AppendAnnotatedSource(h, f, prefix);
    }

    /// <summary>One file's source, collapsed, every line marked hit, partly hit or never hit.</summary>
    private static void AppendAnnotatedSource(StringBuilder h, FileCoverage f, string prefix)
    {
        h.Append("<details><summary><code>")
            .Append(E(f.Document[prefix.Length..]))
            .Append("</code></summary><pre class=\"src\">");
        string[] text = File.Exists(f.Document) ? File.ReadAllLines(f.Document) : [];
        int last = Math.Max(text.Length, f.Lines.Count == 0 ? 0 : f.Lines.Keys.Max());
        for (int n = 1; n <= last; n++)
        {
            string cls = f.Lines.GetValueOrDefault(n) switch
            {
                LineState.Hit => " class=\"h\"",
                LineState.Partial => " class=\"p\"",
                LineState.Missed => " class=\"m\"",
                _ => "",
            };
            h.Append("<span")
                .Append(cls)
                .Append("><i>")
                .Append(n)
                .Append("</i>")
                .Append(E(n <= text.Length ? text[n - 1] : ""))
                .Append("</span>");
        }
        if (text.Length == 0)
            h.Append("<span>(source file not found on this machine: ").Append(E(f.Document)).Append(")</span>");
        h.Append("</pre></details>");
    }

    private static string Percent(int part, int whole) =>
        whole == 0 ? "-" : (100.0 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>The directory prefix (with its trailing separator) every path shares, so the table shows short
    /// names.</summary>
    private static string CommonDirectory(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0)
            return "";
        string prefix = paths[0][..(paths[0].LastIndexOf('/') + 1)];
        foreach (string p in paths)
        {
            while (prefix.Length > 0 && !p.StartsWith(prefix, StringComparison.Ordinal))
                prefix = prefix[..(prefix.TrimEnd('/').LastIndexOf('/') + 1)];
        }
        return prefix;
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
