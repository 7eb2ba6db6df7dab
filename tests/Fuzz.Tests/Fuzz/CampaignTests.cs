using Sim.Engine.Random;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests;

public sealed class CampaignTests
{
    [Fact]
    public void StructureMutator_IsUsedForAShareOfMutations()
    {
        var mutator = new AppendOp();
        var target = new ScriptedTarget((_, _) => FuzzOutcome.Completed, [1]) { StructureMutator = mutator };
        CampaignResult r = new FuzzCampaign(
            target,
            new CampaignOptions
            {
                Seed = 2,
                RunsMax = 1000,
                StructureMutationPeriod = 2,
            },
            new NullCoverage("test")
        ).Run();
        Assert.Equal(1000, r.Executions);
        Assert.InRange(mutator.Calls, 350, 650);
    }

    [Fact]
    public void StatusCallback_ReportsCountsAndFindingsByOracle()
    {
        var target = new ScriptedTarget(
            (d, ctx) =>
            {
                if (d.Length > 0 && d[0] == 9)
                    ctx.Report("used-ring", "len", "too long");
                return FuzzOutcome.Completed;
            },
            [9],
            [1]
        );
        var statuses = new List<CampaignStatus>();
        CampaignResult r = new FuzzCampaign(
            target,
            new CampaignOptions
            {
                Seed = 2,
                RunsMax = 50,
                StatusIntervalSeconds = 0,
            },
            new NullCoverage("test")
        ).Run(onStatus: statuses.Add);
        Assert.NotEmpty(statuses);
        CampaignStatus last = statuses[^1];
        Assert.Equal([new KeyValuePair<string, int>("used-ring", 1)], last.FindingsByOracle);
        Assert.Matches(@"^#\d+ \d+s exec/s=\d+ edges=n/a corpus=1 findings=1 \(used-ring:1\)$", last.ToStatusLine());
        Assert.Equal(r.Corpus.Count, last.CorpusSize);
    }

    [Fact]
    public void RejectedInputs_NeverEnterTheCorpus_AndStopPredicateEndsTheRun()
    {
        var target = new ScriptedTarget((_, _) => FuzzOutcome.Rejected, [1], [2]);
        int calls = 0;
        CampaignResult r = new FuzzCampaign(target, new CampaignOptions { Seed = 2 }, new NullCoverage("test")).Run(
            shouldStop: () =>
                ++calls > 100
        );
        Assert.Equal(
            [
                [],
            ],
            r.Corpus
        );
        Assert.Equal(100, r.Executions); // one execution per predicate call that said "go on"
        Assert.Throws<ArgumentException>(() =>
            new FuzzCampaign(target, new CampaignOptions(), new NullCoverage("test")).Run()
        );
    }

    private sealed class AppendOp : IMutator
    {
        public int Calls { get; private set; }

        public int Mutate(Span<byte> buffer, int length, Prng prng)
        {
            Calls++;
            if (length >= buffer.Length)
                return length;
            buffer[length] = (byte)prng.IntLessThan(4);
            return length + 1;
        }
    }
}
