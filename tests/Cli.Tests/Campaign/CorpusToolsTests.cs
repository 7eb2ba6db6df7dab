using Virtsim.Cli.Tests.Commands;
using Virtsim.Fuzz.Workers;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Campaign;

/// <summary><c>virtsim fuzz cmin</c> keeps every (edge, bucket) tuple of a campaign's queue in fewer inputs;
/// <c>virtsim fuzz triage</c> turns a pile of crash files into one saved finding per (oracle, site).</summary>
[Collection(TraceMapCollection.Name)]
public sealed class CorpusToolsTests(ITestOutputHelper output)
{
    [Fact]
    public void Cmin_KeepsEveryTuple_InFewerInputs_AndRefusesANonEmptyOutput()
    {
        using TempDir dir = CliRunner.TempDir();
        string root = dir.File("c");
        using (
            var run = new CampaignProcess(
                "fuzz",
                "--target",
                "split-virtqueue",
                "-o",
                root,
                "--jobs",
                "1",
                "--time",
                "4s",
                "--seed",
                "3",
                "--status",
                "plain"
            )
        )
        {
            Assert.True(run.WaitForExit(TimeSpan.FromSeconds(120)), run.Output);
        }
        int queued = Directory.GetFiles(new CampaignLayout(root).Queue("split-virtqueue-w0")).Length;
        string min = dir.File("min");
        (int code, string stdout, string stderr) = CliRunner.Run(
            "fuzz",
            "cmin",
            "--target",
            "split-virtqueue",
            root,
            min
        );
        output.WriteLine(stdout + stderr);
        Assert.Equal(0, code);
        var m = System.Text.RegularExpressions.Regex.Match(
            stdout,
            @"cmin: (\d+) inputs -> (\d+) in .*keep all (\d+) \(edge, hit-count bucket\) tuples"
        );
        Assert.True(m.Success, stdout);
        Assert.Equal(queued, int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        int kept = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(kept, 1, queued - 1);
        Assert.Equal(kept, Directory.GetFiles(min).Length);

        // The minimised corpus, minimised again, shows the same tuples: nothing was lost.
        (code, string again, _) = CliRunner.Run("fuzz", "cmin", "--target", "split-virtqueue", min, dir.File("min2"));
        Assert.Equal(0, code);
        Assert.Equal(
            m.Groups[3].Value,
            System.Text.RegularExpressions.Regex.Match(again, @"keep all (\d+) ").Groups[1].Value
        );
        Assert.Equal(2, CliRunner.Run("fuzz", "cmin", "--target", "split-virtqueue", root, min).Code);
    }

    [Fact]
    public void Triage_CrashFiles_BecomeOneMinimisedFindingPerSite_WithTraceAndSummary()
    {
        using TempDir dir = CliRunner.TempDir();
        string crashes = Directory.CreateDirectory(dir.File("crashes")).FullName;
        // Our own campaign's findings of the seed flavour stand in for an external engine's crash files.
        string root = dir.File("c");
        using (
            var run = new CampaignProcess(
                "fuzz",
                "--target",
                "virtio-blk-qemu-seed",
                "-o",
                root,
                "--jobs",
                "1",
                "--time",
                "10s",
                "--seed",
                "9",
                "--status",
                "plain"
            )
        )
        {
            Assert.True(run.WaitForExit(TimeSpan.FromSeconds(120)), run.Output);
        }
        string[] crashFiles = Directory.GetFiles(new CampaignLayout(root).Crashes("virtio-blk-qemu-seed-w0"));
        Assert.NotEmpty(crashFiles);
        int i = 0;
        foreach (string f in crashFiles)
        {
            File.Copy(f, Path.Combine(crashes, $"crash-{i++}"));
            File.Copy(f, Path.Combine(crashes, $"id:{i:D6},sig:06,dup")); // the same crash twice
        }
        File.WriteAllBytes(Path.Combine(crashes, "timeout-quiet"), [0]);
        string findings = dir.File("findings");
        (int code, string stdout, string stderr) = CliRunner.Run(
            "fuzz",
            "triage",
            "--target",
            "virtio-blk-qemu-seed",
            crashes,
            findings
        );
        output.WriteLine(stdout + stderr);
        Assert.Equal(1, code);
        string[] saved = Directory.GetDirectories(findings);
        Assert.Equal(crashFiles.Length, saved.Length);
        Assert.All(saved, d =>
            Assert.True(File.Exists(Path.Combine(d, "summary.txt")) && File.Exists(Path.Combine(d, "input.bin")))
        );
        Assert.Contains("no oracle fires now:", stdout, StringComparison.Ordinal);
        Assert.Contains(
            $"triage: {2 * crashFiles.Length + 1} files, {2 * crashFiles.Length} fire, {crashFiles.Length} distinct",
            stdout,
            StringComparison.Ordinal
        );
        // A second triage of the same files saves nothing new.
        (_, string again, _) = CliRunner.Run("fuzz", "triage", "--target", "virtio-blk-qemu-seed", crashes, findings);
        Assert.Contains($"0 saved to {findings}, {crashFiles.Length} known before", again, StringComparison.Ordinal);
    }
}
