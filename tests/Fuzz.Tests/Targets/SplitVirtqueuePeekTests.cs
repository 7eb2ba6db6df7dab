using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Targets;

/// <summary>
/// What split-virtqueue reaches since issue 12's ring survivors: <see cref="SplitQueue.GetAvailBytes"/> judged against
/// <see cref="AvailBytesReference"/>, <see cref="SplitQueue.TryRestore"/> judged against the restore rules, and the
/// long indirect tables (sampled, each descriptor across the region boundary) on both sides of the 1024-iovec bound.
/// Memory as the fuzz targets': two adjacent 32 KiB regions.
/// </summary>
public sealed class SplitVirtqueuePeekTests(ITestOutputHelper output)
{
    private readonly ITestOutputHelper _output = output;

    private const int Size = 8;
    private const ulong Indirect = 0x4000;
    private const ushort Next = VirtioSpec.DescFNext;
    private const ushort Write = VirtioSpec.DescFWrite;
    private const ushort Ind = VirtioSpec.DescFIndirect;

    private static GuestMemory Memory()
    {
        Assert.True(
            GuestMemory.TryCreate(
                new MemoryLayout([new RegionSpec(0, 0x8000), new RegionSpec(0x8000, 0x8000)]),
                out GuestMemory? memory,
                out _
            )
        );
        return memory;
    }

    private static (SplitQueue Queue, SplitRingLayout Layout) Queue(GuestMemory memory)
    {
        var layout = SplitRingLayout.Modern(new GuestAddress(0), Size);
        var queue = new SplitQueue(Size);
        Assert.True(queue.TrySetSize(Size, out _));
        queue.DescTable = layout.DescTable;
        queue.AvailRing = layout.AvailRing;
        queue.UsedRing = layout.UsedRing;
        Assert.True(queue.TryEnable(memory, out _));
        return (queue, layout);
    }

    private static void Offer(GuestMemory memory, SplitRingLayout layout, ref ushort avail, ushort head)
    {
        Assert.True(RawRing.WriteAvailEntry(memory, layout, avail % layout.Size, head));
        Assert.True(RawRing.WriteAvailIdx(memory, layout, ++avail));
    }

    private static void Desc(GuestMemory memory, ulong table, int i, ulong addr, uint len, ushort flags, ushort next) =>
        Assert.True(RawRing.WriteDescriptor(memory, new GuestAddress(table), i, addr, len, flags, next));

    private static (QueueError, uint, uint) Real(SplitQueue queue, GuestMemory memory, uint max)
    {
        QueueError e = queue.GetAvailBytes(memory, max, out uint i, out uint o);
        return (e, i, o);
    }

    private static (QueueError, uint, uint) Model(SplitQueue queue, GuestMemory memory, uint max)
    {
        QueueError e = AvailBytesReference.Walk(
            memory,
            queue.Size,
            queue.DescTable.Value,
            queue.AvailRing.Value,
            queue.NextAvail.Value,
            max,
            out uint i,
            out uint o
        );
        return (e, i, o);
    }

