using Xunit;

namespace Tidy.Tests;

/// <summary>The repository's tidy checks: plain rules (no line over 120 columns, no bare narrowing cast in checked
/// code) and ratchets, whose counts are pinned in tidy-baseline.txt and may only go down. A failure lists what to fix
/// (or, when a ratchet's count fell, asks for the baseline to be lowered).</summary>
public class TidyTests
{
    static readonly IReadOnlyDictionary<string, int> Baseline = Ratchet.ParseBaseline(
        SourceTree.Read(Ratchet.BaselineFile)
    );

    static List<string> Scan(Func<string, string, IEnumerable<string>> scanner) =>
        SourceTree.CSharpFiles().SelectMany(f => scanner(f, SourceTree.Read(f))).ToList();

    static void AssertRatchet(string name, List<string> offenders, string fix)
    {
        Assert.True(Baseline.ContainsKey(name), $"tidy: '{name}' missing from {Ratchet.BaselineFile}");
        var failure = Ratchet.Check(name, Baseline[name], offenders, fix);
        Assert.True(failure is null, failure);
    }

    [Fact]
    public void Sources_are_found()
    {
        var files = SourceTree.CSharpFiles();
        Assert.Contains("tests/Tidy.Tests/TidyTests.cs", files);
        Assert.DoesNotContain(files, f => f.Contains("/obj/", StringComparison.Ordinal));
    }

    [Fact]
    public void No_line_is_over_120_columns()
    {
        // Once a ratchet (70 lines in 2026-12), now a plain rule: what CSharpier cannot wrap (string literals,
        // comments, long interpolations) is wrapped by hand; split a literal with + so its value stays the same.
        var offenders = Scan(Scanners.LongLines);
        Assert.True(
            offenders.Count == 0,
            $"tidy: lines over {Scanners.MaxColumns} columns: wrap them (split a string literal with +, move a long "
                + "interpolated expression into a local, rewrap a comment):\n"
                + string.Join('\n', offenders)
        );
    }

    [Fact]
    public void Methods_over_70_lines_only_go_down() =>
        AssertRatchet(
            "long-methods",
            Scan(Scanners.LongMethods),
            $"Split these methods to at most {Scanners.MaxMethodLines} lines (name the steps)."
        );

    [Fact]
    public void Unchecked_outside_ring_helpers_only_goes_down() =>
        AssertRatchet(
            "unchecked",
            Scan(Scanners.Unchecked),
            "Use RingIndex/RingBytes, or a named narrowing helper, instead of a new unchecked."
        );

    [Fact]
    public void Simulation_projects_have_no_bare_narrowing_cast()
    {
        // No integral cast in a checked project that can throw on a value that does not fit, unless it
        // says which it means: Narrow.* (truncate on purpose) or checked((T)x) (must fit).
        var files = SourceTree
            .CSharpFiles()
            .Where(f => SourceTree.ProjectOf(f) is { } p && NarrowingCasts.CheckedProjects.Contains(p))
            .ToList();
        Assert.NotEmpty(files);
        var offenders = NarrowingCasts.Offenders(files, SourceTree.Read);
        Assert.True(
            offenders.Count == 0,
            "tidy: bare narrowing casts in checked code: use a Sim.Engine.Narrow helper that says why "
                + "truncation is right, or checked((T)x) where the value must fit:\n"
                + string.Join('\n', offenders)
        );
    }
}
