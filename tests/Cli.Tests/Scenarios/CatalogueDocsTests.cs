using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

/// <summary>
/// The tables of devices in the documentation are generated from <see cref="DeviceCatalog"/>
/// (docs/adding-a-device.md): README.md's scenario table and traces/README.md's committed-trace table each sit
/// between a begin and an end marker, and these tests fail when a table is not what the catalogue makes. With
/// <c>VIRTSIM_REGEN_DOCS=1</c> they rewrite the tables instead:
/// <c>VIRTSIM_REGEN_DOCS=1 dotnet test tests/Cli.Tests -c Release --filter CatalogueDocsTests</c>.
/// </summary>
public sealed class CatalogueDocsTests
{
    private const string Regenerate =
        "VIRTSIM_REGEN_DOCS=1 dotnet test tests/Cli.Tests -c Release --no-build --filter CatalogueDocsTests";

    [Fact]
    public void ReadmeScenarioTable_IsTheCatalogues() => Check("README.md", "scenarios", ScenarioTable());

    [Fact]
    public void TracesReadmeTable_IsTheCatalogues() => Check("traces/README.md", "traces", TraceTable());

    [Fact]
    public void ScenarioTable_HasOneRowPerScenario_NamingItsDevice()
    {
        string[] table = ScenarioTable();
        Assert.Equal(2 + ScenarioCatalog.All.Count, table.Length);
        Assert.Contains("| `ping` | none |", table[2], StringComparison.Ordinal);
        Assert.Contains(table, l => l.StartsWith("| `rng` | virtio-rng |", StringComparison.Ordinal));
    }

    /// <summary>README.md's scenario table: every scenario (engine scenarios first), the catalogue entry whose device
    /// it runs, its one-line description and its <c>--opt</c> names (<c>virtsim run --list</c> gives defaults and
    /// allowed values).</summary>
    internal static string[] ScenarioTable() =>
        [
            "| scenario | device | what it runs | options (`--opt k=v`) |",
            "| --- | --- | --- | --- |",
            .. ScenarioCatalog.All.Select(s =>
            {
                string device = DeviceCatalog.All.FirstOrDefault(d => d.Scenarios.Contains(s))?.Name ?? "none";
                string options = s.Options.Count == 0 ? "" : string.Join(", ", s.Options.Select(o => $"`{o.Name}`"));
                return $"| `{s.Name}` | {device} | {Cell(s.Description)} | {options} |";
            }),
        ];

    /// <summary>traces/README.md's table: one row per committed simulated trace (<c>virtsim run --list-traces</c>),
    /// with what it exercises.</summary>
    internal static string[] TraceTable() =>
        [
            "| file | made by (`./virtsim run ...`) | what it exercises |",
            "| --- | --- | --- |",
            .. DeviceCatalog.AllTraces.Select(t =>
                $"| `sim/{t.Name}.vtrace` | `{t.Arguments}` | {Cell(t.Exercises)} |"
            ),
        ];

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    private static void Check(string file, string table, string[] expected)
    {
        string path = Path.Combine(RepositoryRoot(), file);
        string begin =
            $"<!-- catalogue:{table} begin: generated from DeviceCatalog by {nameof(CatalogueDocsTests)} -->";
        string end = $"<!-- catalogue:{table} end -->";
        List<string> lines = [.. File.ReadAllLines(path)];
        int b = lines.IndexOf(begin);
        int e = lines.IndexOf(end);
        Assert.True(b >= 0 && e > b, $"{file}: the lines\n{begin}\n{end}\nmust enclose the generated {table} table");
        // One blank line after the begin marker and before the end marker, so the table is a Markdown block.
        string[] actual = [.. lines.Skip(b + 2).Take(e - b - 3)];
        if (actual.SequenceEqual(expected, StringComparer.Ordinal))
            return;
        if (Environment.GetEnvironmentVariable("VIRTSIM_REGEN_DOCS") == "1")
        {
            lines.RemoveRange(b + 1, e - b - 1);
            lines.InsertRange(b + 1, ["", .. expected, ""]);
            File.WriteAllText(path, string.Join('\n', lines) + "\n");
            return;
        }
        Assert.Fail(
            $"{file}'s {table} table is not what DeviceCatalog makes; regenerate it with\n  {Regenerate}\n"
                + "expected:\n"
                + string.Join('\n', expected)
        );
    }

    private static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "virtsim.slnx")))
            dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root (virtsim.slnx) not found");
    }
}
