using FsCheck;
using FsCheck.Fluent;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Devices.Tests.Queue;

/// <summary>
/// <see cref="SplitQueue.PopServeAndSignal{TServer}"/> (one kick's device work in one call; its unobserved body is the
/// fused fast path of SplitQueue.Kick.cs) must equal its reference built from the single-chain calls: a TryPop loop,
/// the server on each popped element, then Fill of each, Flush and ShouldNotify. Over hostile rings (bad heads, wild
/// avail.idx, looping and indirect chains, buffers over the rings themselves, a used ring laid over the descriptor
/// table, random suppression flags and used_event): the same answers, used.lens, server calls, queue state, memory
/// bytes and dirty pages, and observed, the same sequence of guest accesses. Four twins of one memory: fused and
/// reference, each unobserved and observed.
/// </summary>
public sealed class KickDifferentialTests(ITestOutputHelper output)
{
    private static readonly Arbitrary<int[]> Words = Arb.From(Gen.Choose(int.MinValue, int.MaxValue).ArrayOf(), a =>
        ArbMap.Default.ArbFor<int[]>().Shrinker(a)
    );

    private const ulong IndirectTable = 0x3000;
    private static readonly ulong[] Addresses =
    [
        0x4000,
        0x7ff8,
        0x7ffc,
        0x2_0000,
        0x2_0ff8,
        0x1_0000,
        IndirectTable,
        0x1000,
        0x1100,
        0x1200,
        0,
    ];
    private static readonly uint[] Lengths = [0, 1, 4, 8, 8, 16, 32, 0x100, 0x1_0000, 0xffff_fff0];
    private static readonly ushort[] Flags = [0, 1, 2, 3, 1, 3, 2, 3, 1, 3, 4, 5, 6, 7];

    /// <summary>A device that reads the request, writes a response of a varying shape and remembers what it saw (so a
    /// served element that differs, or a call in another order, shows in its state).</summary>
    private struct EchoServer : IChainServer
    {
        public uint Calls;
        public ulong Seen;

        public uint Serve(GuestMemory memory, QueueElement element)
        {
            Calls++;
            ulong request;
            if (Calls % 4 == 3)
            {
                Span<byte> five = stackalloc byte[5];
                request = (ulong)element.ReadOut(memory, 0, five) << 40 | five[0] | (ulong)five[4] << 32;
            }
            else
            {
                request = element.TryReadOutUInt64(memory, out ulong r) ? r : 0;
            }
            ulong shape = element.OutBytes * 3 ^ ((ulong)element.OutCount << 40) ^ ((ulong)element.InCount << 41);
            if (element.OutCount != 0)
                shape ^= element.Out[0].Addr.Value * 5 ^ element.Out[0].Len;
            if (element.InCount != 0)
                shape ^= element.In[0].Addr.Value * 7 ^ element.In[0].Len;
            Seen = (Seen << 7) ^ (Seen >> 57) ^ request ^ element.Head ^ element.InBytes ^ shape;
            ulong response = request ^ 0x5a5a_0000_0000_0001UL ^ Calls;
            switch (Calls % 3)
            {
                case 0:
                    return (uint)element.WriteInUInt64(memory, response);
                case 1:
                    Span<byte> bytes = stackalloc byte[24];
                    bytes.Fill((byte)Calls);
                    return (uint)element.WriteIn(memory, 0, bytes[..(int)(Calls % 25)]);
                default:
                    return Calls;
            }
        }
    }

    /// <summary><see cref="EchoServer"/> that also serves element-free: <see cref="ServeDirect"/> is
    /// <see cref="EchoServer.Serve"/> written against <see cref="DirectChain"/>'s same-named members (the kick hands
    /// it the chains of at most one readable and one writable buffer inside the table's region, the rest go to
    /// <see cref="Serve"/>); it counts which way each chain came.</summary>
    private struct DirectEchoServer : IChainServer
    {
        public EchoServer Echo;
        public int DirectCalls;
        public int ElementCalls;

