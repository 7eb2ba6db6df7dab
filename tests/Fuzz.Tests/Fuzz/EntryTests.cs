using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit.Abstractions;

namespace Fuzz.Tests;

public sealed class EntryTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-entry-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = FuzzEntry.Run(args, o, e);
        output.WriteLine($"$ virtsim fuzz {string.Join(' ', args)} -> {code}\n{o}{e}");
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void List_PrintsOneTargetPerLine_NameFirst()
    {
        (int code, string o, _) = Run("--list");
        Assert.Equal(0, code);
        string[] lines = o.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(FuzzTargets.All.Count, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("guest-memory ", StringComparison.Ordinal));
    }

    [Fact]
    public void Registry_NamesAreUniqueAndTargetsWellFormed()
    {
        IReadOnlyList<IFuzzTarget> all = FuzzTargets.All;
        Assert.Equal(all.Count, all.Select(t => t.Name).Distinct(StringComparer.Ordinal).Count());
        foreach (IFuzzTarget t in all)
        {
            Assert.Matches("^[a-z0-9-]+$", t.Name);
            Assert.False(string.IsNullOrWhiteSpace(t.Description));
            Assert.NotNull(FuzzTargets.Create(t.Name));
            Assert.DoesNotContain("Virtsim.Fuzz", t.InstrumentedAssemblies);
            Assert.NotEmpty(t.SeedCorpus());
        }
    }

    [Fact]
    public void Usage_Errors_Exit2()
    {
        Assert.Equal(2, Run("--target").Code);
        Assert.Equal(2, Run("--target", "no-such-target", "--runs", "1").Code);
        Assert.Equal(2, Run("--target", "guest-memory").Code);
        Assert.Equal(2, Run("--bogus").Code);
        Assert.Equal(2, Run("--target", "guest-memory", "--reproduce", Path.Combine(_dir, "missing")).Code);
    }

    [Fact]
    public void GuestMemoryCampaign_Uninstrumented_ReportsCoverageUnavailable_AndPrintsMachineReadableLastLine()
    {
        (int code, string o, _) = Run(
            "--target",
            "guest-memory",
            "--seed",
            "11",
            "--runs",
            "3000",
            "--findings",
            Path.Combine(_dir, "f"),
            "--corpus",
            Path.Combine(_dir, "c")
        );
        Assert.Equal(0, code);
        string[] lines = o.TrimEnd().Split('\n');
        Assert.StartsWith("fuzz: target=guest-memory seed=11", lines[0], StringComparison.Ordinal);
        Assert.Contains("coverage: unavailable", o, StringComparison.Ordinal);
        Assert.Matches(@"^execs=3000 exec_per_s=\d+ edges=0 corpus=\d+ findings=0$", lines[^1]);
    }

    [Fact]
    public void Reproduce_Exits1WhenAnOracleFires_0Otherwise()
    {
        string clean = Path.Combine(_dir, "clean.bin");
        File.WriteAllBytes(clean, FuzzTargets.Create("guest-memory")!.SeedCorpus().First());
        (int code, string o, _) = Run("--target", "guest-memory", "--reproduce", clean);
        Assert.Equal(0, code);
        Assert.Contains("no oracle fired", o, StringComparison.Ordinal);
    }

    [Fact]
    public void EmitTest_ProducesAnXunitFactHoldingTheBytes()
    {
        var finding = new FindingReport("used-ring", "used-ring/len-exceeds-writable", "len 9 > 8 \"writable\"", null);
        string source = RegressionTestEmitter.Emit(
            "split-virtqueue",
            3,
            finding,
            [0x00, 0x01, 0xff],
            expectFires: false
        );
        output.WriteLine(source);
        Assert.Contains(
            "public sealed class Regression_SplitVirtqueue_UsedRingLenExceedsWritable",
            source,
            StringComparison.Ordinal
        );
        Assert.Contains(
            "public void SplitVirtqueue_UsedRingLenExceedsWritable_DoesNotFire()",
            source,
            StringComparison.Ordinal
        );
        Assert.Contains("[Fact]", source, StringComparison.Ordinal);
        Assert.Contains("0x00, 0x01, 0xff,", source, StringComparison.Ordinal);
        Assert.Contains("FuzzReplay.Run(\"split-virtqueue\", 3, Input)", source, StringComparison.Ordinal);
        Assert.Contains("Assert.False(result.Fired, result.Describe());", source, StringComparison.Ordinal);

        string pinned = RegressionTestEmitter.Emit("split-virtqueue", 3, finding, [1], expectFires: true);
        Assert.Contains("_StillFires()", pinned, StringComparison.Ordinal);
        Assert.Contains(
            "Assert.Equal(\"used-ring/len-exceeds-writable\", result.Finding?.Site);",
            pinned,
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void EmitTest_FromTheCommandLine_WritesAFileWithoutOverwriting()
    {
        string input = Path.Combine(_dir, "in.bin");
        File.WriteAllBytes(input, [4, 0, 0, 0x10, 0]);
        string outFile = Path.Combine(_dir, "Regression.cs");
        Assert.Equal(0, Run("--target", "guest-memory", "--emit-test", input, "--out", outFile).Code);
        string source = File.ReadAllText(outFile);
        Assert.Contains("FuzzReplay.Run(\"guest-memory\", 1, Input)", source, StringComparison.Ordinal);
        Assert.Equal(2, Run("--target", "guest-memory", "--emit-test", input, "--out", outFile).Code);
        Assert.Equal(source, File.ReadAllText(outFile));
        Assert.Equal(2, Run("--target", "guest-memory", "--emit-test", input, "--expect-fires").Code);
    }

    [Fact]
    public void Replay_RefusesAStaleInputFormat()
    {
        Assert.Throws<InvalidOperationException>(() => FuzzReplay.Run("guest-memory", 99, []));
        Assert.False(FuzzReplay.Run("guest-memory", 1, []).Fired);
    }

    [Fact]
    public void Options_ParseDurationsAndBothForms()
    {
        Assert.True(
            FuzzOptions.TryParse(
                ["fuzz", "--target=guest-memory", "--seed", "42", "--time", "90s", "--no-minimize"],
                out FuzzOptions o,
                out _
            )
        );
        Assert.Equal("guest-memory", o.Target);
        Assert.Equal(42UL, o.Seed);
        Assert.Equal(TimeSpan.FromSeconds(90), o.Time);
        Assert.True(o.NoMinimize);
        Assert.True(FuzzOptions.TryParseDuration("5m", out TimeSpan m) && m == TimeSpan.FromMinutes(5));
        Assert.True(FuzzOptions.TryParseDuration("1500ms", out TimeSpan ms) && ms == TimeSpan.FromMilliseconds(1500));
        Assert.True(FuzzOptions.TryParseDuration("2h", out TimeSpan h) && h == TimeSpan.FromHours(2));
        Assert.False(FuzzOptions.TryParseDuration("-1s", out _));
        Assert.False(FuzzOptions.TryParseDuration("soon", out _));
        Assert.False(FuzzOptions.TryParse(["--seed", "-3"], out _, out _));
        Assert.False(FuzzOptions.TryParse(["--reproduce", "a", "--emit-test", "b"], out _, out _));
    }
}
