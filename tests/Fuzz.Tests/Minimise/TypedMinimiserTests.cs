using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Minimizing;
using Virtsim.Fuzz.Targets.Rings;

namespace Fuzz.Tests;

public sealed class TypedMinimiserTests
{
    private static readonly FramedInputMinimizer Ring = RingInputMinimizer.Create(128);

    /// <summary>Synthetic oracle over decoded ring ops: fires when a publish op (3) with (index &amp; 0x0f) ≥ 2 is
    /// followed, later, by a kick (8). Everything else is irrelevant.</summary>
    private static bool PublishThenKick(byte[] input)
    {
        var reader = new Virtsim.Fuzz.Input.FuzzInputReader(input);
        RingInput.ReadHeader(ref reader);
        bool published = false;
        for (int n = 0; n < 128 && !reader.IsExhausted; n++)
        {
            RingInput.Op op = RingInput.ReadOp(ref reader);
            if (op.Code == RingInput.OpPublish && (op.Index & 0x0f) >= 2)
                published = true;
            else if (op.Code == 8 && published)
                return true;
        }
        return false;
    }

    private static byte[] Padded(int padding)
    {
        var b = new RingScenarioBuilder(6, eventIdx: true, notifyOnEmpty: true, placement: 3, extra: 9);
        for (int i = 0; i < padding; i++)
            b.Op(7 + (16 * (i % 5)), (byte)i, 0x1234_5678UL * (ulong)i, 4, (uint)i * 77, 6, (ushort)i, (byte)i);
        b.Op(RingInput.OpPublish + 32, 5, 0xdead_beef, 6, 0xffff, 7, 0x8123, 0xd7);
        for (int i = 0; i < padding; i++)
            b.Op(RingInput.OpGuestWrite, 2, (ulong)i << 40, 1, 5, 1, 3, (byte)(i + 1));
        b.Op(8 + 16, 1, 99, 1, 99, 1, 99, 99);
        for (int i = 0; i < padding; i++)
            b.Op(13, 0, (ulong)i, 0, 0, 0, 0, 0);
        return b.Build();
    }

    [Fact]
    public void RingScenario_PaddedWithIrrelevantOps_MinimisesToThePublishAndTheKick()
    {
        byte[] input = Padded(40);
        Assert.True(PublishThenKick(input));
        Assert.Equal(122, Ring.OperationCount(input));

        byte[] min = FindingMinimizer.Minimize(
            input,
            PublishThenKick,
            Ring,
            FindingMinimizer.DefaultExecutionsMax,
            out int executions
        );

        Assert.True(PublishThenKick(min));
        Assert.Equal(2, Ring.OperationCount(min));
        // Header: smallest queue, EVENT_IDX and NOTIFY_ON_EMPTY off, INDIRECT_DESC off (bit 2 set), placement 0.
        Assert.Equal(new byte[] { 0, RingInputMinimizer.IndirectOffBit, 0, 0 }, min[..RingInput.HeaderLength]);
        // The publish keeps only what fires: canonical op code, index 2; the kick is the bare op code (the byte-level
        // pass then drops its zero operands: a truncated op decodes with zeros).
        byte[] publish = min[RingInput.HeaderLength..(RingInput.HeaderLength + RingInput.OpLength)];
        Assert.Equal(RingInput.OpPublish, publish[0]);
        Assert.Equal(2, publish[RingInput.IndexOffset]);
        Assert.All(publish[1..RingInput.IndexOffset], b => Assert.Equal(0, b));
        Assert.Equal(new byte[] { 8 }, min[(RingInput.HeaderLength + RingInput.OpLength)..]);
        Assert.True(executions < 2000, $"{executions} executions");
    }

    [Fact]
    public void TypedMinimiser_IsDeterministic()
    {
        byte[] input = Padded(25);
        byte[] a = FindingMinimizer.Minimize(input, PublishThenKick, Ring, 20_000, out int ea);
        byte[] b = FindingMinimizer.Minimize(
            input,
            PublishThenKick,
            RingInputMinimizer.Create(128),
            20_000,
            out int eb
        );
        Assert.Equal(a, b);
        Assert.Equal(ea, eb);
    }

