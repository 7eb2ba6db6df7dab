using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Workers;

namespace Fuzz.Tests.Workers;

/// <summary>
/// A campaign worker in-process on a scripted target whose "coverage" is one map byte per value of the input's
/// first two bytes: the queue, stats and plot files it writes, resume, the shared findings registry, imports from
/// another worker, and the clean-up of a killed run's temporary files.
/// </summary>
public sealed class CampaignWorkerTests : IDisposable
{
    private const byte FlawByte = 0xAB;
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-worker-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Worker_WritesAflQueueAndStats_AndResumeLoadsEverythingWithoutRewriting()
    {
        var layout = new CampaignLayout(_dir);
        (CampaignResult first, string log1) = RunWorker(layout, "w0", seed: 1, runs: 3000);
        string[] queue = QueueNames(layout, "w0");
        Assert.Equal(first.Corpus.Count, queue.Length);
        Assert.All(queue, n => Assert.Matches(@"^id:\d{6},", n));
        Assert.Contains("new campaign directory", log1, StringComparison.Ordinal);
        Dictionary<string, string> stats = StatsFile.Read(layout.FuzzerStats("w0"));
        Assert.Equal(3000, StatsFile.Number(stats, "execs_done"));
        Assert.Equal(first.Corpus.Count, StatsFile.Number(stats, "corpus_count"));
        Assert.Equal(first.Edges, StatsFile.Number(stats, "edges_found"));
        Assert.Equal(100, StatsFile.Number(stats, "stability")); // the scripted target is deterministic
        Assert.NotEmpty(PlotDataFile.Read(layout.PlotData("w0")));

        // A stale temporary file of a killed run, as AtomicFile names them; pid 0 never runs a writer.
        string stale = Path.Combine(layout.Queue("w0"), ".id:000999,op:havoc.tmp-999999999-1");
        File.WriteAllBytes(stale, [1, 2]);
        (CampaignResult second, string log2) = RunWorker(layout, "w0", seed: 2, runs: 1000);
        Assert.Contains(
            $"resuming: {queue.Length} corpus entries, 1 known findings, 3000 earlier executions",
            log2,
            StringComparison.Ordinal
        );
        Assert.Contains("removed 1 temporary file(s) left by a killed run", log2, StringComparison.Ordinal);
        Assert.False(File.Exists(stale));
        string[] after = QueueNames(layout, "w0");
        Assert.Equal(queue, after.Take(queue.Length)); // nothing lost or renamed
        Assert.Equal(second.Corpus.Count, after.Length); // resumed entries not written twice
        Assert.Equal(4000, StatsFile.Number(StatsFile.Read(layout.FuzzerStats("w0")), "execs_done"));
        Assert.Empty(Directory.EnumerateFiles(_dir, ".*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Findings_AreSavedOncePerTargetAndSite_KnownToOtherWorkersAndResumedRuns()
    {
        var layout = new CampaignLayout(_dir);
        (CampaignResult a, _) = RunWorker(layout, "w0", seed: 1, runs: 500);
        Assert.Single(a.Findings);
        Assert.Single(Directory.GetDirectories(layout.Findings("toy-scripted")));
        Assert.Single(Directory.GetFiles(layout.Crashes("w0")), f =>
            Path.GetFileName(f).StartsWith("id:000000,sig:06,", StringComparison.Ordinal)
        );

        (CampaignResult b, string logB) = RunWorker(layout, "w1", seed: 2, runs: 500);
        Assert.Empty(b.Findings);
        Assert.Contains("known finding", logB, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(layout.Crashes("w1")));
        Assert.Single(Directory.GetDirectories(layout.Findings("toy-scripted")));
        Assert.Contains("new campaign directory", logB, StringComparison.Ordinal);
        Assert.Contains("(1 known findings)", logB, StringComparison.Ordinal);

        // The other worker's queue was imported: entries named after it, as AFL++ names synced entries.
        Assert.Contains(QueueNames(layout, "w1"), n => n.Contains(",sync:w0,src:", StringComparison.Ordinal));
        Assert.True(SyncImporter.ReadMinAccept(Path.Combine(layout.Synced("w1"), "w0")) > 0);
    }

    private (CampaignResult Result, string Log) RunWorker(CampaignLayout layout, string name, ulong seed, long runs)
    {
        var log = new StringWriter();
        var coverage = new ByteCoverage();
        var target = new ScriptedTarget(
            (d, ctx) =>
            {
                if (d.Length > 0 && d[0] == FlawByte)
                    ctx.Report("used-ring", "len@toy", "the flaw");
                if (d.Length > 0)
                    coverage.Hit(d[0]);
                if (d.Length > 1)
                    coverage.Hit(256 + d[1]);
                return FuzzOutcome.Completed;
            },
            [1],
            [FlawByte]
        );
        var worker = new CampaignWorker(
            target,
            new CampaignOptions { Seed = seed, RunsMax = runs },
            coverage,
            layout,
            new WorkerSettings
            {
                Name = name,
                Main = name == "w0",
                SyncEverySeconds = 0,
                StatsEverySeconds = 0,
            },
            log
        );
        CampaignResult result = worker.Run();
        return (result, log.ToString());
    }

    private static string[] QueueNames(CampaignLayout layout, string worker) =>
        Directory
            .GetFiles(layout.Queue(worker))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>Coverage the scripted target sets itself: one map byte per hit.</summary>
    private sealed class ByteCoverage : ICoverage
    {
        private readonly byte[] _map = new byte[CoverageMap.Size];

        public bool IsAvailable => true;

        public string Description => "test map";

        public void Begin() => Array.Clear(_map);

        public ReadOnlySpan<byte> Map => _map;

        public void Hit(int index) => _map[index]++;
    }
}
