using System.Globalization;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// What a running campaign shows: on a terminal a live table (Spectre.Console) with a row per target (totals) and
/// per worker — executions, exec/s, edges, corpus, findings by oracle, time since the last new edge, stability —
/// and, when output is not a terminal, plain lines (<see cref="PlainLines"/>), one per worker and one per target.
/// </summary>
public static class StatusRenderer
{
    /// <summary>The live status table: one row per worker, totals, and <paramref name="note"/> under it.</summary>
    public static IRenderable Table(
        string root,
        TimeSpan elapsed,
        IReadOnlyList<WorkerStatus> workers,
        long nowUnix,
        string? note
    )
    {
        var table = new Table().Border(TableBorder.Rounded).Expand();
        table.Title = new TableTitle($"virtsim fuzz  {Markup.Escape(root)}  {elapsed:hh\\:mm\\:ss}");
        foreach (
            string h in new[]
            {
                "target / worker",
                "execs",
                "exec/s",
                "edges",
                "corpus",
                "findings",
                "last new edge",
                "stability",
                "RSS MiB",
            }
        )
        {
            table.AddColumn(new TableColumn(h).RightAligned());
        }
        table.Columns[0].LeftAligned();
        foreach (
            IGrouping<string, WorkerStatus> group in workers
                .GroupBy(w => w.Target)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
        )
        {
            WorkerStatus total = Total(group.Key, group.ToList());
            table.AddRow(Row(total, nowUnix, bold: true));
            foreach (WorkerStatus w in group)
                table.AddRow(Row(w, nowUnix, bold: false));
        }
        if (workers.Count == 0)
            table.AddRow(new Markup("[grey]starting workers...[/]"));
        if (note is not null)
            table.Caption = new TableTitle(Markup.Escape(note));
        return table;
    }

    private static string FindingsByOracle(WorkerStatus w) =>
        string.Join(' ', w.FindingsByOracle.Where(p => p.Value > 0).Select(p => $"{p.Key}:{p.Value}"));

    private static IRenderable[] Row(WorkerStatus w, long nowUnix, bool bold)
    {
        string style =
            bold ? "bold"
            : w.State == "running" ? "default"
            : "grey";
        string name = bold ? w.Target : "  " + w.Name + (w.State == "running" ? "" : $" ({w.State})");
        string findings = w.Findings == 0 ? "0" : $"{w.Findings} ({FindingsByOracle(w)})";
        string[] cells =
        [
            name,
            w.Executions.ToString("N0", CultureInfo.InvariantCulture),
            w.ExecsPerSecond.ToString("N0", CultureInfo.InvariantCulture),
            w.Edges.ToString(CultureInfo.InvariantCulture),
            w.Corpus.ToString(CultureInfo.InvariantCulture),
            findings,
            WorkerStatus.Since(w.LastNewEdgeUnix, nowUnix),
            w.StabilityPercent.ToString("0.0", CultureInfo.InvariantCulture) + "%",
            (w.RssKb / 1024).ToString(CultureInfo.InvariantCulture),
        ];
        return cells.Select(c => (IRenderable)new Markup($"[{style}]{Markup.Escape(c)}[/]")).ToArray();
    }

    /// <summary>A target's totals: summed counts, the best worker's edges (workers share their queues, so edges
    /// converge; the sum would count one edge per worker), the latest new edge, the lowest stability.</summary>
    public static WorkerStatus Total(string target, IReadOnlyList<WorkerStatus> workers)
    {
        var findings = workers
            .SelectMany(w => w.FindingsByOracle)
            .GroupBy(p => p.Key, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new KeyValuePair<string, int>(g.Key, g.Sum(p => p.Value)))
            .ToArray();
        return new WorkerStatus(
            target,
            target,
            workers.Sum(w => w.Executions),
            workers.Sum(w => w.ExecsPerSecond),
            workers.Max(w => w.Edges),
            workers.Max(w => w.Corpus),
            findings,
            workers.Max(w => w.LastNewEdgeUnix),
            workers.Min(w => w.StabilityPercent),
            workers.Any(w => w.State == "running") ? "running" : "stopped",
            workers.Sum(w => w.RssKb),
            workers.Sum(w => w.RssStartKb),
            workers.Sum(w => w.CpuSeconds),
            workers.Max(w => w.LastUpdateUnix)
        );
    }

    /// <summary>Plain status lines: one per target (totals, prefixed <c>target</c>) and one per worker.</summary>
    public static IEnumerable<string> PlainLines(TimeSpan elapsed, IReadOnlyList<WorkerStatus> workers, long nowUnix)
    {
        foreach (
            IGrouping<string, WorkerStatus> group in workers
                .GroupBy(w => w.Target)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
        )
        {
            yield return Line(
                $"[{(long)elapsed.TotalSeconds}s] target {group.Key}",
                Total(group.Key, group.ToList()),
                nowUnix
            );
            foreach (WorkerStatus w in group)
                yield return Line($"[{(long)elapsed.TotalSeconds}s]   worker {w.Name} ({w.State})", w, nowUnix);
        }
    }

    private static string Line(string head, WorkerStatus w, long nowUnix)
    {
        var s = new StringBuilder(head);
        s.Append(
            CultureInfo.InvariantCulture,
            $" execs={w.Executions} exec/s={w.ExecsPerSecond:0} edges={w.Edges} corpus={w.Corpus} findings={w.Findings}"
        );
        if (w.Findings > 0)
            s.Append(" (")
                .AppendJoin(' ', w.FindingsByOracle.Where(p => p.Value > 0).Select(p => $"{p.Key}:{p.Value}"))
                .Append(')');
        s.Append(
            CultureInfo.InvariantCulture,
            $" last_new_edge={WorkerStatus.Since(w.LastNewEdgeUnix, nowUnix)} stability={w.StabilityPercent:0.0}% "
                + $"rss_mb={w.RssKb / 1024}"
        );
        return s.ToString();
    }
}
