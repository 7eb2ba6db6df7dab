using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// The chain oracle (issue 12 item 5), one test per rule: the real <see cref="SplitQueue"/> pops a hand-made chain and
/// the oracle agrees; a wrong answer for the same chain (another error kind, an accepted invalid chain, a rejected
/// valid one, a wrong iovec, extra descriptor reads) fires its site. Memory: two adjacent 32 KiB regions (as the fuzz
/// targets), a ring of 8 at 0, indirect table at 0x4000, buffers at 0x6000.
/// </summary>
public sealed class PopOracleTests(ITestOutputHelper output)
{
    private readonly ITestOutputHelper _output = output;

    private const int Size = 8;
    private const ulong Indirect = 0x4000;
    private const ulong Buf = 0x6000;
    private const ushort Next = VirtioSpec.DescFNext;
    private const ushort Write = VirtioSpec.DescFWrite;
    private const ushort Ind = VirtioSpec.DescFIndirect;

    private sealed class Rig
    {
        public readonly GuestMemory Memory;
        public readonly SplitQueue Queue = new(Size);
        public readonly VirtqueueChecker Checker = new(Size);
        public readonly PopOracle Oracle = new();
        public readonly QueueElement Element = new();
        public readonly FuzzContext Context = new();
        public readonly SplitRingLayout Layout = SplitRingLayout.Modern(new GuestAddress(0), Size);
        private ushort _avail;

        public Rig(int size = Size)
        {
            Assert.True(
                GuestMemory.TryCreate(
                    new MemoryLayout([new RegionSpec(0, 0x8000), new RegionSpec(0x8000, 0x8000)]),
                    out GuestMemory? memory,
                    out _
                )
            );
            Memory = memory;
            Layout = SplitRingLayout.Modern(new GuestAddress(0), size);
            Assert.True(Queue.TrySetSize(size, out _));
            Queue.DescTable = Layout.DescTable;
            Queue.AvailRing = Layout.AvailRing;
            Queue.UsedRing = Layout.UsedRing;
            Assert.True(Queue.TryEnable(Memory, out _));
            Checker.Configure(Memory, Layout.DescTable.Value, Layout.AvailRing.Value, Layout.UsedRing.Value, size);
            Memory.Observer = Checker;
        }

        public void Desc(int i, ulong addr, uint len, ushort flags = 0, ushort next = 0) =>
            Assert.True(RawRing.WriteDescriptor(Memory, Layout.DescTable, i, addr, len, flags, next));

        public void IndirectDesc(int i, ulong addr, uint len, ushort flags = 0, ushort next = 0) =>
            Assert.True(RawRing.WriteDescriptor(Memory, new GuestAddress(Indirect), i, addr, len, flags, next));

        public void Offer(ushort head)
        {
            Assert.True(RawRing.WriteAvailEntry(Memory, Layout, _avail % Layout.Size, head));
            Assert.True(RawRing.WriteAvailIdx(Memory, Layout, ++_avail));
        }

        /// <summary>Pops for real and judges the real answer; returns it for the tests that then judge a wrong
        /// one.</summary>
        public (bool Popped, QueueError Error, long Reads) PopJudged()
        {
            Oracle.Before(Queue, Memory);
            long before = Checker.DescriptorSizedReads;
            bool popped = Queue.TryPop(Memory, Element, out QueueError error);
            long reads = Checker.DescriptorSizedReads - before;
            Oracle.After(Memory, popped, error, Element, reads, Context);
            Assert.True(Context.Finding is null, Context.Finding?.Message);
            return (popped, error, reads);
        }

        /// <summary>Judges a made-up answer for the chain at avail slot 0.</summary>
        public string? JudgeFake(bool popped, QueueError error, long reads)
        {
            // A fresh queue on the same memory stands where the real one stood before its pop (last_avail_idx 0).
            var queue = new SplitQueue(Layout.Size);
            Assert.True(queue.TrySetSize(Layout.Size, out _));
            queue.DescTable = Layout.DescTable;
            queue.AvailRing = Layout.AvailRing;
            queue.UsedRing = Layout.UsedRing;
            Assert.True(queue.TryEnable(Memory, out _));
            var context = new FuzzContext();
            Oracle.Before(queue, Memory);
            Oracle.After(Memory, popped, error, Element, reads, context);
            return context.Finding?.Site;
        }
    }

    [Fact]
    public void Spec_2_7_4_ValidChain_PopsTheModelsIovecs()
    {
        var r = new Rig();
        r.Desc(0, Buf, 8, Next, 1);
        r.Desc(1, 0x7ff8, 16, Write | Next, 2); // straddles the region boundary: two iovecs
        r.Desc(2, Buf + 0x100, 4, Write);
        r.Offer(0);
        (bool popped, QueueError error, long reads) = r.PopJudged();
        Assert.True(popped);
        Assert.Equal(QueueError.None, error);
        Assert.Equal(3, reads);
        Assert.Equal(3, r.Element.InCount);
    }

