using Virtsim.Fuzz.Entry;
using Xunit.Abstractions;

namespace Fuzz.Tests;

/// <summary>Paths the fuzzer cannot write are refused with a <c>virtsim:</c> message and exit 2 before anything runs
/// (they used to end in an unhandled exception, or, for <c>--findings</c>, lose the first finding).</summary>
public sealed class UnwritablePathTests(ITestOutputHelper output) : IDisposable
{
    private const string Proc = "/proc/virtsim-no-such-dir";

    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-paths-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string AFile()
    {
        string file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "user data");
        return file;
    }

    private (int Code, string Out, string Err) Run(
        Func<string[], TextWriter, TextWriter, int> entry,
        params string[] args
    )
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = entry(args, o, e);
        output.WriteLine($"$ virtsim fuzz {string.Join(' ', args)} -> {code}\n{o}{e}");
        return (code, o.ToString(), e.ToString());
    }

    private void AssertRefusedBeforeStart((int Code, string Out, string Err) r, string option)
    {
        Assert.Equal(2, r.Code);
        Assert.StartsWith($"virtsim: {option} ", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("fuzz: target=", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Corpus_InProcOrAFile_IsRefused()
    {
        if (!Directory.Exists("/proc"))
            return;
        AssertRefusedBeforeStart(
            Run(
                FuzzEntry.Run,
                "--target",
                "guest-memory",
                "--runs",
                "10",
                "--corpus",
                Proc,
                "--findings",
                Path.Combine(_dir, "f")
            ),
            "--corpus"
        );
        string file = AFile();
        AssertRefusedBeforeStart(
            Run(
                FuzzEntry.Run,
                "--target",
                "guest-memory",
                "--runs",
                "10",
                "--corpus",
                file,
                "--findings",
                Path.Combine(_dir, "f")
            ),
            "--corpus"
        );
        Assert.Equal("user data", File.ReadAllText(file));
    }

    [Fact]
    public void Findings_InProcOrAFileOrBelowAFile_IsRefused()
    {
        if (!Directory.Exists("/proc"))
            return;
        AssertRefusedBeforeStart(
            Run(FuzzEntry.Run, "--target", "guest-memory", "--runs", "10", "--findings", Proc),
            "--findings"
        );
        AssertRefusedBeforeStart(
            Run(FuzzEntry.Run, "--target", "guest-memory", "--runs", "10", "--findings", AFile()),
            "--findings"
        );
        AssertRefusedBeforeStart(
            Run(FuzzEntry.Run, "--target", "guest-memory", "--runs", "10", "--findings", Path.Combine(AFile(), "sub")),
            "--findings"
        );
    }

    [Fact]
    public void InstrumentCache_InProc_IsRefusedBeforeInstrumenting()
    {
        if (!Directory.Exists("/proc"))
            return;
        var r = Run(
            FuzzHost.Run,
            "--target",
            "virtio-demo",
            "--runs",
            "10",
            "--findings",
            Path.Combine(_dir, "f"),
            "--instrument-cache",
            Proc
        );
        AssertRefusedBeforeStart(r, "--instrument-cache");
    }

    [Fact]
    public void EmitTestOut_InProcOrMissingDirectory_IsRefused()
    {
        if (!Directory.Exists("/proc"))
            return;
        string input = Path.Combine(_dir, "in.bin");
        File.WriteAllBytes(input, [4, 0, 0, 0x10, 0]);
        var r = Run(FuzzEntry.Run, "--target", "guest-memory", "--emit-test", input, "--out", Proc + ".cs");
        Assert.Equal(2, r.Code);
        Assert.StartsWith("virtsim: --out ", r.Err, StringComparison.Ordinal);
        r = Run(
            FuzzEntry.Run,
            "--target",
            "guest-memory",
            "--emit-test",
            input,
            "--out",
            Path.Combine(_dir, "missing", "X.cs")
        );
        Assert.Equal(2, r.Code);
        Assert.Contains("does not exist", r.Err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "missing")));
    }

    [Fact]
    public void AWritableMissingDirectory_IsAccepted_AndNotCreatedByTheCheck()
    {
        string missing = Path.Combine(_dir, "new", "findings");
        Assert.Null(WritableDirectory.Check(missing, "--findings"));
        Assert.False(Directory.Exists(Path.Combine(_dir, "new")));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Theory]
    [InlineData("2562048h")]
    [InlineData("8785h")]
    [InlineData("100000000h")]
    public void Time_BeyondTheMaximum_IsAUsageError(string time)
    {
        Assert.False(FuzzOptions.TryParse(["--target", "guest-memory", "--time", time], out _, out string? error));
        Assert.Contains("--time is at most 8784h", error, StringComparison.Ordinal);
        var r = Run(FuzzEntry.Run, "--target", "guest-memory", "--time", time, "--findings", Path.Combine(_dir, "f"));
        Assert.Equal(2, r.Code);
        Assert.StartsWith("virtsim: --time", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Time_AtTheMaximum_IsAccepted()
    {
        Assert.False(FuzzOptions.TryParse(["--target", "guest-memory", "--time", "100000000000h"], out _, out _));
        Assert.True(FuzzOptions.TryParse(["--target", "guest-memory", "--time", "8784h"], out FuzzOptions o, out _));
        Assert.Equal(FuzzOptions.TimeMax, o.Time);
    }
}
