using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Campaign;

/// <summary>The report's plots: one ScottPlot line per worker of a <c>plot_data</c> column against run time,
/// rendered to inline SVG.</summary>
public static class CampaignPlots
{
    /// <summary>Size of each plot in pixels (two fit side by side in the report).</summary>
    public const int Width = 460,
        Height = 280;

    /// <summary>An SVG (inside a div) of <paramref name="columns"/> (summed) for each worker's rows.</summary>
    public static string Svg(
        string title,
        IReadOnlyList<(string Name, List<double[]> Rows)> series,
        params int[] columns
    )
    {
        var plot = new ScottPlot.Plot();
        foreach ((string name, List<double[]> rows) in series)
        {
            double[] xs = rows.Select(r => r[PlotDataFile.RelativeTime] / 60.0).ToArray();
            double[] ys = rows.Select(r => columns.Sum(c => r[c])).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = name;
            line.MarkerSize = 0;
        }
        plot.Title(title);
        plot.XLabel("minutes");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        return "<div>" + plot.GetSvgHtml(Width, Height) + "</div>";
    }
}
