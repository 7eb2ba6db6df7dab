using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>`virtsim replay`: matches, divergences (exit 1) and unreadable traces (exit 2).</summary>
public sealed class ReplayCommandTests
{
    private static string Record(TempDir dir, string name = "ping.vtrace")
    {
        string trace = dir.File(name);
        var (code, _, err) = CliRunner.Run("run", "ping", "--seed", "3", "--opt", "requests=8", "--trace", trace);
        Assert.True(code == 0, err);
        return trace;
    }

    [Fact]
    public void ReplayOfAFreshRecording_Matches_Exit0()
    {
        using TempDir dir = CliRunner.TempDir();
        string trace = Record(dir);
        var (code, output, _) = CliRunner.Run("replay", trace);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("1 ok, 0 diverged, 0 unreadable", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ReplayOfADirectory_ReplaysEveryTrace_OneLineEach()
    {
        using TempDir dir = CliRunner.TempDir();
        Record(dir, "a.vtrace");
        Record(dir, "b.vtrace");
        var (code, output, _) = CliRunner.Run("replay", dir.Path);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("a.vtrace", output, StringComparison.Ordinal);
        Assert.Contains("b.vtrace", output, StringComparison.Ordinal);
        Assert.Contains("replayed 2 traces: 2 ok", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ATamperedDataByte_IsReportedAsTheFirstDivergence_Exit1()
    {
        using TempDir dir = CliRunner.TempDir();
        string trace = Record(dir);
        // The doorbell value the guest writes is the 4-byte payload 01 00 00 00: flip its top bit in every
        // such event, re-encoding the trace so that its footer agrees (a sound trace the run differs from;
        // TraceIntegrityCliTests has the same change without the footer: corrupt, exit 2).
        byte[] bytes = TraceRecoder.Recode(File.ReadAllBytes(trace), edit: (_, r) =>
            r.Data.Span.SequenceEqual(new byte[] { 1, 0, 0, 0 }) ? r with { Data = new byte[] { 0x81, 0, 0, 0 } } : r
        );
        File.WriteAllBytes(trace, bytes);
        var (code, output, _) = CliRunner.Run("replay", trace);
        Assert.Equal(ExitCodes.Finding, code);
        Assert.Contains("DIVERGED", output, StringComparison.Ordinal);
        Assert.Contains("Data differs", output, StringComparison.Ordinal);
        Assert.Contains("expected: 81 00 00 00", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ATruncatedTrace_IsUnreadable_NamesTheByteOffset_Exit2()
    {
        using TempDir dir = CliRunner.TempDir();
        string trace = Record(dir);
        byte[] bytes = File.ReadAllBytes(trace);
        File.WriteAllBytes(trace, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        var (code, output, _) = CliRunner.Run("replay", trace);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("ERROR", output, StringComparison.Ordinal);
        Assert.Matches(@"byte \d+: ", output);
        Assert.Contains("0 ok, 0 diverged, 1 unreadable", output, StringComparison.Ordinal);
    }

    [Fact]
    public void GarbageAndMissingFiles_AreInputErrors_Exit2()
    {
        using TempDir dir = CliRunner.TempDir();
        string garbage = dir.File("garbage.vtrace");
        var rng = new byte[4096];
        for (int i = 0; i < rng.Length; i++)
            rng[i] = (byte)(i * 131 + 7);
        File.WriteAllBytes(garbage, rng);
        var (code, output, _) = CliRunner.Run("replay", garbage);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("unreadable", output, StringComparison.Ordinal);
        (code, _, string err) = CliRunner.Run("replay", dir.File("missing.vtrace"));
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("neither a trace file nor a directory", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Show_ListsHeaderEventsAndFooter()
    {
        using TempDir dir = CliRunner.TempDir();
        string trace = Record(dir);
        var (code, output, _) = CliRunner.Run("show", trace, "--limit", "5");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("scenario ping, seed 3", output, StringComparison.Ordinal);
        Assert.Contains("#4 ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("#5 ", output, StringComparison.Ordinal);
        Assert.Contains("# end:", output, StringComparison.Ordinal);
    }
}