    [Fact]
    public void Qemu_LoopedDescriptor_IsLoopedChain_AndReadsTableSizePlusOne()
    {
        var r = new Rig();
        for (int i = 0; i < Size; i++)
            r.Desc(i, Buf + ((ulong)i * 16), 8, Next, (ushort)((i + 1) % Size));
        r.Offer(0);
        (bool popped, QueueError error, long reads) = r.PopJudged();
        Assert.False(popped);
        Assert.Equal(QueueError.LoopedChain, error);
        Assert.Equal(Size + 1, reads);
    }

    [Fact]
    public void Qemu_LoopedDescriptor_ReportedAsTooManyIovecs_FiresWrongErrorKind()
    {
        var r = new Rig();
        for (int i = 0; i < Size; i++)
            r.Desc(i, Buf + ((ulong)i * 16), 8, Next, (ushort)((i + 1) % Size));
        r.Offer(0);
        Assert.Equal("chain/wrong-error-kind", r.JudgeFake(false, QueueError.TooManyIovecs, Size + 1));
    }

    [Fact]
    public void Issue12_5_LoopThroughAFullIndirectTable_IsALoop_NotTooManyIovecs()
    {
        // An indirect table of exactly IovecsMax (1024) entries that loops: descriptor 1025 is both the loop's proof
        // and the 1025th iovec; the ring model says loop (QueueError's order).
        var r = new Rig();
        const int entries = QueueLimits.IovecsMax;
        for (int i = 0; i < entries; i++)
            r.IndirectDesc(i, Buf, 8, Next, (ushort)((i + 1) % entries));
        r.Desc(0, Indirect, entries * 16, Ind);
        r.Offer(0);
        (bool popped, QueueError error, long reads) = r.PopJudged();
        Assert.False(popped);
        Assert.Equal(QueueError.LoopedChain, error);
        Assert.Equal(1 + entries + 1, reads);
        Assert.Equal("chain/wrong-error-kind", r.JudgeFake(false, QueueError.TooManyIovecs, reads));
    }

    [Fact]
    public void Qemu_LoopedDescriptor_ReadPastTheRule_FiresDescriptorReads()
    {
        var r = new Rig();
        for (int i = 0; i < Size; i++)
            r.Desc(i, Buf + ((ulong)i * 16), 8, Next, (ushort)((i + 1) % Size));
        r.Offer(0);
        Assert.Equal("chain/descriptor-reads-past-rule", r.JudgeFake(false, QueueError.LoopedChain, Size + 2));
    }

    [Fact]
    public void Qemu_DescNextOutOfRange_IsNextOutOfRange_NotLoop()
    {
        var r = new Rig();
        r.Desc(0, Buf, 8, Next, Size);
        r.Offer(0);
        (_, QueueError error, long reads) = r.PopJudged();
        Assert.Equal(QueueError.NextOutOfRange, error);
        Assert.Equal(1, reads);
        Assert.Equal("chain/wrong-error-kind", r.JudgeFake(false, QueueError.LoopedChain, 1));
    }

    [Fact]
    public void Qemu_ChainOfExactlyTheTableSize_IsValid_NotALoop()
    {
        var r = new Rig();
        for (int i = 0; i < Size; i++)
            r.Desc(i, Buf + ((ulong)i * 16), 8, i < Size - 1 ? Next : (ushort)0, (ushort)(i + 1));
        r.Offer(0);
        (bool popped, _, long reads) = r.PopJudged();
        Assert.True(popped);
        Assert.Equal(Size, reads);
        Assert.Equal("chain/valid-chain-rejected", r.JudgeFake(false, QueueError.LoopedChain, Size));
        Assert.Equal("chain/descriptor-reads-past-rule", r.JudgeFake(false, QueueError.LoopedChain, Size + 1));
    }

    [Fact]
    public void Spec_2_7_4_2_ReadableAfterWritable_IsOrderError_AndAcceptingItFires()
    {
        var r = new Rig();
        r.Desc(0, Buf, 8, Write | Next, 1);
        r.Desc(1, Buf + 8, 8);
        r.Offer(0);
        (_, QueueError error, _) = r.PopJudged();
        Assert.Equal(QueueError.ReadableAfterWritable, error);
        Assert.Equal("chain/invalid-chain-accepted", r.JudgeFake(true, QueueError.None, 2));
        Assert.Equal("chain/error-not-reported", r.JudgeFake(false, QueueError.None, 2));
    }

    [Fact]
    public void Qemu_ZeroSizedBuffer_BeforeTheLoopCount()
    {
        var r = new Rig();
        r.Desc(0, Buf, 0);
        r.Offer(0);
        Assert.Equal(QueueError.ZeroLengthBuffer, r.PopJudged().Error);
        Assert.Equal("chain/wrong-error-kind", r.JudgeFake(false, QueueError.BufferOutsideMemory, 1));
    }

