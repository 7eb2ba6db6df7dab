using System.Text;
using System.Text.Json;
using Virtsim.Cli.Tests.Commands;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Export;

/// <summary><c>virtsim export --format chrome-json</c>: valid Trace Event Format, one track per actor, flows from kicks
/// to what they caused, byte-identical to a golden file for a committed trace.</summary>
public sealed class ChromeExportTests(ITestOutputHelper output)
{
    private const string GoldenName = "factorial.chrome.json";

    private static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "virtsim.slnx")))
            dir = Path.GetDirectoryName(dir);
        return dir
            ?? throw new InvalidOperationException("repository root (virtsim.slnx) not found above the test binaries");
    }

    private static string Committed(string name) => Path.Combine(RepositoryRoot(), "traces", "sim", name);

    private static JsonDocument Export(TempDir dir, string trace, out byte[] bytes)
    {
        string outFile = dir.File(Path.GetFileNameWithoutExtension(trace) + ".json");
        var (code, _, err) = CliRunner.Run("export", trace, "--format", "chrome-json", "-o", outFile);
        Assert.True(code == 0, err);
        bytes = File.ReadAllBytes(outFile);
        return JsonDocument.Parse(bytes);
    }

    private static List<JsonElement> Events(JsonDocument doc, string ph) =>
        doc
            .RootElement.GetProperty("traceEvents")
            .EnumerateArray()
            .Where(e => e.GetProperty("ph").GetString() == ph)
            .ToList();

    private static Dictionary<long, string> TrackNames(JsonDocument doc) =>
        Events(doc, "M")
            .Where(e => e.GetProperty("name").GetString() == "thread_name")
            .ToDictionary(
                e => e.GetProperty("tid").GetInt64(),
                e => e.GetProperty("args").GetProperty("name").GetString()!
            );

    [Theory]
    [InlineData("factorial.vtrace")]
    [InlineData("vhost-demo.vtrace")]
    [InlineData("counter.vtrace")]
    [InlineData("virtio-demo-legacy-exit.vtrace")]
    [InlineData("demo.vtrace")]
    public void Export_IsValidTraceEventFormat(string trace)
    {
        using TempDir dir = CliRunner.TempDir();
        using JsonDocument doc = Export(dir, Committed(trace), out _);
        List<string> problems = TraceEventFormatSchema.Check(doc.RootElement);
        Assert.True(problems.Count == 0, string.Join('\n', problems.Take(20)));
    }

    [Fact]
    public void SchemaCheck_CatchesBrokenDocuments()
    {
        static List<string> Check(string json) => TraceEventFormatSchema.Check(JsonDocument.Parse(json).RootElement);
        Assert.Empty(
            Check(
                """
                {"traceEvents":[
                    {"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"a"}},
                    {"ph":"X","name":"a","cat":"c","pid":1,"tid":1,"ts":1,"dur":1,"args":{}}
                ]}
                """
            )
        );
        Assert.NotEmpty(
            Check("""{"traceEvents":[{"ph":"X","name":"a","cat":"c","pid":1,"tid":1,"ts":1,"args":{}}]}""")
        );
        Assert.NotEmpty(
            Check(
                """
                {"traceEvents":[
                    {"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"a"}},
                    {"ph":"X","name":"a","cat":"c","pid":1,"tid":1,"ts":1,"dur":2,"args":{}},
                    {"ph":"X","name":"b","cat":"c","pid":1,"tid":1,"ts":2,"dur":1,"args":{}}
                ]}
                """
            )
        );
        Assert.NotEmpty(
            Check(
                """
                {"traceEvents":[
                    {"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"a"}},
                    {"ph":"X","name":"a","cat":"c","pid":1,"tid":1,"ts":1,"dur":1,"args":{}},
                    {"ph":"s","name":"k","cat":"f","id":1,"pid":1,"tid":1,"ts":1},
                    {"ph":"f","name":"k","cat":"f","id":1,"pid":1,"tid":1,"ts":5,"bp":"e"}
                ]}
                """
            )
        );
        Assert.NotEmpty(Check("""{"traceEvents":[{"ph":"B","name":"a","pid":1,"tid":1,"ts":1}]}"""));
    }

    [Fact]
    public void Export_OfACommittedTrace_MatchesTheGoldenFile()
    {
        using TempDir dir = CliRunner.TempDir();
        using JsonDocument doc = Export(dir, Committed("factorial.vtrace"), out byte[] exported);
        // The trace's header names the commit that generated it, and regenerating the committed traces rewrites it:
        // the golden file holds a placeholder there, so it changes only when the export itself does.
        string commit = doc.RootElement.GetProperty("otherData").GetProperty("commit").GetString()!;
        Assert.Matches("^[0-9a-f]{40}$", commit);
        byte[] actual = Encoding.UTF8.GetBytes(
            Encoding
                .UTF8.GetString(exported)
                .Replace($"\"commit\":\"{commit}\"", "\"commit\":\"<trace commit>\"", StringComparison.Ordinal)
        );
        string golden = Path.Combine(RepositoryRoot(), "tests", "Cli.Tests", "Export", GoldenName);
        if (Environment.GetEnvironmentVariable("VIRTSIM_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllBytes(golden, actual);
            output.WriteLine($"updated {golden}");
        }
        Assert.True(File.Exists(golden), $"{golden} is missing; VIRTSIM_UPDATE_GOLDEN=1 writes it");
        Assert.True(
            File.ReadAllBytes(golden).AsSpan().SequenceEqual(actual),
            $"the export differs from {golden}; if the change is deliberate, rerun with VIRTSIM_UPDATE_GOLDEN=1 and "
                + "review the diff"
        );
    }

    [Fact]
    public void Vhost_HasOneTrackPerActor_AndAFlowFromEveryKickToItsInterrupt()
    {
        using TempDir dir = CliRunner.TempDir();
        using JsonDocument doc = Export(dir, Committed("vhost-demo.vtrace"), out _);
        Dictionary<long, string> tracks = TrackNames(doc);
        output.WriteLine(string.Join(", ", tracks.Values));
        Assert.Contains("vCPU 0", tracks.Values);
        Assert.Contains("vhost worker (actor 0x46)", tracks.Values);
        Assert.Contains("QEMU main loop (actor 0x45)", tracks.Values);

        List<JsonElement> slices = Events(doc, "X");
        int kicks = slices.Count(e => e.GetProperty("name").GetString() == "IoEventFd");
        long worker = tracks.Single(kv => kv.Value.StartsWith("vhost worker", StringComparison.Ordinal)).Key;
        List<JsonElement> starts = Events(doc, "s");
        List<JsonElement> finishes = Events(doc, "f");
        Assert.Equal(
            kicks,
            starts.Count(s => slices.Any(x => x.GetProperty("name").GetString() == "IoEventFd" && Same(x, s)))
        );
        // Each kick's flow goes through the vhost worker's wake-up and ends at an injected interrupt.
        Assert.All(
            Events(doc, "t")
                .Where(t =>
                    starts.Any(s =>
                        s.GetProperty("id").GetInt64() == t.GetProperty("id").GetInt64()
                        && s.GetProperty("ts").GetDecimal() > 1
                    )
                ),
            t => Assert.Equal(worker, t.GetProperty("tid").GetInt64())
        );
        int toInterrupt = finishes.Count(f =>
            slices.Any(x => x.GetProperty("name").GetString() == "IrqInject" && Same(x, f))
        );
        Assert.Equal(kicks, toInterrupt);
    }

    [Fact]
    public void Counter_HasADeviceTimerTrack_AndQemuCompletionsInFlows()
    {
        using TempDir dir = CliRunner.TempDir();
        using JsonDocument doc = Export(dir, Committed("counter.vtrace"), out _);
        Dictionary<long, string> tracks = TrackNames(doc);
        Assert.Contains(tracks.Values, n => n.StartsWith("device timer ", StringComparison.Ordinal));
        List<JsonElement> slices = Events(doc, "X");
        Assert.All(slices.Where(x => x.GetProperty("name").GetString() == "TimerFire"), x =>
            Assert.StartsWith("device timer", tracks[x.GetProperty("tid").GetInt64()], StringComparison.Ordinal)
        );
        JsonElement result = slices.First(x => x.GetProperty("name").GetString() == "DeviceResult");
        Assert.Equal("completion", result.GetProperty("cat").GetString());
        Assert.True(result.GetProperty("args").TryGetProperty("t_ns", out _));
    }

    [Fact]
    public void Export_NeverOverwritesWithoutForce_AndRefusesOtherFormats()
    {
        using TempDir dir = CliRunner.TempDir();
        string outFile = dir.File("x.json");
        File.WriteAllText(outFile, "mine");
        var (code, _, err) = CliRunner.Run("export", Committed("demo.vtrace"), "-o", outFile);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--force", err, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(outFile));
        Assert.Equal(ExitCodes.Ok, CliRunner.Run("export", Committed("demo.vtrace"), "-o", outFile, "--force").Code);
        Assert.Equal(
            ExitCodes.UsageOrInput,
            CliRunner.Run("export", Committed("demo.vtrace"), "--format", "svg", "-o", dir.File("y")).Code
        );
    }

    private static bool Same(JsonElement slice, JsonElement flow) =>
        slice.GetProperty("tid").GetInt64() == flow.GetProperty("tid").GetInt64()
        && slice.GetProperty("ts").GetDecimal() == flow.GetProperty("ts").GetDecimal();
}
