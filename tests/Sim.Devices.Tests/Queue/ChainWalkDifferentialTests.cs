using FsCheck;
using FsCheck.Fluent;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Devices.Tests.Queue;

/// <summary>
/// <see cref="SplitQueue.TryPop"/> walks chains with its reference walk (TryWalkTable, observed) and its fast walk
/// (TryWalkDirectFast, unobserved; SplitQueue.Fast.cs); <see cref="ChainModel"/> is the tests' spec model of the chain
/// rules. Over hostile rings, all three must end with the same error, the same iovecs, counts and byte totals, the
/// same memory and dirty pages, and the observed walk with the model's sequence of guest reads (what a trace records).
/// </summary>
public sealed class ChainWalkDifferentialTests(ITestOutputHelper output)
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
        ulong.MaxValue - 4,
        0,
    ];
    private static readonly uint[] Lengths = [0, 1, 8, 16, 32, 48, 0x100, 0x1_0000, 0xffff_fff0];
    private static readonly ushort[] Flags = [0, 1, 2, 3, 1, 3, 4, 5, 6, 7];

    [Fact]
    public void Property_FusedPopWalk_MatchesChainModel()
    {
        var outcomes = new SortedDictionary<string, int>();
        PropertyRunner.Check(
            output,
            nameof(Property_FusedPopWalk_MatchesChainModel),
            0x5EED_00D1UL,
            1500,
            Words,
            words =>
            {
                var c = new Choices(words);
                GuestMemory memory = TwoAdjacentRegionsAndAGap();
                int size = 1 << c.Below(5); // 1..16
                SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(0x1000), size);
                ushort[] heads = WriteHostileRing(memory, layout, size, c);
                SplitQueue queue = EnabledQueue(memory, layout, size);
                // The same ring in an unobserved twin: its pops take the ring-window path and must give the same
                // results, bytes and dirty pages as the observed (accessor) path.
                Assert.True(GuestMemory.TryCreate(memory.Layout, out GuestMemory? twin, out _));
                twin.Restore(memory.Snapshot());
                SplitQueue twinQueue = EnabledQueue(twin, layout, size);
                var twinElement = new QueueElement();
                memory.ClearDirty();
                twin.ClearDirty();
                var observer = new RecordingObserver();
                memory.Observer = observer;
                var element = new QueueElement();
                for (int pop = 0; pop < size; pop++)
                {
                    ushort head = heads[pop];
                    int before = observer.Accesses.Count;
                    Reference expected = Walk(memory, layout.DescTable, size, head);
                    var expectedReads = observer.Accesses.Skip(before).ToList();

                    before = observer.Accesses.Count;
                    bool ok = queue.TryPop(memory, element, out QueueError error);
                    Assert.False(twin.IsObserved);
                    bool twinOk = twinQueue.TryPop(twin, twinElement, out QueueError twinError);
                    Assert.Equal((ok, error), (twinOk, twinError));
                    AssertSameElement(element, twinElement);
                    // The pop also reads avail.idx (first pop) and the avail entry: compare only descriptor-table
                    // reads.
                    var actualReads = observer
                        .Accesses.Skip(before)
                        .Where(a => a.Length == VirtioSpec.DescSize || !IsRingAccess(layout, a))
                        .ToList();
                    Assert.Equal(expectedReads, actualReads);
                    AssertMatchesModel(expected, ok, error, element);
                    if (ok)
                    {
                        queue.Push(memory, element.Head, 0);
                        twinQueue.Push(twin, twinElement.Head, 0);
                        Assert.Equal(queue.ShouldNotify(memory), twinQueue.ShouldNotify(twin));
                    }
                    Assert.Equal(memory.ContentHash(), twin.ContentHash());
                    Assert.Equal(memory.DirtyPages(), twin.DirtyPages());
                    string key = error.ToString();
                    outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                    if (!ok)
                        break;
                }
                return true;
            }
        );
        foreach ((string outcome, int count) in outcomes)
            output.WriteLine($"{count, 5} x {outcome}");
        Assert.True(outcomes.Count >= 10, "the hostile rings should reach most pop errors");
    }

    /// <summary>The case's word stream: its words, then a SplitMix64 continuation so a short case still decides
    /// everything.</summary>
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

    /// <summary>Regions [0, 0x8000) and [0x8000, 0x10000) adjacent (buffers across them take two iovecs), then a
    /// gap.</summary>
    private static GuestMemory TwoAdjacentRegionsAndAGap()
    {
        Assert.True(
            GuestMemory.TryCreate(
                new MemoryLayout([
                    new RegionSpec(0, 0x8000),
                    new RegionSpec(0x8000, 0x8000),
                    new RegionSpec(0x2_0000, 0x1000),
                ]),
                out GuestMemory? memory,
                out _
            )
        );
        return memory;
    }

    /// <summary>Hostile descriptors in the table and in an indirect table, and a full avail ring of random heads;
    /// returns the heads in ring order.</summary>
    private static ushort[] WriteHostileRing(GuestMemory memory, SplitRingLayout layout, int size, Choices c)
    {
        void Write(GuestAddress table, int index, int range)
        {
            ushort flags = Flags[c.Below(Flags.Length)];
            uint len =
                (flags & VirtioSpec.DescFIndirect) != 0 && c.Below(2) == 0
                    ? 16u * (uint)(1 + c.Below(8))
                    : Lengths[c.Below(Lengths.Length)];
            ulong addr =
                (flags & VirtioSpec.DescFIndirect) != 0 && c.Below(2) == 0
                    ? IndirectTable
                    : Addresses[c.Below(Addresses.Length)] + (ulong)c.Below(4);
            Assert.True(RawRing.WriteDescriptor(memory, table, index, addr, len, flags, (ushort)c.Below(range)));
        }
        for (int i = 0; i < size; i++)
            Write(layout.DescTable, i, size + 1);
        for (int i = 0; i < 8; i++)
            Write(new GuestAddress(IndirectTable), i, 9);
        var heads = new ushort[size];
        for (int i = 0; i < size; i++)
        {
            heads[i] = (ushort)c.Below(size);
            Assert.True(RawRing.WriteAvailEntry(memory, layout, i, heads[i]));
        }
        Assert.True(RawRing.WriteAvailIdx(memory, layout, (ushort)size));
        return heads;
    }

    private static SplitQueue EnabledQueue(GuestMemory memory, SplitRingLayout layout, int size)
    {
        var queue = new SplitQueue(size)
        {
            DescTable = layout.DescTable,
            AvailRing = layout.AvailRing,
            UsedRing = layout.UsedRing,
        };
        Assert.True(queue.TryEnable(memory, out _));
        return queue;
    }

    /// <summary>The fast (unobserved) pop gave the reference pop's element: iovecs, byte counts, descriptor count and
    /// indirect flag.</summary>
    private static void AssertSameElement(QueueElement element, QueueElement twinElement)
    {
        Assert.Equal(element.Out.ToArray(), twinElement.Out.ToArray());
        Assert.Equal(element.In.ToArray(), twinElement.In.ToArray());
        Assert.Equal(
            (element.OutBytes, element.InBytes, element.DescriptorCount, element.Indirect),
            (twinElement.OutBytes, twinElement.InBytes, twinElement.DescriptorCount, twinElement.Indirect)
        );
    }

    /// <summary>The pop ended as the spec model's walk did: same error, iovecs and byte totals, and on success the
    /// same descriptor count and indirect flag.</summary>
    private static void AssertMatchesModel(Reference expected, bool ok, QueueError error, QueueElement element)
    {
        Assert.Equal(expected.Error, error);
        Assert.Equal(expected.Error == QueueError.None, ok);
        Assert.Equal(expected.Out, element.Out.ToArray());
        Assert.Equal(expected.In, element.In.ToArray());
        Assert.Equal(expected.OutBytes, element.OutBytes);
        Assert.Equal(expected.InBytes, element.InBytes);
        if (ok)
        {
            Assert.Equal(expected.Descriptors, element.DescriptorCount);
            Assert.Equal(expected.Indirect, element.Indirect);
        }
    }

    private static bool IsRingAccess(SplitRingLayout layout, RecordingObserver.Access a) =>
        a.Address >= layout.AvailRing.Value && a.Address < layout.End.Value;

    private sealed record Reference(
        QueueError Error,
        Iovec[] Out,
        Iovec[] In,
        ulong OutBytes,
        ulong InBytes,
        int Descriptors,
        bool Indirect
    );

    /// <summary>The reference: <see cref="ChainModel"/> and QEMU virtqueue_map_desc's split into one iovec per
    /// region, stopping at the first error as the pop does.</summary>
    private static Reference Walk(GuestMemory memory, GuestAddress table, int size, ushort head)
    {
        var outs = new List<Iovec>();
        var ins = new List<Iovec>();
        ulong outBytes = 0;
        ulong inBytes = 0;
        ChainModel chain = ChainModel.Start(memory, table, size, head);
        QueueError error = QueueError.None;
        while (chain.TryNext(out Descriptor d))
        {
            int pieces = GuestRanges.CountPieces(memory, d.Addr, d.Len);
            Assert.True(pieces > 0);
            if (outs.Count + ins.Count + pieces > QueueLimits.IovecsMax)
            {
                error = QueueError.TooManyIovecs;
                break;
            }
            List<Iovec> list = d.IsWriteOnly ? ins : outs;
            GuestAddress a = d.Addr;
            ulong left = d.Len;
            while (left > 0)
            {
                ulong chunk = GuestRanges.FirstPiece(memory, a, left);
                list.Add(new Iovec(a, (uint)chunk));
                left -= chunk;
                a = new GuestAddress(a.Value + chunk);
            }
            if (d.IsWriteOnly)
                inBytes += d.Len;
            else
                outBytes += d.Len;
        }
        if (error == QueueError.None)
            error = chain.Error;
        return new Reference(error, [.. outs], [.. ins], outBytes, inBytes, chain.Count, chain.IsIndirect);
    }
}
