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
    private static readonly int[] OperationsAtLeast = [7, 23, 13, 6, 1];

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
        Assert.Equal(5, seeds);
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