    /// <summary>A direct chain (readable 10, writable 20 + 30) and an indirect one (readable 5, writable 7): the sums,
    /// a bound reached inside the second chain, and QEMU's cumulative count (three direct chains of three descriptors
    /// each in a queue of 8 are a "loop") agree with the real walk.</summary>
    [Fact]
    public void AvailBytes_Sums_Bound_AndCumulativeCount_AgreeWithQueue()
    {
        GuestMemory memory = Memory();
        (SplitQueue queue, SplitRingLayout layout) = Queue(memory);
        ushort avail = 0;
        ulong table = layout.DescTable.Value;
        Desc(memory, table, 0, 0x6000, 10, Next, 1);
        Desc(memory, table, 1, 0x6100, 20, Next | Write, 2);
        Desc(memory, table, 2, 0x6200, 30, Write, 0);
        Offer(memory, layout, ref avail, 0);
        Desc(memory, table, 3, Indirect, 32, Ind, 0);
        Desc(memory, Indirect, 0, 0x6300, 5, Next, 1);
        Desc(memory, Indirect, 1, 0x6400, 7, Write, 0);
        Offer(memory, layout, ref avail, 3);
        Assert.Equal((QueueError.None, 57u, 15u), Model(queue, memory, uint.MaxValue));
        Assert.Equal(Model(queue, memory, uint.MaxValue), Real(queue, memory, uint.MaxValue));
        Assert.Equal((QueueError.None, 50u, 10u), Model(queue, memory, 50));
        Assert.Equal(Model(queue, memory, 50), Real(queue, memory, 50));
        Assert.Equal((QueueError.None, 57u, 15u), Model(queue, memory, 57));
        Assert.Equal(Model(queue, memory, 57), Real(queue, memory, 57));
        // Two more direct chains of three: 9 direct descriptors counted in a queue of 8.
        Desc(memory, table, 4, 0x6500, 1, Next, 5);
        Desc(memory, table, 5, 0x6600, 1, Next, 6);
        Desc(memory, table, 6, 0x6700, 1, 0, 0);
        Offer(memory, layout, ref avail, 4);
        Offer(memory, layout, ref avail, 0);
        Assert.Equal((QueueError.LoopedChain, 0u, 0u), Model(queue, memory, uint.MaxValue));
        Assert.Equal(Model(queue, memory, uint.MaxValue), Real(queue, memory, uint.MaxValue));
    }

    /// <summary>The restore rules against the real queue: a live state restores into a fresh queue and reads back as
    /// given; a bad size, inuse or shadow index and rings outside memory are refused for the rules' reason.</summary>
    [Fact]
    public void RestoreVerdict_AgreesWithTryRestore()
    {
        GuestMemory memory = Memory();
        (SplitQueue queue, _) = Queue(memory);
        SplitQueueState state = queue.Capture();
        SplitQueueState[] cases =
        [
            state,
            state with
            {
                Ready = false,
                DescTable = new GuestAddress(0xFFFF_0000),
            },
            state with
            {
                Size = 3,
            },
            state with
            {
                Size = 2 * Size,
            },
            state with
            {
                InUse = Size + 1,
            },
            state with
            {
                InUse = -1,
            },
            state with
            {
                ShadowAvail = new RingIndex(Size + 1),
            },
            state with
            {
                UsedRing = new GuestAddress(0x7FF0),
            },
        ];
        foreach (SplitQueueState s in cases)
        {
            var spare = new SplitQueue(Size);
            QueueConfigError want = SplitVirtqueueTarget.RestoreVerdict(memory, s, Size);
            bool ok = spare.TryRestore(memory, s, out QueueConfigError got);
            _output.WriteLine($"{s}: rules {want}, TryRestore {(ok ? "accepted" : got.ToString())}");
            Assert.Equal(want == QueueConfigError.None, ok);
            if (ok)
                Assert.Equal(s, spare.Capture());
            else
                Assert.Equal(want, got);
        }
    }

