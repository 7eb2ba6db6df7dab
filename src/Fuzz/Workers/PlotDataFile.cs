using System.Globalization;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// AFL++'s <c>plot_data</c> (4.x, afl-fuzz-stats.c <c>maybe_update_plot_file</c>): a header line, then one
/// comma-separated row per update with the columns of <see cref="Header"/>. Appended (afl-plot reads it as it
/// grows); after a <c>kill -9</c> the last row may be cut, so <see cref="Prepare"/> drops a row without its newline.
/// </summary>
public static class PlotDataFile
{
    /// <summary>AFL++ 4.x's header line, verbatim: afl-plot and other tools find the columns by position.</summary>
    public const string Header =
        "# relative_time, cycles_done, cur_item, corpus_count, pending_total, pending_favs, map_size, "
        + "saved_crashes, saved_hangs, max_depth, execs_per_sec, total_execs, edges_found";

    /// <summary>Column indices of <see cref="Header"/> the report plots.</summary>
    public const int RelativeTime = 0,
        CorpusCount = 3,
        SavedCrashes = 7,
        SavedHangs = 8,
        ExecsPerSec = 10,
        TotalExecs = 11,
        EdgesFound = 12;

    /// <summary>Creates the file with its header, or cuts a torn last row of an existing one.</summary>
    public static void Prepare(string path)
    {
        if (!File.Exists(path))
        {
            File.WriteAllText(path, Header + "\n");
            return;
        }
        byte[] bytes = File.ReadAllBytes(path);
        int end = bytes.Length;
        while (end > 0 && bytes[end - 1] != (byte)'\n')
            end--;
        if (end == bytes.Length)
            return;
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
        f.SetLength(end);
    }

    /// <summary>Appends one row. Columns AFL++ has and we do not model (cycles, pending, depth) are written as 0 or 1,
    /// so AFL++ tools still parse the row.</summary>
    /// <param name="path">The plot_data file, made by <see cref="Prepare"/>.</param>
    /// <param name="relativeSeconds">Seconds since the worker started.</param>
    /// <param name="corpusCount">Inputs in the worker's queue.</param>
    /// <param name="mapPercent">Share of the coverage map set, in percent (written as <c>NN.NN%</c>).</param>
    /// <param name="crashes">Findings saved as crashes.</param>
    /// <param name="hangs">Findings saved as hangs.</param>
    /// <param name="execsPerSecond">Current execution rate.</param>
    /// <param name="totalExecs">Executions so far.</param>
    /// <param name="edges">Distinct coverage-map entries seen.</param>
    public static void Append(
        string path,
        long relativeSeconds,
        int corpusCount,
        double mapPercent,
        long crashes,
        long hangs,
        double execsPerSecond,
        long totalExecs,
        int edges
    )
    {
        string row = string.Create(
            CultureInfo.InvariantCulture,
            $"{relativeSeconds}, 0, 0, {corpusCount}, 0, 0, {mapPercent:0.00}%, {crashes}, {hangs}, 1, "
                + $"{execsPerSecond:0.00}, {totalExecs}, {edges}\n"
        );
        File.AppendAllText(path, row);
    }

    /// <summary>The rows of a plot_data file as numbers (a trailing % dropped); torn or foreign rows are
    /// skipped.</summary>
    public static List<double[]> Read(string path)
    {
        var rows = new List<double[]>();
        if (!File.Exists(path))
            return rows;
        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith('#') || line.Length == 0)
                continue;
            string[] parts = line.Split(',');
            if (parts.Length < 13)
                continue;
            var row = new double[parts.Length];
            bool ok = true;
            for (int i = 0; i < parts.Length && ok; i++)
                ok = double.TryParse(
                    parts[i].Trim().TrimEnd('%'),
                    NumberStyles.Float,
                    CultureInfo.InvariantCulture,
                    out row[i]
                );
            if (ok)
                rows.Add(row);
        }
        return rows;
    }
}
