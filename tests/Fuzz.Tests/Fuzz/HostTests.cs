using Virtsim.Fuzz.Entry;
using Xunit.Abstractions;

namespace Fuzz.Tests;

/// <summary>The whole instrumented path: <see cref="FuzzHost"/> instruments Sim.Engine into a cache, loads it with
/// Virtsim.Fuzz into its own load context and runs the guest-memory campaign there with edge coverage.</summary>
[Collection(CoverageMapCollection.Name)]
public sealed class HostTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-host-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = FuzzHost.Run(args, o, e);
        output.WriteLine($"$ virtsim fuzz {string.Join(' ', args)} -> {code}\n{o}{e}");
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void InstrumentedCampaign_ReportsEdges_AndReusesTheCache()
    {
        string cache = Path.Combine(_dir, "cache");
        string[] args =
        [
            "--target",
            "guest-memory",
            "--seed",
            "3",
            "--runs",
            "4000",
            "--findings",
            Path.Combine(_dir, "f"),
            "--instrument-cache",
            cache,
        ];
        (int code, string o, string e) = Run(args);
        Assert.Equal(0, code);
        Assert.Contains("instrumented Sim.Engine:", e, StringComparison.Ordinal);
        Assert.Contains("coverage: edges", o, StringComparison.Ordinal);
        string last = o.TrimEnd().Split('\n')[^1];
        var m = System.Text.RegularExpressions.Regex.Match(
            last,
            @"^execs=4000 exec_per_s=\d+ edges=(\d+) corpus=(\d+) findings=0$"
        );
        Assert.True(m.Success, last);
        int edges = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        int corpus = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(edges > 50, $"edges={edges}");
        Assert.True(corpus > 4, $"coverage feedback grew the corpus beyond the seeds: corpus={corpus}");
        Assert.Single(Directory.GetDirectories(cache));

        (int code2, string o2, string e2) = Run(args);
        Assert.Equal(0, code2);
        Assert.DoesNotContain("instrumented Sim.Engine:", e2, StringComparison.Ordinal);
        // Same seed and runs through the cached instrumented code: the same edges, corpus and findings.
        static string WithoutSpeed(string line) =>
            string.Join(' ', line.Split(' ').Where(p => !p.StartsWith("exec_per_s=", StringComparison.Ordinal)));
        Assert.Equal(WithoutSpeed(last), WithoutSpeed(o2.TrimEnd().Split('\n')[^1]));
        Assert.Single(Directory.GetDirectories(cache));
    }

    [Fact]
    public void NoCoverage_RunsInProcess()
    {
        (int code, string o, _) = Run(
            "--target",
            "guest-memory",
            "--seed",
            "3",
            "--runs",
            "200",
            "--no-coverage",
            "--findings",
            Path.Combine(_dir, "f")
        );
        Assert.Equal(0, code);
        Assert.Contains("coverage: unavailable: --no-coverage", o, StringComparison.Ordinal);
    }
}