        public static bool ServesDirect => true;

        public uint Serve(GuestMemory memory, QueueElement element)
        {
            ElementCalls++;
            return Echo.Serve(memory, element);
        }

        public uint ServeDirect(DirectChain chain)
        {
            DirectCalls++;
            Echo.Calls++;
            uint calls = Echo.Calls;
            ulong request;
            if (calls % 4 == 3)
            {
                Span<byte> five = stackalloc byte[5];
                request = (ulong)chain.ReadOut(five) << 40 | five[0] | (ulong)five[4] << 32;
            }
            else
            {
                request = chain.TryReadOutUInt64(out ulong r) ? r : 0;
            }
            ulong shape = chain.OutBytes * 3 ^ ((ulong)chain.OutCount << 40) ^ ((ulong)chain.InCount << 41);
            if (chain.OutCount != 0)
                shape ^= chain.Out.Addr.Value * 5 ^ chain.Out.Len;
            if (chain.InCount != 0)
                shape ^= chain.In.Addr.Value * 7 ^ chain.In.Len;
            Echo.Seen = (Echo.Seen << 7) ^ (Echo.Seen >> 57) ^ request ^ chain.Head ^ chain.InBytes ^ shape;
            ulong response = request ^ 0x5a5a_0000_0000_0001UL ^ calls;
            switch (calls % 3)
            {
                case 0:
                    return (uint)chain.WriteInUInt64(response);
                case 1:
                    Span<byte> bytes = stackalloc byte[24];
                    bytes.Fill((byte)calls);
                    return (uint)chain.WriteIn(bytes[..(int)(calls % 25)]);
                default:
                    return calls;
            }
        }
    }

    private sealed class Lane
    {
        public required GuestMemory Memory;
        public required SplitQueue Queue;
        public bool UseDirect;
        public DirectEchoServer DirectServer;
        public EchoServer Server;
        public QueueElement[] Elements = [];
        public uint[] Lens = [];
        public int Count;
        public QueueError Error;
        public bool Notify;
    }

    [Fact]
    public void Property_PopServeAndSignal_MatchesReference() =>
        CheckKicks(nameof(Property_PopServeAndSignal_MatchesReference), 0x5EED_C1C4_0001UL, direct: false);

    /// <summary>A direct server's kick (<see cref="IChainServer.ServesDirect"/>: the chains of at most one readable
    /// and one writable buffer inside the table's region recorded by the pop and served as a
    /// <see cref="DirectChain"/>, the rest through their elements) must equal the reference kick serving every chain
    /// through its element: the same answers, lens, server state (what it read, the chains' shapes and buffers),
    /// queue state, memory bytes, dirty pages and, observed, accesses. Kicks that mix both kinds of chain
    /// occur.</summary>
    [Fact]
    public void Property_DirectServer_MatchesElementServer() =>
        CheckKicks(nameof(Property_DirectServer_MatchesElementServer), 0x5EED_C1C4_0002UL, direct: true);

