using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Targets;

/// <summary>
/// The <c>driver-queue</c> target (docs/fuzzing-oracles.md, "The driver's fast paths"): its seeds run clean and reach
/// the batch calls' outcomes, and a campaign over the hostile device stays clean. That the oracle catches a broken
/// batch path is proved by mutants of DriverQueue (<c>MutationSampleTests.DriverMutant_IsKilled</c>).
/// </summary>
public sealed class DriverQueueTargetTests(ITestOutputHelper output)
{
    private static readonly int[] OperationsAtLeast = [7, 23, 13, 6, 1, 1];

    [Fact]
    public void Seeds_RunClean()
    {
        var target = new DriverQueueTarget();
        int seeds = 0;
        foreach (byte[] seed in target.SeedCorpus())
        {
            var context = new FuzzContext();
            Assert.Equal(FuzzOutcome.Completed, target.Execute(seed, context));
            Assert.True(context.Finding is null, $"seed {seeds}: {context.Finding?.Site}: {context.Finding?.Message}");
            // Each operation is one step (the reference handler loop adds one per pass): a seed whose bytes decode
            // out of step with what it was written for ends early or runs other operations.
            Assert.True(context.Steps >= OperationsAtLeast[seeds], $"seed {seeds}: only {context.Steps} operations");
            seeds++;
        }
        Assert.Equal(6, seeds);
    }

    [Fact]
    public void Target_IsRegistered_WithTheFastPathOracle()
    {
        IFuzzTarget? target = FuzzTargets.Create(DriverQueueTarget.TargetName);
        Assert.IsType<DriverQueueTarget>(target);
        Assert.Equal(["Sim.Guest"], target.InstrumentedAssemblies);
        Assert.Equal(FastPathDifferential.Oracle, DriverQueueTarget.Oracle);
        Assert.Contains("fast-path/driver-", target.Description, StringComparison.Ordinal);
    }

    /// <summary>Linux virtio_ring.c virtqueue_add_split, judged by <c>driver-spec/add</c> and
    /// <c>driver-spec/direct-chain</c> (VIRTIO 1.2 §2.7.5, §2.7.13.1, §2.7.13.2): a correct driver passes every
    /// judgement of a single add — a chain that fills a queue of 4 (each descriptor checked), a chain refused with no
    /// free descriptor (-ENOSPC), the same descriptors reused after the device used the first chain, an indirect
    /// chain beside it, and a chain refused for want of one descriptor.</summary>
    [Fact]
    public void LinuxVirtqueueAddSplit_SingleAdds_AreJudgedAgainstTheSpec_AndACorrectDriverPasses()
    {
        // Ops: 2 add-chain (readable, writable, table, then address choice + offset + length choice per buffer),
        // 3 add-indirect, 5 notify, 8 get-used, 15 device take, 16 device complete.
        byte[] input = Convert.FromHexString(
            "0200" // size 4, no EVENT_IDX, page-aligned table
                + "02020200"
                + "000002011003022004003005" // 2 readable + 2 writable: all 4 descriptors
                + "02010000"
                + "000002" // no descriptor free: refused
                + "05"
                + "0F01"
                + "10010002" // published, taken, used with len 8
                + "08" // reaped: its 4 descriptors free again
                + "02010100"
                + "010003020804" // the freed descriptors reused
                + "03010102"
                + "000002010003" // an indirect chain: one ring descriptor
                + "02010100"
                + "000002010003" // one descriptor free, two wanted: refused
        );
        var target = new DriverQueueTarget();
        var context = new FuzzContext();
        Assert.Equal(FuzzOutcome.Completed, target.Execute(input, context));
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        Assert.Equal(5, target.AddsJudged);
        Assert.Equal(2, target.ChainsJudged);
    }

    [Fact]
    public void Campaign_StaysClean()
    {
        const ulong Seed = 0xD21_7E0;
        output.WriteLine($"reproduce: virtsim fuzz --target driver-queue --seed {Seed} --runs 20000 --no-coverage");
        var options = new CampaignOptions
        {
            Seed = Seed,
            RunsMax = 20000,
            Minimize = false,
            StatusIntervalSeconds = 1e9,
        };
        CampaignResult r = new FuzzCampaign(new DriverQueueTarget(), options, new NullCoverage("test")).Run();
        string findings = string.Join(
            "\n",
            r.Findings.Select(f => $"{f.Site}: {f.Message} input={Convert.ToHexString(f.Input)}")
        );
        Assert.True(r.Findings.Count == 0, findings);
        Assert.Equal(20000, r.Executions);
    }
}
