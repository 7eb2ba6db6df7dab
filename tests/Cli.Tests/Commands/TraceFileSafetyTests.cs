using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>Paths the trace commands are given: a missing output directory is refused (not created), directory links
/// are not followed, and a FIFO is refused instead of blocking the reader.</summary>
public sealed class TraceFileSafetyTests(ITestOutputHelper output)
{
    private static string Record(TempDir dir, string name)
    {
        string trace = dir.File(name);
        var (code, _, err) = CliRunner.Run("run", "ping", "--seed", "3", "--opt", "requests=2", "--trace", trace);
        Assert.True(code == 0, err);
        return trace;
    }

    [Fact]
    public void RunTrace_IntoAMissingDirectory_IsRefused_AndCreatesNothing()
    {
        using TempDir dir = CliRunner.TempDir();
        string missing = Path.Combine(dir.Path, "no", "such");
        var (code, _, err) = CliRunner.Run(
            "run",
            "ping",
            "--opt",
            "requests=2",
            "--trace",
            Path.Combine(missing, "t.vtrace")
        );
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("does not exist", err, StringComparison.Ordinal);
        Assert.StartsWith("virtsim: ", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "no")));
    }

    [Fact]
    public void Replay_DoesNotFollowDirectoryLinks()
    {
        using TempDir dir = CliRunner.TempDir();
        Record(dir, "a.vtrace");
        Directory.CreateSymbolicLink(dir.File("loop"), dir.Path);
        Directory.CreateDirectory(dir.File("sub"));
        File.CreateSymbolicLink(dir.File("sub/linked.vtrace"), dir.File("a.vtrace"));
        var (code, o, err) = CliRunner.Run("replay", dir.Path);
        output.WriteLine(o + err);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("replayed 2 traces: 2 ok", o, StringComparison.Ordinal);
        Assert.DoesNotContain("loop", o, StringComparison.Ordinal);
        Assert.Contains("loop: a link to a directory, not followed", err, StringComparison.Ordinal);
    }

    [Fact]
    public void AFifoNamedLikeATrace_IsRefused_NotRead()
    {
        using TempDir dir = CliRunner.TempDir();
        string fifo = dir.File("pipe.vtrace");
        if (!MakeFifo(fifo, out string why))
        {
            output.WriteLine($"skipped: cannot make a FIFO here ({why})");
            return;
        }
        // Opening the FIFO for reading would block forever: run each command with a deadline.
        var show = RunWithDeadline("show", fifo);
        Assert.Equal(ExitCodes.UsageOrInput, show.Code);
        Assert.Contains("not a regular file", show.Err, StringComparison.Ordinal);

        Record(dir, "a.vtrace");
        var replay = RunWithDeadline("replay", dir.Path);
        output.WriteLine(replay.Out);
        Assert.Equal(ExitCodes.UsageOrInput, replay.Code);
        Assert.Contains("replayed 2 traces: 1 ok, 0 diverged, 1 unreadable", replay.Out, StringComparison.Ordinal);
        Assert.Contains("pipe.vtrace: cannot open", replay.Out, StringComparison.Ordinal);
    }

    private static (int Code, string Out, string Err) RunWithDeadline(params string[] args)
    {
        var task = Task.Run(() => CliRunner.Run(args));
        Assert.True(task.Wait(TimeSpan.FromSeconds(60)), $"virtsim {string.Join(' ', args)} blocked on a FIFO");
        return task.Result;
    }

    private static bool MakeFifo(string path, out string why)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { RedirectStandardError = true })!;
            p.WaitForExit();
            why = p.ExitCode == 0 ? "" : p.StandardError.ReadToEnd();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            why = e.Message;
            return false;
        }
    }
}