    private void CheckKicks(string name, ulong seed, bool direct)
    {
        var outcomes = new SortedDictionary<string, int>();
        int straddled = 0;
        int directChains = 0;
        int mixedKicks = 0;
        PropertyRunner.Check(output, name, seed, 600, Words, words =>
        {
            var c = new Choices(words);
            var regions = new MemoryLayout([
                new RegionSpec(0, 0x8000),
                new RegionSpec(0x8000, 0x8000),
                new RegionSpec(0x2_0000, 0x1000),
            ]);
            Assert.True(GuestMemory.TryCreate(regions, out GuestMemory? memory, out _));
            int size = 1 << c.Below(6); // 1..32
            SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(0x1000), size);
            WriteTables(c, memory, layout, size);
            Lane[] lanes = MakeLanes(c, memory, layout, size, out bool straddles);
            foreach (Lane lane in lanes)
                lane.UseDirect = direct;
            ushort availIdx = 0;
            for (int round = 0; round < 5; round++)
            {
                availIdx = Offer(c, lanes, layout, size, availIdx);
                int max = c.Below(size + 2);
                bool toggle = c.Below(4) == 0;
                bool enable = c.Below(2) == 0;
                (int directBefore, int elementBefore) = (
                    lanes[0].DirectServer.DirectCalls,
                    lanes[0].DirectServer.ElementCalls
                );
                for (int t = 0; t < lanes.Length; t++)
                {
                    if (toggle)
                        lanes[t].Queue.SetNotification(lanes[t].Memory, enable);
                    Kick(lanes[t], max, fused: t % 2 == 0);
                }
                directChains += lanes[0].DirectServer.DirectCalls - directBefore;
                if (
                    lanes[0].DirectServer.DirectCalls > directBefore
                    && lanes[0].DirectServer.ElementCalls > elementBefore
                )
                    mixedKicks++;
                Assert.False(lanes[0].Memory.IsObserved);
                Compare(lanes);
                string full = lanes[0].Count == max ? " (span full)" : "";
                string key = $"{lanes[0].Error}{full}{(lanes[0].Notify ? " notify" : "")}";
                outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                if (straddles && lanes[0].Count != 0)
                    straddled++;
                if (lanes[0].Error != QueueError.None)
                    break;
            }
            return true;
        });
        foreach ((string outcome, int count) in outcomes)
            output.WriteLine($"{count, 5} x {outcome}");
        output.WriteLine($"{straddled, 5} x completions on a used ring whose entries cross a page after used.idx");
        if (direct)
        {
            output.WriteLine($"{directChains, 5} chains served directly, {mixedKicks} kicks mixing both kinds");
            Assert.True(directChains >= 200, "most benchmark-shaped chains should be served directly");
            Assert.True(mixedKicks >= 10, "kicks should mix direct chains with chains served through elements");
        }
        Assert.True(straddled >= 10, "the used ring should cross a page inside its entries now and then");
        Assert.True(outcomes.Count >= 10, "the hostile rings should reach most pop outcomes, with and without IRQs");
    }

    /// <summary>One kick: the fused call, or its reference from the single-chain calls.</summary>
    private static void Kick(Lane lane, int max, bool fused)
    {
        lane.Elements = new QueueElement[max];
        for (int k = 0; k < max; k++)
            lane.Elements[k] = new QueueElement();
        lane.Lens = new uint[max];
        lane.Count = 0;
        lane.Error = QueueError.None;
        if (fused && lane.UseDirect)
        {
            lane.Notify = lane.Queue.PopServeAndSignal(
                lane.Memory,
                lane.Elements,
                lane.Lens,
                ref lane.DirectServer,
                out lane.Count,
                out lane.Error
            );
            return;
        }
        if (fused)
        {
            lane.Notify = lane.Queue.PopServeAndSignal(
                lane.Memory,
                lane.Elements,
                lane.Lens,
                ref lane.Server,
                out lane.Count,
                out lane.Error
            );
            return;
        }
        while (lane.Count < max && lane.Queue.TryPop(lane.Memory, lane.Elements[lane.Count], out lane.Error))
        {
            lane.Count++;
        }
        for (int k = 0; k < lane.Count; k++)
        {
            lane.Lens[k] = lane.UseDirect
                ? lane.DirectServer.Serve(lane.Memory, lane.Elements[k])
                : lane.Server.Serve(lane.Memory, lane.Elements[k]);
        }
        lane.Notify = false;
        if (lane.Count == 0)
            return;
        for (int k = 0; k < lane.Count; k++)
            lane.Queue.Fill(lane.Memory, lane.Elements[k].Head, lane.Lens[k], k);
        lane.Queue.Flush(lane.Memory, lane.Count);
        lane.Notify = lane.Queue.ShouldNotify(lane.Memory);
    }

    private static void Compare(Lane[] lanes)
    {
        Lane a = lanes[0];
        for (int t = 1; t < lanes.Length; t++)
        {
            Lane b = lanes[t];
            Assert.Equal((a.Count, a.Error, a.Notify), (b.Count, b.Error, b.Notify));
            EchoServer x0 = a.UseDirect ? a.DirectServer.Echo : a.Server;
            EchoServer y0 = b.UseDirect ? b.DirectServer.Echo : b.Server;
            Assert.Equal((x0.Calls, x0.Seen), (y0.Calls, y0.Seen));
            Assert.Equal(a.Lens, b.Lens);
            Assert.Equal(a.Queue.Capture(), b.Queue.Capture());
            // A direct server's kick leaves the elements of the chains it served directly as they were.
            for (int k = 0; k < a.Count && !a.UseDirect; k++)
            {
                QueueElement x = a.Elements[k];
                QueueElement y = b.Elements[k];
                Assert.Equal((x.Head, x.OutBytes, x.InBytes, x.Indirect), (y.Head, y.OutBytes, y.InBytes, y.Indirect));
                Assert.Equal(x.Out.ToArray(), y.Out.ToArray());
                Assert.Equal(x.In.ToArray(), y.In.ToArray());
            }
            Assert.Equal(a.Memory.ContentHash(), b.Memory.ContentHash());
            Assert.Equal(a.Memory.DirtyPages(), b.Memory.DirtyPages());
        }
        var reference = (RecordingObserver)lanes[3].Memory.Observer!;
        var fused = (RecordingObserver)lanes[2].Memory.Observer!;
        Assert.Equal(reference.Accesses, fused.Accesses);
    }

    private static void WriteTables(Choices c, GuestMemory memory, in SplitRingLayout layout, int size)
    {
        for (int i = 0; i < size; i++)
            WriteDescriptor(c, memory, layout.DescTable, i, size + 1);
        for (int i = 0; i < 8; i++)
            WriteDescriptor(c, memory, new GuestAddress(IndirectTable), i, 9);
        // Most chains are the benchmark's: an 8-byte request then an 8-byte response, in the first region.
        for (int i = 0; i + 1 < size; i += 2)
        {
            if (c.Below(2) != 0)
                continue;
            ulong at = 0x4000 + (8UL * (ulong)c.Below(64));
            ushort next = (ushort)(i + 1);
            // Now and then a short or empty buffer, or a response in another region (a direct server's kick takes
            // the short ones and leaves the others to the element walk).
            uint requestLen = c.Below(8) == 0 ? (uint)c.Below(8) : 8;
            uint responseLen = c.Below(8) == 0 ? (uint)c.Below(8) : 8;
            ulong response = c.Below(8) == 0 ? 0x2_0000UL + (8UL * (ulong)c.Below(8)) : at + 8;
            Assert.True(
                RawRing.WriteDescriptor(memory, layout.DescTable, i, at, requestLen, VirtioSpec.DescFNext, next)
            );
            Assert.True(
                RawRing.WriteDescriptor(
                    memory,
                    layout.DescTable,
                    i + 1,
                    response,
                    responseLen,
                    VirtioSpec.DescFWrite,
                    0
                )
            );
        }
        Assert.True(RawRing.WriteAvailFlags(memory, layout, (ushort)c.Below(2)));
        Assert.True(RawRing.WriteUsedEvent(memory, layout, (ushort)c.Below(8)));
        memory.ClearDirty();
    }

    private static void WriteDescriptor(Choices c, GuestMemory memory, GuestAddress table, int index, int range)
    {
        ushort flags = Flags[c.Below(Flags.Length)];
        bool indirect = (flags & VirtioSpec.DescFIndirect) != 0 && c.Below(2) == 0;
        uint len = indirect ? 16u * (uint)(1 + c.Below(8)) : Lengths[c.Below(Lengths.Length)];
        ulong addr = indirect ? IndirectTable : Addresses[c.Below(Addresses.Length)] + (ulong)c.Below(4);
        Assert.True(RawRing.WriteDescriptor(memory, table, index, addr, len, flags, (ushort)c.Below(range)));
    }

    /// <summary>Four twins (fused, reference; then both observed) with one queue each; a used ring over the
    /// descriptor table now and then (completions then rewrite descriptors later pops read), and now and then one
    /// whose entries cross a page boundary after used.idx (<paramref name="straddles"/>: the fused completion marks
    /// used.idx and the entries on its page with one mark, and must mark the pages the separate marks do), and now
    /// and then one alone inside page 0x5000 (the fused completion marks a one-page used ring through its page's bit
    /// located at enable; nothing else writes that page, so a missed mark shows).</summary>
    private static Lane[] MakeLanes(
        Choices c,
        GuestMemory memory,
        in SplitRingLayout layout,
        int size,
        out bool straddles
    )
    {
        bool eventIdx = c.Below(2) == 0;
        bool notifyOnEmpty = c.Below(4) == 0;
        int place = c.Below(8);
        straddles = place == 0;
        // Straddling: used.idx at the end of page 0x5000, which nothing else writes (so a missed mark of it shows),
        // entries from slot j on in page 0x6000 (from slot 0 half the time: every completion then marks apart).
        int j = c.Below(2) == 0 ? 0 : c.Below(size);
        GuestAddress used =
            place == 0 ? new GuestAddress(0x6000UL - 4 - (8UL * (ulong)j))
            : place == 1 ? new GuestAddress(0x5800)
            : place == 2 ? layout.DescTable
            : layout.UsedRing;
        var lanes = new Lane[4];
        for (int t = 0; t < lanes.Length; t++)
        {
            Assert.True(GuestMemory.TryCreate(memory.Layout, out GuestMemory? twin, out _));
            twin.Restore(memory.Snapshot());
            twin.ClearDirty();
            var queue = new SplitQueue(size)
            {
                DescTable = layout.DescTable,
                AvailRing = layout.AvailRing,
                UsedRing = used,
                EventIdx = eventIdx,
                NotifyOnEmpty = notifyOnEmpty,
            };
            Assert.True(queue.TryEnable(twin, out _));
            if (t >= 2)
                twin.Observer = new RecordingObserver();
            lanes[t] = new Lane { Memory = twin, Queue = queue };
        }
        return lanes;
    }

    /// <summary>New heads (a few out of range), then avail.idx moved by up to a queue (now and then
    /// anywhere).</summary>
    private static ushort Offer(Choices c, Lane[] lanes, in SplitRingLayout layout, int size, ushort availIdx)
    {
        int more = c.Below(size + 1);
        for (int j = 0; j < more; j++)
        {
            ushort head = (ushort)c.Below(size + (c.Below(8) == 0 ? 2 : 0));
            int slot = (availIdx + j) % size;
            foreach (Lane l in lanes)
                Assert.True(RawRing.WriteAvailEntry(l.Memory, layout, slot, head));
        }
        availIdx = c.Below(10) == 0 ? (ushort)c.Next() : (ushort)((availIdx + more) & 0xffff);
        foreach (Lane l in lanes)
            Assert.True(RawRing.WriteAvailIdx(l.Memory, layout, availIdx));
        return availIdx;
    }

    /// <summary>Guest choices from the generated words, then a fixed mix once they run out.</summary>
    private sealed class Choices(int[] words)
    {
        private int _at;
        private ulong _mix = (ulong)words.Length * 0x9E3779B97F4A7C15UL;

        public uint Next()
        {
            if (_at < words.Length)
                return (uint)words[_at++];
            ulong z = _mix += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return (uint)(z ^ (z >> 31));
        }

        public int Below(int n) => (int)(Next() % (uint)n);
    }
}
