using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>Ctrl-C (SIGINT) and SIGTERM end a fuzz campaign gracefully: the final statistics are printed and the exit
/// code is the campaign's, instead of the process dying at once. Runs the built <c>virtsim.dll</c> as a child process,
/// since a signal would end the test host.</summary>
public sealed class FuzzSignalTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("INT")]
    [InlineData("TERM")]
    public void Signal_StopsTheCampaign_WithFinalStatistics(string signal)
    {
        if (!OperatingSystem.IsLinux())
        {
            output.WriteLine("skipped: POSIX signals are tested on Linux");
            return;
        }
        using TempDir dir = CliRunner.TempDir();
        using Process p = Process.Start(CampaignStart(dir))!;
        var lines = new List<string>();
        using var started = new ManualResetEventSlim();
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (lines)
                lines.Add(e.Data);
            if (e.Data.StartsWith('#'))
                started.Set();
        };
        var err = new System.Text.StringBuilder();
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                lock (err)
                    err.AppendLine(e.Data);
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            Assert.True(started.Wait(TimeSpan.FromSeconds(120)), "no status line within 120 s");
            SendSignal(signal, p.Id);
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)), "the campaign did not stop within 60 s of the signal");
            p.WaitForExit();
        }
        finally
        {
            if (!p.HasExited)
                p.Kill();
        }
        string all;
        lock (lines)
            all = string.Join('\n', lines);
        output.WriteLine(all + "\n" + err);
        Assert.Equal(0, p.ExitCode);
        Assert.Contains($"SIG{signal} received", err.ToString(), StringComparison.Ordinal);
        Assert.Contains("stopped by signal", all, StringComparison.Ordinal);
        Assert.Contains("done: ", all, StringComparison.Ordinal);
        Assert.Matches(@"execs=\d+ exec_per_s=\d+ edges=\d+ corpus=\d+ findings=0$", all);
    }

    /// <summary>A 300-second campaign of the built virtsim on guest-memory, in <paramref name="dir"/>.</summary>
    private static ProcessStartInfo CampaignStart(TempDir dir)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "virtsim.dll");
        return new ProcessStartInfo(
            "dotnet",
            [
                dll,
                "fuzz",
                "--target",
                "guest-memory",
                "--no-coverage",
                "--seed",
                "1",
                "--time",
                "300s",
                "--corpus",
                dir.File("c"),
                "--findings",
                dir.File("f"),
            ]
        )
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir.Path,
        };
    }

    private static void SendSignal(string signal, int pid)
    {
        using Process kill = Process.Start(
            "kill",
            ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]
        );
        kill.WaitForExit();
    }
}
