using System.Globalization;
using System.Net;
using System.Text;
using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// <c>virtsim fuzz report &lt;dir&gt; [-o/--output FILE]</c>: one self-contained HTML file (inline SVG plots, no
/// scripts, no external references) describing a campaign directory — per target, edges, exec/s, corpus and
/// findings over time for each worker (from <c>plot_data</c>, ScottPlot), the workers' final statistics, and the
/// findings table with the commands that reproduce and replay each one, and per target the source coverage of its
/// instrumented assemblies (<see cref="SourceCoverageReport"/>: every source file, its lines hit and never hit).
/// Default output: <c>&lt;dir&gt;/report.html</c>.
/// </summary>
public static class ReportCommand
{
    /// <summary>Writes the HTML report of the campaign in <paramref name="dir"/> to <paramref name="file"/>
    /// (default <c>&lt;dir&gt;/report.html</c>); returns the exit code (2 when <paramref name="dir"/> is not a
    /// campaign).</summary>
    public static int Run(string dir, string? file, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir))
        {
            error.WriteLine($"virtsim: fuzz report needs an existing campaign directory ('{dir}' does not exist)");
            return 2;
        }
        var layout = new CampaignLayout(dir);
        if (layout.Workers().Count == 0)
        {
            error.WriteLine(
                $"virtsim: {layout.Root} holds no worker directories (<worker>/queue); is it a campaign directory "
                    + "(virtsim fuzz run -o)?"
            );
            return 2;
        }
        file ??= Path.Combine(layout.Root, "report.html");
        var coverage = new Dictionary<string, SourceCoverageReport.Result>(StringComparer.Ordinal);
        foreach (
            string target in WorkerStatus.ReadAll(layout).Select(w => w.Target).Distinct().Order(StringComparer.Ordinal)
        )
        {
            SourceCoverageReport.Result result = SourceCoverageReport.Collect(
                layout,
                target,
                WorkerLauncher.Self(),
                TimeSpan.FromMinutes(10)
            );
            coverage[target] = result;
            output.WriteLine(
                result.Problem is null
                    ? $"{target}: source coverage from {result.Inputs} queue inputs, {result.Files.Count} files"
                    : $"{target}: no source coverage: {result.Problem}"
            );
        }
        string html = Render(layout, coverage);
        string temp = Path.Combine(
            Path.GetDirectoryName(Path.GetFullPath(file))!,
            $".{Path.GetFileName(file)}.tmp-{Environment.ProcessId}"
        );
        File.WriteAllText(temp, html);
        File.Move(temp, file, overwrite: true);
        output.WriteLine($"wrote {file} ({html.Length / 1024} KiB)");
        return 0;
    }

    /// <summary>The report's HTML for the campaign at <paramref name="layout"/>, with source coverage when
    /// <paramref name="coverage"/> is given.</summary>
    public static string Render(
        CampaignLayout layout,
        IReadOnlyDictionary<string, SourceCoverageReport.Result>? coverage = null
    )
    {
        IReadOnlyList<WorkerStatus> workers = WorkerStatus.ReadAll(layout);
        List<FindingRecord> findings = FindingRegistry.Records(Path.Combine(layout.Root, CampaignLayout.FindingsName));
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>virtsim campaign ")
            .Append(E(layout.Root))
            .Append("</title><style>")
            .Append(
                "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
                    + "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}"
            )
            .Append(
                "th{background:#eee}.plots{display:flex;flex-wrap:wrap;gap:8px}.plots div{border:1px solid #ddd}"
                    + "code{font-size:12px}"
            )
            .Append(SourceCoverageReport.Css)
            .Append("</style></head><body>");
        h.Append("<h1>virtsim fuzz campaign</h1><p>Directory <code>")
            .Append(E(layout.Root))
            .Append("</code>, ")
            .Append(workers.Count)
            .Append(" workers, ")
            .Append(findings.Count)
            .Append(" findings. Generated ")
            .Append(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))
            .Append(".</p>");
        foreach (
            IGrouping<string, WorkerStatus> target in workers
                .GroupBy(w => w.Target)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
        )
        {
            h.Append("<h2>").Append(E(target.Key)).Append("</h2>");
            AppendWorkerTable(h, target.ToList());
            var series = target
                .Select(w => (w.Name, Rows: PlotDataFile.Read(layout.PlotData(w.Name))))
                .Where(s => s.Rows.Count > 0)
                .ToList();
            if (series.Count == 0)
                h.Append("<p>No plot_data rows yet.</p>");
            else
                AppendPlots(h, series);
            if (coverage is not null && coverage.TryGetValue(target.Key, out SourceCoverageReport.Result? source))
                SourceCoverageReport.AppendHtml(h, source);
        }
        AppendFindings(h, findings);
        h.Append("</body></html>\n");
        return h.ToString();
    }

    private static void AppendPlots(StringBuilder h, List<(string Name, List<double[]> Rows)> series)
    {
        h.Append("<div class=\"plots\">");
        h.Append(CampaignPlots.Svg("edges", series, PlotDataFile.EdgesFound));
        h.Append(CampaignPlots.Svg("exec/s", series, PlotDataFile.ExecsPerSec));
        h.Append(CampaignPlots.Svg("corpus", series, PlotDataFile.CorpusCount));
        h.Append(CampaignPlots.Svg("crashes + hangs", series, PlotDataFile.SavedCrashes, PlotDataFile.SavedHangs));
        h.Append("</div>");
    }

    private static void AppendFindings(StringBuilder h, List<FindingRecord> findings)
    {
        h.Append("<h2>Findings</h2>");
        if (findings.Count == 0)
            h.Append("<p>None.</p>");
        else
        {
            h.Append(
                "<table><tr><th>target</th><th>oracle</th><th>site</th><th>rule</th><th>first seen</th>"
                    + "<th>reproduce / replay</th></tr>"
            );
            foreach (FindingRecord f in findings.OrderBy(f => f.SavedUtc))
            {
                h.Append("<tr><td>")
                    .Append(E(f.Target))
                    .Append("</td><td>")
                    .Append(E(f.Oracle))
                    .Append("</td><td><code>")
                    .Append(E(f.Site))
                    .Append("</code></td><td>")
                    .Append(E(f.Rule))
                    .Append("</td><td>")
                    .Append(f.SavedUtc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))
                    .Append("</td><td><code>")
                    .Append(E(f.Reproduce))
                    .Append("</code>");
                if (f.Replay.Length > 0)
                    h.Append("<br><code>").Append(E(f.Replay)).Append("</code>");
                h.Append("</td></tr>");
            }
            h.Append("</table>");
        }
    }

    private static void AppendWorkerTable(StringBuilder h, IReadOnlyList<WorkerStatus> workers)
    {
        h.Append(
            "<table><tr><th>worker</th><th>state</th><th>execs</th><th>exec/s</th><th>edges</th><th>corpus</th>"
                + "<th>findings</th><th>stability</th><th>RSS start / now (MiB)</th><th>CPU s</th></tr>"
        );
        foreach (WorkerStatus w in workers)
        {
            h.Append(
                CultureInfo.InvariantCulture,
                $"<tr><td>{E(w.Name)}</td><td>{E(w.State)}</td><td>{w.Executions}</td><td>{w.ExecsPerSecond:0}</td>"
                    + $"<td>{w.Edges}</td><td>{w.Corpus}</td><td>{w.Findings}</td><td>{w.StabilityPercent:0.0}%</td>"
                    + $"<td>{w.RssStartKb / 1024} / {w.RssKb / 1024}</td><td>{w.CpuSeconds:0.0}</td></tr>"
            );
        }
        h.Append("</table>");
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