    [Theory]
    // NEXT with INDIRECT: before the length.
    [InlineData((ushort)(Ind | Next), 16UL, Indirect, QueueError.IndirectWithNext)]
    [InlineData((ushort)Ind, 17UL, Indirect, QueueError.IndirectBadLength)] // "Invalid size for indirect buffer table"
    // Across the region end: "Cannot map".
    [InlineData((ushort)Ind, 32UL, 0x7ff0UL, QueueError.IndirectTableOutsideMemory)]
    [InlineData((ushort)Ind, 16UL, 0x1_0000UL, QueueError.IndirectTableOutsideMemory)] // past guest memory
    public void Spec_2_7_5_3_1_IndirectHead_RulesInOrder(ushort flags, ulong len, ulong table, QueueError want)
    {
        var r = new Rig();
        r.Desc(0, table, (uint)len, flags, 1);
        r.Desc(1, Buf, 8);
        r.Offer(0);
        Assert.Equal(want, r.PopJudged().Error);
        Assert.Equal(
            "chain/wrong-error-kind",
            r.JudgeFake(
                false,
                want == QueueError.IndirectWithNext ? QueueError.IndirectBadLength : QueueError.IndirectWithNext,
                1
            )
        );
    }

    [Fact]
    public void Spec_2_7_5_3_1_NestedIndirect_AndIndirectAfterTheHead()
    {
        var r = new Rig();
        r.IndirectDesc(0, Indirect, 16, Ind);
        r.Desc(0, Indirect, 32, Ind);
        r.Offer(0);
        (_, QueueError nested, long reads) = r.PopJudged();
        Assert.Equal(QueueError.NestedIndirect, nested);
        Assert.Equal(2, reads);
        var t = new Rig();
        t.Desc(0, Buf, 8, Next, 1);
        t.Desc(1, Indirect, 16, Ind);
        t.Offer(0);
        Assert.Equal(QueueError.IndirectNotAtHead, t.PopJudged().Error);
        Assert.Equal("chain/wrong-error-kind", t.JudgeFake(false, QueueError.NestedIndirect, 2));
    }

    [Fact]
    public void Qemu_VirtqueueMapDesc_WrongIovec_FiresElementDiffers()
    {
        var r = new Rig();
        r.Desc(0, Buf, 8, Next, 1);
        r.Desc(1, Buf + 0x100, 4, Write);
        r.Offer(0);
        Assert.True(r.PopJudged().Popped);
        // The element as a walk that took descriptor 1's len from the wrong field would leave it: judge the same chain
        // with an element holding other iovecs (head 0 re-offered, queue re-armed).
        var q = new Rig();
        q.Desc(0, Buf, 8, Next, 1);
        q.Desc(1, Buf + 0x100, 5, Write);
        q.Offer(0);
        Assert.True(q.Queue.TryPop(q.Memory, q.Element, out _));
        var context = new FuzzContext();
        r.Offer(0);
        r.Oracle.Before(r.Queue, r.Memory);
        r.Oracle.After(r.Memory, true, QueueError.None, q.Element, 2, context);
        Assert.Equal("chain/element-differs", context.Finding?.Site);
    }

    [Fact]
    public void Qemu_HeadOutOfRange_AtRingLevel_ReadsNoDescriptor()
    {
        var r = new Rig();
        r.Offer(Size);
        (bool popped, QueueError error, long reads) = r.PopJudged();
        Assert.False(popped);
        Assert.Equal(QueueError.HeadOutOfRange, error);
        Assert.Equal(0, reads);
    }

    [Fact]
    public void Qemu_AvailIndexTooFar_AndEmpty_AtRingLevel()
    {
        var r = new Rig();
        Assert.Equal("chain/error-not-reported", JudgeWithAvailIdx(r, Size + 1, QueueError.None));
        var e = new Rig();
        Assert.Null(JudgeWithAvailIdx(e, 0, QueueError.None));
        Assert.Equal("chain/descriptor-reads-past-rule", JudgeWithAvailIdx(new Rig(), 0, QueueError.None, reads: 1));
    }

    private static string? JudgeWithAvailIdx(Rig r, ushort idx, QueueError answer, long reads = 0)
    {
        Assert.True(RawRing.WriteAvailIdx(r.Memory, r.Layout, idx));
        var context = new FuzzContext();
        r.Oracle.Before(r.Queue, r.Memory);
        r.Oracle.After(r.Memory, false, answer, r.Element, reads, context);
        return context.Finding?.Site;
    }

    [Fact]
    public void SplitVirtqueue_Campaign_JudgesChains_AndStaysClean()
    {
        const int seed = 23;
        var target = new SplitVirtqueueTarget();
        _output.WriteLine($"seed {seed}, 5000 runs of split-virtqueue");
        CampaignResult result = new FuzzCampaign(
            target,
            new CampaignOptions { Seed = seed, RunsMax = 5000 },
            new NullCoverage("test")
        ).Run();
        _output.WriteLine($"{result.SummaryLine}; chains judged {target.ChainsJudged}");
        Assert.Empty(result.Findings);
        Assert.True(target.ChainsJudged > 1000, $"only {target.ChainsJudged} chains judged");
    }
}
