using Virtsim.Cli.Tests.Commands;
using Virtsim.Fuzz.Workers;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Campaign;

/// <summary>
/// <c>virtsim fuzz -o DIR --jobs 2</c> as real processes: two workers sharing one AFL++-layout directory and importing
/// each other's queues; SIGTERM stops them gracefully with final statistics; <c>kill -9</c> of the supervisor and a
/// worker loses nothing and the next start resumes, leaving no temporary files; <c>fuzz report</c> renders it.
/// </summary>
public sealed class CampaignProcessTests(ITestOutputHelper output)
{
    private const string Target = "split-virtqueue";
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(120);

    [Fact]
    public void Jobs2_ShareTheDirectory_ImportEachOther_PrintFinalStatistics_AndReport()
    {
        using TempDir dir = CliRunner.TempDir();
        string root = dir.File("c");
        using var run = new CampaignProcess(
            "fuzz",
            "--target",
            Target,
            "-o",
            root,
            "--jobs",
            "2",
            "--time",
            "8s",
            "--sync-every",
            "1s",
            "--seed",
            "5",
            "--status",
            "plain"
        );
        Assert.True(run.WaitForExit(Startup), run.Output);
        output.WriteLine(run.Output);
        Assert.Equal(0, run.Process.ExitCode);
        Assert.Contains("final statistics", run.Output, StringComparison.Ordinal);
        var layout = new CampaignLayout(root);
        Assert.Equal([$"{Target}-w0", $"{Target}-w1"], layout.Workers());
        Assert.True(File.Exists(Path.Combine(layout.Worker($"{Target}-w0"), CampaignLayout.MainNodeName)));
        Assert.False(File.Exists(Path.Combine(layout.Worker($"{Target}-w1"), CampaignLayout.MainNodeName)));
        AssertWorkersImportedEachOther(layout, run.Output);
        AssertPlainReport(root);
        AssertSourceCoverageReport(root, layout);
    }

    [Fact]
    public void Sigterm_StopsGracefully_Kill9_LosesNothing_AndTheNextStartResumes()
    {
        using TempDir dir = CliRunner.TempDir();
        string root = dir.File("c");
        var layout = new CampaignLayout(root);
        string w0 = $"{Target}-w0",
            w1 = $"{Target}-w1";
        string[] args =
        [
            "fuzz",
            "--target",
            Target,
            "-o",
            root,
            "--jobs",
            "2",
            "--time",
            "300s",
            "--sync-every",
            "1s",
            "--status",
            "plain",
        ];

        StopWithSigterm(args, layout, w0, w1);
        KillWorkerAndSupervisor(args, layout, w0, w1);
        int before0 = Directory.GetFiles(layout.Queue(w0)).Length,
            before1 = Directory.GetFiles(layout.Queue(w1)).Length;
        string[] names1 = Directory
            .GetFiles(layout.Queue(w1))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => !n.StartsWith('.'))
            .ToArray();