    [Fact]
    public void TypedMinimiser_RespectsTheExecutionBudget()
    {
        byte[] input = Padded(40);
        byte[] min = FindingMinimizer.Minimize(input, PublishThenKick, Ring, 25, out int executions);
        Assert.Equal(25, executions);
        Assert.True(PublishThenKick(min));
        Assert.True(min.Length < input.Length);
    }

    [Fact]
    public void Order_CountsTheIndirectOffBitInverted_AndCandidatesAreSimpler()
    {
        byte[] on = new RingScenarioBuilder(3).Build();
        byte[] off = (byte[])on.Clone();
        off[1] = RingInputMinimizer.IndirectOffBit;
        Assert.True(Ring.IsSimpler(off, on));
        Assert.False(Ring.IsSimpler(on, off));
        Assert.False(Ring.IsSimpler(off, off));
        byte[] input = Padded(3);
        Assert.All(Ring.Candidates(input), c => Assert.True(c.Length <= input.Length));
        Assert.Contains(Ring.Candidates(input), c => Ring.IsSimpler(c, input));
    }

    [Fact]
    public void RealFinding_VirtioDemoSeed_PaddedScenario_MinimisesToOneChain_AndStillFiresTheSameOracleAndSite()
    {
        IFuzzTarget target = FuzzTargets.Create("virtio-demo-qemu-seed")!;
        var executor = new FuzzExecutor(target, new NullCoverage("test"), ExecutionLimits.Default);
        // Idle ops, config reads and reaps around one well-formed chain (1 readable, 1 writable buffer of 4 bytes: the
        // seed pushes used.len 8 whatever it wrote).
        var b = new RingScenarioBuilder(4);
        for (int i = 0; i < 10; i++)
            b.Op(15, index: (byte)i).Op(12, index: (byte)i).Op(RingInput.OpGuestIdle);
        b.AddChain(1, 1, bufferLen: 4);
        for (int i = 0; i < 10; i++)
            b.Op(13).Op(9, index: (byte)i);
        byte[] input = b.Build();
        FindingReport? report = executor.Execute(input).Finding;
        Assert.NotNull(report);
        Assert.Equal(("used-ring", "used-ring/len-exceeds-written"), report.Key);

        byte[] min = FindingMinimizer.Minimize(
            input,
            c => executor.Execute(c).Finding?.Key == report.Key,
            target.Minimizer,
            FindingMinimizer.DefaultExecutionsMax,
            out _
        );

        Assert.Equal(report.Key, executor.Execute(min).Finding?.Key);
        Assert.Equal(1, Ring.OperationCount(min));
        Assert.Equal(RingInput.OpAddChain, min[RingInput.HeaderLength] % RingInput.OpCount);
        byte[] again = FindingMinimizer.Minimize(
            input,
            c => executor.Execute(c).Finding?.Key == report.Key,
            FuzzTargets.Create("virtio-demo-qemu-seed")!.Minimizer,
            FindingMinimizer.DefaultExecutionsMax,
            out _
        );
        Assert.Equal(min, again);
    }

    [Fact]
    public void RingTargets_AndDemoPci_HaveTypedMinimisers()
    {
        // guest-memory and driver-queue decode a stream of choices (operands of varying width), not fixed frames: the
        // byte-level minimiser serves them.
        string[] unframed = ["guest-memory", Virtsim.Fuzz.Targets.DriverQueueTarget.TargetName];
        foreach (IFuzzTarget t in FuzzTargets.All.Where(t => !unframed.Contains(t.Name)))
        {
            Assert.True(t.Minimizer is FramedInputMinimizer, t.Name);
        }
    }

    [Fact]
    public void Field_ShorterThanItsWidth_AtTheInputsEnd_IsSimplifiedInPlace()
    {
        var m = new FramedInputMinimizer(0, 4, 8, [], [new FrameField(0, 4, FrameFieldKind.Value)]);
        byte[] input = [1, 2, 3, 4, 5, 6];
        Assert.All(m.Candidates(input), c => Assert.True(c.Length <= input.Length));
        Assert.Contains(m.Candidates(input), c => c.SequenceEqual(new byte[] { 1, 2, 3, 4, 0, 0 }));
        Assert.Throws<ArgumentException>(() =>
            new FramedInputMinimizer(0, 4, 8, [], [new FrameField(2, 4, FrameFieldKind.Value)])
        );
    }
}
