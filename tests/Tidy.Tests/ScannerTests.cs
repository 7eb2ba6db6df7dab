using Xunit;

namespace Tidy.Tests;

/// <summary>Each tidy check can fail: synthetic inputs that break it, and the message it prints.</summary>
public class ScannerTests
{
    [Fact]
    public void Long_line_is_reported_with_its_place_and_width()
    {
        var text = "short\r\n" + new string('x', 121) + "\n" + new string('y', 120) + "\n";
        var offenders = Scanners.LongLines("a.cs", text).ToList();
        Assert.Equal(["a.cs:2: 121 columns"], offenders);
    }

    [Fact]
    public void Long_method_is_reported_and_a_70_line_one_is_not()
    {
        static string Method(string name, int bodyLines) =>
            $"void {name}()\n{{\n" + string.Concat(Enumerable.Repeat("    x++;\n", bodyLines)) + "}\n";
        var text = "class C\n{\nint x;\n" + Method("Fits", 67) + Method("TooLong", 68) + "}\n";
        var offenders = Scanners.LongMethods("c.cs", text).ToList();
        Assert.Single(offenders);
        Assert.StartsWith("c.cs:", offenders[0], StringComparison.Ordinal);
        Assert.EndsWith("TooLong is 71 lines", offenders[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Unchecked_is_counted_outside_its_homes_only()
    {
        const string text =
            "class C { ushort F(int i) => unchecked((ushort)i); void G() { unchecked { } } }\n"
            + "// unchecked in a comment and \"unchecked\" in a string do not count\n";
        Assert.Equal(["u.cs:1: unchecked", "u.cs:1: unchecked"], Scanners.Unchecked("u.cs", text).ToList());
        Assert.Empty(Scanners.Unchecked("src/Sim.Spec/Virtio/RingIndex.cs", text));
    }

    [Fact]
    public void Ratchet_fails_above_the_baseline_and_lists_offenders()
    {
        var failure = Ratchet.Check("long-lines", 1, ["a.cs:2: 121 columns", "b.cs:9: 130 columns"], "Wrap them.");
        Assert.NotNull(failure);
        Assert.Contains("rose from 1 to 2. Wrap them.", failure, StringComparison.Ordinal);
        Assert.Contains("b.cs:9: 130 columns", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Ratchet_fails_below_the_baseline_asking_to_lower_it()
    {
        var failure = Ratchet.Check("unchecked", 5, ["u.cs:1: unchecked"], "fix");
        Assert.NotNull(failure);
        Assert.Contains("lower 'unchecked' to 1", failure, StringComparison.Ordinal);
        Assert.Null(Ratchet.Check("unchecked", 1, ["u.cs:1: unchecked"], "fix"));
    }

    [Fact]
    public void Baseline_parses_names_and_rejects_junk()
    {
        var counts = Ratchet.ParseBaseline("# comment\nlong-lines 12\n\nunchecked 3\n");
        Assert.Equal(12, counts["long-lines"]);
        Assert.Equal(3, counts["unchecked"]);
        Assert.Throws<FormatException>(() => Ratchet.ParseBaseline("long-lines twelve\n"));
    }
}