        ResumeForThreeSeconds(root);
        string log1 = File.ReadAllText(layout.Log(w1));
        output.WriteLine(log1);
        Assert.Matches(@"resuming: (\d+) corpus entries", log1);
        Assert.All(names1, n => Assert.True(File.Exists(Path.Combine(layout.Queue(w1), n)), n)); // nothing lost
        Assert.True(Directory.GetFiles(layout.Queue(w0)).Length >= before0);
        Assert.True(Directory.GetFiles(layout.Queue(w1)).Length >= before1);
        // No temporary file survives.
        Assert.Empty(Directory.EnumerateFileSystemEntries(root, ".*.tmp-*", SearchOption.AllDirectories));
    }

    /// <summary>Each worker's queue holds entries imported from the other, and its stats are written and
    /// final.</summary>
    private static void AssertWorkersImportedEachOther(CampaignLayout layout, string runOutput)
    {
        foreach ((string me, string other) in new[] { ("w0", "w1"), ("w1", "w0") })
        {
            string[] queue = Directory
                .GetFiles(layout.Queue($"{Target}-{me}"))
                .Select(Path.GetFileName)
                .OfType<string>()
                .ToArray();
            Assert.Contains(queue, n => n.Contains($",sync:{Target}-{other},", StringComparison.Ordinal));
            Assert.Contains($"[", runOutput, StringComparison.Ordinal);
            Dictionary<string, string> stats = StatsFile.Read(layout.FuzzerStats($"{Target}-{me}"));
            Assert.True(StatsFile.Number(stats, "execs_done") > 0);
            Assert.Equal(queue.Length, (int)StatsFile.Number(stats, "corpus_count"));
            Assert.Equal("stopped", StatsFile.Read(layout.VirtsimStats($"{Target}-{me}"))["state"]);
        }
        // Worker seeds differ (derived from the campaign seed), so their queues differ.
        Assert.NotEqual(
            StatsFile.Read(layout.VirtsimStats($"{Target}-w0"))["seed"],
            StatsFile.Read(layout.VirtsimStats($"{Target}-w1"))["seed"]
        );
    }

    /// <summary><c>fuzz report</c> writes a self-contained HTML report (plots, both workers, no script, no
    /// external link).</summary>
    private void AssertPlainReport(string root)
    {
        (int code, string stdout, string stderr) = CliRunner.Run("fuzz", "report", root);
        Assert.True(code == 0, stderr);
        string html = File.ReadAllText(Path.Combine(root, "report.html"));
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains($"{Target}-w1", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.DoesNotContain(
            "http://",
            html.Replace("http://www.w3.org/", "", StringComparison.Ordinal),
            StringComparison.Ordinal
        );
        output.WriteLine(stdout);
    }

    private void AssertSourceCoverageReport(string root, CampaignLayout layout)
    {
        // Run as a program, the report also replays the queues (a child `virtsim fuzz blocks`) for source coverage:
        // split-virtqueue's SplitQueue.cs has lines the campaign reached and lines it never did.
        string withSource = Path.Combine(root, "report-source.html");
        using (var report = new CampaignProcess("fuzz", "report", root, "--output", withSource))
        {
            Assert.True(report.WaitForExit(Startup), report.Output);
            output.WriteLine(report.Output);
            Assert.Equal(0, report.Process.ExitCode);
            Assert.Contains($"{Target}: source coverage from ", report.Output, StringComparison.Ordinal);
        }
        string source = File.ReadAllText(withSource);
        Assert.Contains("<h3>Source coverage</h3>", source, StringComparison.Ordinal);
        int queued =
            Directory.GetFiles(layout.Queue($"{Target}-w0")).Length
            + Directory.GetFiles(layout.Queue($"{Target}-w1")).Length;
        Assert.Contains($"The queue ({queued} inputs) replayed once", source, StringComparison.Ordinal);
        // Names are relative to the directory all reached files share: src/ once Sim.Spec's files are reached too.
        int at = source.IndexOf("Virtio/Queue/SplitQueue.cs</code></summary>", StringComparison.Ordinal);
        Assert.True(at > 0, "SplitQueue.cs is rendered");
        string listing = source[at..source.IndexOf("</details>", at, StringComparison.Ordinal)];
        Assert.Contains("<span class=\"h\">", listing, StringComparison.Ordinal);
        Assert.Contains("<span class=\"m\">", listing, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", source, StringComparison.Ordinal);
    }

    /// <summary>SIGTERM to the supervisor of a running campaign: the workers stop gracefully, stats and logs
    /// final.</summary>
    private void StopWithSigterm(string[] args, CampaignLayout layout, string w0, string w1)
    {
        using (var run = new CampaignProcess(args))
        {
            Assert.True(
                CampaignProcess.WaitUntil(() => Running(layout, w0) && Running(layout, w1), Startup),
                run.Output
            );
            CampaignProcess.Signal(run.Process.Id, "TERM");
            Assert.True(run.WaitForExit(TimeSpan.FromSeconds(60)), run.Output);
            output.WriteLine(run.Output);
            Assert.Contains("SIGTERM: stopping the workers", run.Output, StringComparison.Ordinal);
            Assert.Contains("final statistics", run.Output, StringComparison.Ordinal);
            Assert.Equal("stopped", StatsFile.Read(layout.VirtsimStats(w0))["state"]);
            Assert.Contains("stopped: SIGTERM", File.ReadAllText(layout.Log(w1)), StringComparison.Ordinal);
        }
    }

    /// <summary><c>kill -9</c> of worker w1 and then of the supervisor: the orphaned worker w0 notices and stops on
    /// its own.</summary>
    private static void KillWorkerAndSupervisor(string[] args, CampaignLayout layout, string w0, string w1)
    {
        int w1Pid;
        using (var run = new CampaignProcess(args))
        {
            Assert.True(
                CampaignProcess.WaitUntil(
                    () => Running(layout, w0) && Running(layout, w1) && Fresh(layout, w1),
                    Startup
                ),
                run.Output
            );
            w1Pid = (int)StatsFile.Number(StatsFile.Read(layout.FuzzerStats(w1)), "fuzzer_pid");
            Thread.Sleep(1500);
            CampaignProcess.Signal(w1Pid, "KILL");
            CampaignProcess.Signal(run.Process.Id, "KILL");
            Assert.True(run.WaitForExit(TimeSpan.FromSeconds(30)));
            // The orphaned worker notices its supervisor is gone and stops on its own, stats written.
            Assert.True(
                CampaignProcess.WaitUntil(
                    () => StatsFile.Read(layout.VirtsimStats(w0)).GetValueOrDefault("state") == "stopped",
                    TimeSpan.FromSeconds(60)
                )
            );
            Assert.Contains("the supervising process", File.ReadAllText(layout.Log(w0)), StringComparison.Ordinal);
        }
    }

    private void ResumeForThreeSeconds(string root)
    {
        using (
            var run = new CampaignProcess([
                "fuzz",
                "--target",
                Target,
                "-o",
                root,
                "--jobs",
                "2",
                "--time",
                "3s",
                "--status",
                "plain",
            ])
        )
        {
            Assert.True(run.WaitForExit(Startup), run.Output);
            output.WriteLine(run.Output);
            Assert.Equal(0, run.Process.ExitCode);
            Assert.Contains("resuming campaign in", run.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MoreTargetsThanJobs_WorkersTakeTurns_EachTargetGetsASlice()
    {
        using TempDir dir = CliRunner.TempDir();
        string root = dir.File("c");
        using var run = new CampaignProcess(
            "fuzz",
            "--target",
            "split-virtqueue,guest-memory",
            "-o",
            root,
            "--jobs",
            "1",
            "--time",
            "100s",
            "--slice",
            "10s",
            "--seed",
            "2",
            "--status",
            "plain"
        );
        Assert.True(run.WaitForExit(TimeSpan.FromSeconds(240)), run.Output);
        output.WriteLine(run.Output);
        Assert.Equal(0, run.Process.ExitCode);
        Assert.Contains("workers take turns over 2 targets", run.Output, StringComparison.Ordinal);
        var layout = new CampaignLayout(root);
        Assert.Equal(["guest-memory-w0", "split-virtqueue-w0"], layout.Workers());
        Assert.All(layout.Workers(), w =>
            Assert.True(StatsFile.Number(StatsFile.Read(layout.FuzzerStats(w)), "execs_done") > 0, w)
        );
    }

    private static bool Running(CampaignLayout layout, string worker) =>
        StatsFile.Read(layout.VirtsimStats(worker)).GetValueOrDefault("state") == "running"
        && Directory.GetFiles(layout.Queue(worker)).Length > 0;

    private static bool Fresh(CampaignLayout layout, string worker)
    {
        Dictionary<string, string> s = StatsFile.Read(layout.FuzzerStats(worker));
        return StatsFile.Number(s, "fuzzer_pid") > 0
            && DateTimeOffset.UtcNow.ToUnixTimeSeconds() - StatsFile.Number(s, "last_update") < 5;
    }
}
