using System.Diagnostics;
using Virtsim.Cli.Tests.Commands;
using Virtsim.Fuzz.Workers;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Campaign;

/// <summary>
/// A campaign over two machines, each with its own campaign directory, kept in step by scripts/sync-campaigns.sh
/// (standing in for shared storage or a cron'd copy): after a sync each machine's workers import the other's.
/// </summary>
public sealed class MultiMachineSyncTests(ITestOutputHelper output)
{
    private const string Target = "split-virtqueue";

    [Fact]
    public void TwoDirectories_SyncedByTheScript_ImportEachOthersEntries()
    {
        using TempDir dir = CliRunner.TempDir();
        string a = dir.File("machine-a"),
            b = dir.File("machine-b");
        Campaign(a, "a", "4s");
        Campaign(b, "b", "4s");
        string aWorker = $"a-{Target}-w0",
            bWorker = $"b-{Target}-w0";
        Assert.Equal([aWorker], new CampaignLayout(a).Workers());

        var psi = new ProcessStartInfo("bash")
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            ArgumentList = { Path.Combine(RepositoryRoot(), "scripts", "sync-campaigns.sh"), a, b },
        };
        using (var sync = Process.Start(psi)!)
        {
            string err = sync.StandardError.ReadToEnd();
            sync.WaitForExit();
            Assert.True(sync.ExitCode == 0, err);
        }
        var la = new CampaignLayout(a);
        var lb = new CampaignLayout(b);
        Assert.Equal([aWorker, bWorker], la.Workers());
        Assert.Equal(Directory.GetFiles(lb.Queue(bWorker)).Length, Directory.GetFiles(la.Queue(bWorker)).Length);
        Assert.Equal(Target, la.TargetOf(bWorker));

        Campaign(a, "a", "3s");
        Campaign(b, "b", "3s");
        foreach ((string root, string me, string other) in new[] { (a, aWorker, bWorker), (b, bWorker, aWorker) })
        {
            var layout = new CampaignLayout(root);
            string log = File.ReadAllText(layout.Log(me));
            output.WriteLine(log);
            Assert.Matches(@"sync: read [1-9]\d* entries from other instances", log);
            Assert.True(
                SyncImporter.ReadMinAccept(Path.Combine(layout.Synced(me), other)) > 0,
                $"{me} never imported from {other}"
            );
        }
    }

    private static void Campaign(string root, string machine, string time)
    {
        using var run = new CampaignProcess(
            "fuzz",
            "--target",
            Target,
            "-o",
            root,
            "--machine",
            machine,
            "--jobs",
            "1",
            "--time",
            time,
            "--seed",
            "4",
            "--status",
            "plain"
        );
        Assert.True(run.WaitForExit(TimeSpan.FromSeconds(120)), run.Output);
        Assert.True(run.Process.ExitCode == 0, run.Output);
    }

    private static string RepositoryRoot()
    {
        for (string? d = AppContext.BaseDirectory; d is not null; d = Path.GetDirectoryName(d))
        {
            if (File.Exists(Path.Combine(d, "virtsim.slnx")))
                return d;
        }
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}
