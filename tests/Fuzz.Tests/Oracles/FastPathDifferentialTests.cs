using Sim.Engine.Memory;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// <see cref="FastPathDifferential"/>: two lanes that record the same steps and end on the same memory agree; a lane
/// whose step result, memory byte or dirty page differs is reported at the first step that diverged. And the
/// split-virtqueue target runs its seeds through both lanes clean (issue 12 item 1).
/// </summary>
public sealed class FastPathDifferentialTests
{
    private static (FastPathDifferential Diff, GuestMemory Memory, FuzzContext Context) Make()
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x4000);
        memory.ClearDirty();
        return (new FastPathDifferential(0x4000), memory, new FuzzContext());
    }

    private static void Lane(FastPathDifferential d, GuestMemory m, int lane, ulong popResult, byte storeAt100)
    {
        m.Clear();
        m.ClearDirty();
        d.Begin(lane);
        d.Step("pop");
        d.Add(popResult);
        d.Step("complete");
        d.Add(7);
        m.TryWriteUInt8(new GuestAddress(100), storeAt100);
        d.Finish(m);
    }

    [Fact]
    public void SameStepsAndMemory_Agree()
    {
        var (d, m, ctx) = Make();
        Lane(d, m, 0, 1, 5);
        Lane(d, m, 1, 1, 5);
        Assert.True(d.Compare(ctx));
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void DifferentPopResult_IsReportedAtThatStep()
    {
        var (d, m, ctx) = Make();
        Lane(d, m, 0, 1, 5);
        Lane(d, m, 1, 2, 5);
        Assert.False(d.Compare(ctx));
        Assert.Equal(("fast-path", "fast-path/pop"), ctx.Finding?.Key);
    }

    [Fact]
    public void DifferentMemory_IsReported()
    {
        var (d, m, ctx) = Make();
        Lane(d, m, 0, 1, 5);
        Lane(d, m, 1, 1, 6);
        Assert.False(d.Compare(ctx));
        Assert.Equal("fast-path/guest-memory", ctx.Finding?.Site);
        Assert.Contains("0x64", ctx.Finding!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnmarkedWindowWrite_IsADirtyPageDifference()
    {
        // Same bytes, but lane 1 wrote them without marking the page (a window store that forgot MarkWritten).
        var (d, m, ctx) = Make();
        Lane(d, m, 0, 1, 5);
        m.Clear();
        m.ClearDirty();
        d.Begin(1);
        d.Step("pop");
        d.Add(1);
        d.Step("complete");
        d.Add(7);
        Assert.True(m.TryGetSpan(new GuestAddress(100), 1, out Span<byte> raw));
        raw[0] = 5;
        d.Finish(m);
        Assert.False(d.Compare(ctx));
        Assert.Equal("fast-path/dirty-pages", ctx.Finding?.Site);
    }

    /// <summary>Inputs that fired <c>fast-path/poll</c> on a sound queue: a short ReadOut left bytes of the previous
    /// lane's data in the harness's buffer (the twin started from the observed run's leftovers). Each lane now starts
    /// from the same data.</summary>
    [Theory]
    [InlineData(
        "034000000200000000000000001600070000000000000408000200000000000000000000000000000e00060000000800"
            + "00000000000000000000000000ffd4d8791cffffffffffffff7fbde87302000008000000000000000000000000000000"
            + "00000008000000000000000000000000000000a9fc3f53d45016924ac4f10100000000000000a38f6c80fe8090b5af3e"
            + "6f14381cedd8bacac7598c28f678e65cf81c9340d1abd2cc12ac79b6ba3ffd100f57e00e26c78e7f7f7f047f7f7f7f7f"
            + "7f7f7f7fffffffff0000000900000000ffff0000000060000000000000000b000000018000000000000000000000000000"
    )]
    [InlineData(
        "040110000200000000000000000000070000000000000402000000000000000000000700000004000015060000000000"
            + "000000000027000000000000060800000000000000230000000000000008000000000000000000000000000000000000"
            + "080000000000000001de7a0000007f7f7f7f7f7f7f7f7f7f7f00007f7f7f7f7f0408007f000b00000000000000000000"
            + "010000000400000000ffe2087f00000000100000ffff000000007f7f7f7f7f7f7fffffffff0000000900000000ffff00"
            + "00000060000000000000000b000000018000000000"
    )]
    public void SplitVirtqueue_ShortReadOut_LanesStartFromTheSameData(string hex)
    {
        Virtsim.Fuzz.Entry.FuzzReplayResult result = Virtsim.Fuzz.Entry.FuzzReplay.Run(
            "split-virtqueue",
            1,
            Convert.FromHexString(hex)
        );
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void SplitVirtqueueSeeds_RunCleanThroughBothLanes()
    {
        var target = new SplitVirtqueueTarget { FastPathPeriod = 1 };
        var executor = new FuzzExecutor(
            target,
            new Virtsim.Fuzz.Coverage.NullCoverage("test"),
            ExecutionLimits.Default
        );
        int n = 0;
        foreach (byte[] seed in target.SeedCorpus())
        {
            ExecutionResult r = executor.Execute(seed);
            Assert.True(r.Finding is null, $"seed {n}: {r.Finding}");
            n++;
        }
        Assert.True(n > 0);
    }

    /// <summary>The kick op (complete-batch with flag bit 2): the twin serves it with
    /// <c>SplitQueue.PopServeAndSignal</c>'s fused body and the observed lane with its reference (pops, writes,
    /// AddUsedAndSignal); the lanes must agree, with EVENT_IDX or not, on a clean ring and on one whose second chain
    /// has a readable buffer after a writable one (the kick completes the chain before it and breaks). With
    /// <paramref name="direct"/> (flag bit 3) the twin's server serves element-free (<c>IChainServer.ServeDirect</c>)
    /// the chains of one readable and one writable buffer, and the others (two readable buffers) through their
    /// elements.</summary>
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    [InlineData(true, true, true)]
    public void SplitVirtqueue_Kick_LanesAgree(bool eventIdx, bool hostile, bool direct)
    {
        const int completeBatch = 10;
        const int shouldNotify = 11;
        byte kick = (byte)(direct ? 4 | 8 : 4);
        var builder = new RingScenarioBuilder(3, eventIdx: eventIdx)
            .AddChain(1, 1)
            .AddChain(2, 1, 16)
            .AddChain(1, 2, 4)
            .Op(completeBatch, len: 8, flags: kick)
            .Op(shouldNotify)
            .AddChain(1, 1)
            .AddChain(1, 1)
            .Op(completeBatch, len: 3, flags: (byte)(kick | 1))
            .Op(completeBatch, flags: kick);
        if (hostile)
        {
            builder.Desc(0, 0, 0, 2, 8, 3, 1).Desc(1, 0, 8, 2, 8, 0, 0).Publish(0).Op(completeBatch, flags: kick);
        }
        var target = new SplitVirtqueueTarget { FastPathPeriod = 1 };
        var coverage = new Virtsim.Fuzz.Coverage.NullCoverage("test");
        var executor = new FuzzExecutor(target, coverage, ExecutionLimits.Default);
        ExecutionResult r = executor.Execute(builder.Build());
        Assert.True(r.Finding is null, $"{r.Finding}");
    }
}
