using Sim.Scenarios.Bench;
using Xunit;

namespace Sim.Devices.Tests.Queue;

/// <summary>The <c>virtsim bench ring</c> workload does the work it claims: every response checks out, the driver
/// kicks once per batch (the device never suppresses kicks), and the batch calls it uses unobserved leave exactly the
/// guest memory, kicks and interrupts that the single-chain calls leave when an observer forces them.</summary>
public sealed class RingBenchmarkTests
{
    [Theory]
    [InlineData(256, 32, false, 1000)]
    [InlineData(256, 1, false, 300)]
    [InlineData(16, 7, true, 1000)] // batches that do not divide the slots: slot runs wrap
    [InlineData(8, 100, false, 999)] // a batch larger than the 4 slots: capped at them
    [InlineData(2, 1, true, 50)]
    public void Batches_MatchTheSingleChainCalls_AndEveryResponseChecksOut(
        int queueSize,
        int batch,
        bool eventIdx,
        int requests
    )
    {
        RingBenchmark batched = RingBenchmark.Create(queueSize, eventIdx);
        RingBenchmark sequential = RingBenchmark.Create(queueSize, eventIdx);
        var observer = new RecordingObserver();
        sequential.Memory.Observer = observer; // observed: every batch call is its loop of single-chain calls
        batched.Execute(requests, batch);
        sequential.Execute(requests, batch);
        Assert.Equal(0, batched.Mismatches);
        Assert.Equal(0, sequential.Mismatches);
        Assert.Equal(sequential.Memory.ContentHash(), batched.Memory.ContentHash());
        Assert.Equal(sequential.Memory.DirtyPages(), batched.Memory.DirtyPages());
        Assert.Equal((sequential.Kicks, sequential.Notifications), (batched.Kicks, batched.Notifications));
        Assert.True(observer.Accesses.Count > requests, "the observed run went through the accessors");
        int perKick = Math.Min(batch, queueSize / 2);
        if (!eventIdx)
            Assert.Equal((requests + perKick - 1) / perKick, batched.Kicks);
        Assert.InRange(batched.Notifications, 1, batched.Kicks);
    }

    [Fact]
    public void Run_ReportsTheTimedRequestsOnly()
    {
        long ticks = 0;
        RingBenchmarkResult result = RingBenchmark.Run(5000, 32, () => ticks += 1000, 1_000_000_000);
        Assert.Equal(5000, result.Requests);
        Assert.Equal(0, result.Mismatches);
        Assert.Equal(0, result.AllocatedBytes);
        Assert.Equal((5000 + 31) / 32, result.Kicks);
    }
}