    /// <summary>The long table's construction (each descriptor across the 0x8000 region boundary) reaches the
    /// element's 1024-iovec bound from both sides: 512 descriptors make 1024 iovecs (valid), 513 make 1026 (too many),
    /// and with next's bit 7 the first lies in one region (1023 and 1025). With bit 6 the last lies in one region:
    /// 513 descriptors are then 1024 iovecs and a one-iovec buffer, refused by QueueElement.TryAppend's own bound
    /// (mutant #65 of issue 12, an IndexOutOfRangeException past the iovec array), and with bit 7 as well exactly 1024
    /// (the last appended inline).</summary>
    [Theory]
    [InlineData(0, QueueError.None)]
    [InlineData(1, QueueError.TooManyIovecs)]
    [InlineData(0x80, QueueError.None)]
    [InlineData(0x81, QueueError.TooManyIovecs)]
    [InlineData(0x40, QueueError.None)]
    [InlineData(0x41, QueueError.TooManyIovecs)]
    [InlineData(0xC0, QueueError.None)]
    [InlineData(0xC1, QueueError.None)]
    public void LongTable_ReachesTheIovecBound(int low, QueueError want)
    {
        GuestMemory memory = Memory();
        (SplitQueue queue, SplitRingLayout layout) = Queue(memory);
        var guest = new GuestActor { LongTables = true };
        guest.Reset(memory, layout.DescTable.Value, layout.AvailRing.Value, Size);
        ushort next = (ushort)(0xF000 | low);
        guest.Apply(new RingInput.Op(RingInput.OpAddChain, 0, 0, 4, next, 0, 0, 16));
        var reference = new ChainReference();
        Assert.Equal(want, reference.Classify(memory, layout.DescTable.Value, Size, 0));
        var element = new QueueElement();
        memory.Observer = new Watcher(); // the observed lane (the fuzz target's first run)
        bool popped = queue.TryPop(memory, element, out QueueError error);
        memory.Observer = null;
        Assert.Equal(want == QueueError.None, popped);
        Assert.Equal(want, error);
        if (popped)
            Assert.InRange(element.OutCount + element.InCount, 1022, QueueLimits.IovecsMax);
        // The unobserved lane (no memory observer: the queue's window paths, the fast-path twin) answers alike.
        GuestMemory twin = Memory();
        (SplitQueue fast, SplitRingLayout fastLayout) = Queue(twin);
        var guest2 = new GuestActor { LongTables = true };
        guest2.Reset(twin, fastLayout.DescTable.Value, fastLayout.AvailRing.Value, Size);
        guest2.Apply(new RingInput.Op(RingInput.OpAddChain, 0, 0, 4, next, 0, 0, 16));
        Assert.Equal(popped, fast.TryPop(twin, element, out QueueError fastError));
        Assert.Equal(want, fastError);
    }

    /// <summary>An observer that records nothing: attached, the queue takes its observed paths.</summary>
    private sealed class Watcher : IMemoryObserver
    {
        public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }

        public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }
    }

    /// <summary>A campaign reaches GetAvailBytes, TryRestore and long tables and stays clean on the real
    /// queue.</summary>
    /// <summary>QEMU hw/virtio/virtio.c virtio_queue_split_empty, judged by <c>queue-state/empty-differs</c>: a poll
    /// op (flags 0) asks IsEmpty of a ready queue of 4 before and after the guest moves avail.idx to 1; a correct
    /// queue answers empty, then not empty, and the judge ran on both.</summary>
    [Fact]
    public void QemuVirtioQueueSplitEmpty_IsEmptyAnswers_AreJudged_AndACorrectQueuePasses()
    {
        static byte[] Op(byte code, byte flags, ushort next) =>
            [code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, flags, (byte)next, (byte)(next >> 8), 0];
        byte[] input = [2, 0, 0, 0, .. Op(15, 0, 0), .. Op(RingInput.OpSetAvailIdx, 1, 1), .. Op(15, 0, 0)];
        var target = new SplitVirtqueueTarget();
        var context = new FuzzContext();
        target.Execute(input, context);
        Assert.True(context.Finding is null, $"{context.Finding?.Site}: {context.Finding?.Message}");
        Assert.Equal(2, target.EmptyJudged);
    }

    [Fact]
    public void Campaign_JudgesAvailBytesAndRestores_AndStaysClean()
    {
        var target = new SplitVirtqueueTarget();
        const int seed = 23;
        _output.WriteLine($"seed {seed}, 6000 runs of split-virtqueue");
        var options = new CampaignOptions { Seed = seed, RunsMax = 6000 };
        CampaignResult r = new FuzzCampaign(target, options, new NullCoverage("test")).Run();
        _output.WriteLine(
            $"{r.SummaryLine}; avail-bytes judged {target.AvailBytesJudged}, restores {target.RestoresJudged}"
        );
        Assert.Empty(r.Findings);
        Assert.True(target.AvailBytesJudged > 10, $"only {target.AvailBytesJudged} GetAvailBytes judged");
        Assert.True(target.RestoresJudged > 10, $"only {target.RestoresJudged} restores judged");
    }
}
