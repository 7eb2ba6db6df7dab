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
/// The batch ring calls (<see cref="SplitQueue.TryPopBatch"/>, <see cref="SplitQueue.FillBatch"/>,
/// <see cref="SplitQueue.AddUsedAndSignal"/>, <see cref="DriverQueue.TryAddBatch"/>,
/// <see cref="DriverQueue.TryAddBatchAndNotify"/>,
/// <see cref="DriverQueue.TryGetUsedBatch"/>,
/// <see cref="DriverQueue.ReapAll"/>) must equal the sequential calls they stand for, over hostile rings: the
/// same results and errors, queue state, memory bytes and dirty pages, and, with an observer attached, the same
/// sequence of guest accesses (what a trace records). Four twins of one memory: batch and sequential, each unobserved
/// (ring windows) and observed (accessors).
/// </summary>
public sealed class BatchDifferentialTests(ITestOutputHelper output)
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
    private static readonly ushort[] Flags = [0, 1, 2, 3, 1, 3, 2, 3, 4, 5, 6, 7];

    /// <summary>Guest choices from the generated words, then a fixed mix once they run out.</summary>
    private sealed class Choices(int[] words)
    {
        private int _at;
        private ulong _mix = unchecked((ulong)words.Length * 0x9E3779B97F4A7C15UL);

        public uint Next()
        {
            if (_at < words.Length)
                return unchecked((uint)words[_at++]);
            unchecked
            {
                ulong z = _mix += 0x9E3779B97F4A7C15UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                return (uint)(z ^ (z >> 31));
            }
        }

        public int Below(int n) => (int)(Next() % (uint)n);
    }

    private static GuestMemory[] Twins(GuestMemory memory, int count)
    {
        var twins = new GuestMemory[count];
        for (int i = 0; i < count; i++)
        {
            Assert.True(GuestMemory.TryCreate(memory.Layout, out GuestMemory? twin, out _));
            twin.Restore(memory.Snapshot());
            twin.ClearDirty();
            twins[i] = twin;
        }
        return twins;
    }

    private static void AssertSameMemory(GuestMemory[] twins)
    {
        for (int i = 1; i < twins.Length; i++)
        {
            Assert.Equal(twins[0].ContentHash(), twins[i].ContentHash());
            Assert.Equal(twins[0].DirtyPages(), twins[i].DirtyPages());
        }
    }

    private static void AssertSameElement(QueueElement expected, QueueElement actual)
    {
        Assert.Equal(expected.Head, actual.Head);
        Assert.Equal(expected.Out.ToArray(), actual.Out.ToArray());
        Assert.Equal(expected.In.ToArray(), actual.In.ToArray());
        Assert.Equal(
            (expected.OutBytes, expected.InBytes, expected.DescriptorCount, expected.Indirect),
            (actual.OutBytes, actual.InBytes, actual.DescriptorCount, actual.Indirect)
        );
    }

    [Fact]
    public void Property_PopBatch_MatchesSequentialPops()
    {
        var outcomes = new SortedDictionary<string, int>();
        PropertyRunner.Check(
            output,
            nameof(Property_PopBatch_MatchesSequentialPops),
            0x5EED_BA7C_0001UL,
            600,
            Words,
            words =>
            {
                var c = new Choices(words);
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
                int size = 1 << c.Below(5); // 1..16
                SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(0x1000), size);
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
                    Assert.True(
                        RawRing.WriteDescriptor(memory, table, index, addr, len, flags, (ushort)c.Below(range))
                    );
                }
                for (int i = 0; i < size; i++)
                    Write(layout.DescTable, i, size + 1);
                for (int i = 0; i < 8; i++)
                    Write(new GuestAddress(IndirectTable), i, 9);
                ushort availIdx = 0;
                void Offer(GuestMemory[] twins)
                {
                    // New heads (a few out of range), then avail.idx moved by up to a queue (now and then anywhere).
                    int more = c.Below(size + 1);
                    for (int j = 0; j < more; j++)
                    {
                        ushort head = (ushort)c.Below(size + (c.Below(8) == 0 ? 2 : 0));
                        foreach (GuestMemory m in twins)
                            Assert.True(RawRing.WriteAvailEntry(m, layout, (availIdx + j) % size, head));
                    }
                    availIdx = c.Below(10) == 0 ? (ushort)c.Next() : unchecked((ushort)(availIdx + more));
                    foreach (GuestMemory m in twins)
                        Assert.True(RawRing.WriteAvailIdx(m, layout, availIdx));
                }

                bool eventIdx = c.Below(2) == 0;
                GuestMemory[] mems = Twins(memory, 4); // batch, sequential; then the same two observed
                var queues = new SplitQueue[4];
                for (int t = 0; t < 4; t++)
                {
                    queues[t] = new SplitQueue(size)
                    {
                        DescTable = layout.DescTable,
                        AvailRing = layout.AvailRing,
                        UsedRing = layout.UsedRing,
                        EventIdx = eventIdx,
                    };
                    Assert.True(queues[t].TryEnable(mems[t], out _));
                }
                var observers = new[] { new RecordingObserver(), new RecordingObserver() };
                mems[2].Observer = observers[0];
                mems[3].Observer = observers[1];

                for (int round = 0; round < 4; round++)
                {
                    Offer(mems);
                    int max = c.Below(size + 2);
                    var counts = new int[4];
                    var errors = new QueueError[4];
                    var elements = new QueueElement[4][];
                    for (int t = 0; t < 4; t++)
                    {
                        elements[t] = new QueueElement[max];
                        for (int k = 0; k < max; k++)
                            elements[t][k] = new QueueElement();
                        if (t % 2 == 0)
                        {
                            bool ok = queues[t].TryPopBatch(mems[t], elements[t], out counts[t], out errors[t]);
                            Assert.Equal(errors[t] == QueueError.None, ok);
                        }
                        else
                        {
                            while (counts[t] < max && queues[t].TryPop(mems[t], elements[t][counts[t]], out errors[t]))
                                counts[t]++;
                        }
                    }
                    Assert.False(mems[0].IsObserved);
                    for (int t = 1; t < 4; t++)
                    {
                        Assert.Equal((counts[0], errors[0]), (counts[t], errors[t]));
                        Assert.Equal(queues[0].Capture(), queues[t].Capture());
                        for (int k = 0; k < counts[0]; k++)
                            AssertSameElement(elements[0][k], elements[t][k]);
                    }
                    Assert.Equal(observers[1].Accesses, observers[0].Accesses);
                    AssertSameMemory(mems);
                    string key = $"{errors[0]}{(counts[0] == max ? " (span full)" : "")}";
                    outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                    if (errors[0] != QueueError.None)
                        break;
                    // Complete what was popped (virtqueue_fill + flush; the batch twins with FillBatch, vhost_add_used_n,
                    // or with AddUsedAndSignal, vhost_add_used_and_signal_n, against Fill, Flush and ShouldNotify), so
                    // later rounds pop again; the used entries and the interrupt decisions must come out the same.
                    bool signal = c.Below(2) == 0;
                    var notifies = new bool[4];
                    for (int t = 0; t < 4; t++)
                    {
                        uint[] lens = Enumerable.Range(0, counts[t]).Select(k => (uint)k).ToArray();
                        if (t % 2 == 0 && signal)
                        {
                            notifies[t] = queues[t].AddUsedAndSignal(mems[t], elements[t].AsSpan(0, counts[t]), lens);
                            continue;
                        }
                        if (t % 2 == 0)
                            queues[t].FillBatch(mems[t], elements[t].AsSpan(0, counts[t]), lens, 0);
                        else
                            for (int k = 0; k < counts[t]; k++)
                                queues[t].Fill(mems[t], elements[t][k].Head, lens[k], k);
                        queues[t].Flush(mems[t], counts[t]);
                        if (signal)
                            notifies[t] = queues[t].ShouldNotify(mems[t]);
                    }
                    for (int t = 1; t < 4; t++)
                    {
                        Assert.Equal(notifies[0], notifies[t]);
                        Assert.Equal(queues[0].Capture(), queues[t].Capture());
                    }
                    Assert.Equal(observers[1].Accesses, observers[0].Accesses);
                    AssertSameMemory(mems);
                }
                return true;
            }
        );
        foreach ((string outcome, int count) in outcomes)
            output.WriteLine($"{count, 5} x {outcome}");
        Assert.True(outcomes.Count >= 8, "the hostile rings should reach most pop outcomes");
    }

    /// <summary>
    /// The single-chain kick (<see cref="DriverQueue.TryAddBatchAndNotify"/> of one pair, whose unobserved body is
    /// TryAddPairAndKickDirect) must equal the pair TryAdd then NeedsNotify, kick after kick, under a hostile device:
    /// random used.flags and avail_event, completions of outstanding, stale or garbage heads (which break the queue),
    /// a ring that fills up (the add fails, the kick decision still runs), and tables that cross a page.
    /// </summary>
    [Fact]
    public void Property_SinglePairKick_MatchesTryAddThenNeedsNotify()
    {
        PropertyRunner.Check(
            output,
            nameof(Property_SinglePairKick_MatchesTryAddThenNeedsNotify),
            0x5EED_BA7C_0003UL,
            400,
            Words,
            words =>
            {
                var c = new Choices(words);
                int size = 2 << c.Below(5); // 2..32
                bool eventIdx = c.Below(2) == 0;
                ulong ringBase = c.Below(2) == 0 ? 0x1000UL : 0x1f00UL; // the second: the table crosses a page
                SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(ringBase), size);
                GuestMemory memory = GuestMemory.CreateFlat(0x1_0000);
                GuestMemory[] mems = Twins(memory, 4); // fused, sequential; then the same two observed
                var drivers = new DriverQueue[4];
                for (int t = 0; t < 4; t++)
                {
                    drivers[t] = new DriverQueue(layout, eventIdx);
                    using (mems[t].AsGuest())
                        drivers[t].Initialize(mems[t]);
                    mems[t].ClearDirty();
                }
                var observers = new[] { new RecordingObserver(), new RecordingObserver() };
                mems[2].Observer = observers[0];
                mems[3].Observer = observers[1];
                var outstanding = new List<ushort>();
                ushort usedIdx = 0;
                for (int round = 0; round < 3 * size; round++)
                {
                    // Device: what the driver reads for its kick decision.
                    ushort flags = (ushort)c.Below(4);
                    ushort availEvent =
                        c.Below(4) == 0
                            ? (ushort)(c.Next() & 0xffff)
                            : drivers[0].AvailIdx.Add(c.Below(3)).Subtract(1).Value;
                    foreach (GuestMemory m in mems)
                    {
                        Assert.True(m.TryWriteUInt16(layout.UsedRing, flags));
                        Assert.True(m.TryWriteUInt16(layout.AvailEvent, availEvent));
                        m.ClearDirty();
                    }
                    GuestBuffer[] readable = [new(new(0x4000 + (ulong)c.Below(0x4000)), Lengths[c.Below(9)])];
                    GuestBuffer[] writable = [new(new(0x8000 + (ulong)c.Below(0x4000)), Lengths[c.Below(9)])];
                    var result = KickAndCompare(mems, drivers, observers, readable, writable);
                    if (result.Ok)
                        outstanding.Add(result.Head);

                    // Device: sometimes completes a few chains (rarely a garbage id, which breaks the queue on reap).
                    if (c.Below(3) != 0 || outstanding.Count == 0)
                        continue;
                    usedIdx = CompleteAndReap(c, layout, mems, drivers, outstanding, usedIdx);
                    if (drivers[0].Broken)
                        outstanding.Clear();
                }
                return true;
            }
        );
    }

    /// <summary>One kick of <see cref="Property_SinglePairKick_MatchesTryAddThenNeedsNotify"/>: the fused call on
    /// twins 0 and 2, TryAdd then NeedsNotify on 1 and 3; asserts the same answers, state, accesses and
    /// memory.</summary>
    private static (bool Ok, int Added, ushort Head, bool Notify) KickAndCompare(
        GuestMemory[] mems,
        DriverQueue[] drivers,
        RecordingObserver[] observers,
        GuestBuffer[] readable,
        GuestBuffer[] writable
    )
    {
        var results = new (bool Ok, int Added, ushort Head, bool Notify)[4];
        for (int t = 0; t < 4; t++)
        {
            using (mems[t].AsGuest())
            {
                if (t % 2 == 0)
                {
                    var heads = new ushort[1];
                    bool ok = drivers[t]
                        .TryAddBatchAndNotify(mems[t], readable, writable, heads, out int n, out bool kick);
                    results[t] = (ok, n, heads[0], kick);
                }
                else
                {
                    bool ok = drivers[t].TryAdd(mems[t], readable[0], writable[0], out ushort head);
                    results[t] = (ok, ok ? 1 : 0, head, drivers[t].NeedsNotify(mems[t]));
                }
            }
        }
        for (int t = 1; t < 4; t++)
        {
            Assert.Equal(results[0], results[t]);
            Assert.Equal(
                (drivers[0].Error, drivers[0].FreeCount, drivers[0].Outstanding, drivers[0].AvailIdx),
                (drivers[t].Error, drivers[t].FreeCount, drivers[t].Outstanding, drivers[t].AvailIdx)
            );
        }
        Assert.Equal(observers[1].Accesses, observers[0].Accesses);
        AssertSameMemory(mems);
        return results[0];
    }

    /// <summary>The hostile device of <see cref="Property_SinglePairKick_MatchesTryAddThenNeedsNotify"/>: completes
    /// the oldest outstanding chains (rarely a garbage id instead) in every twin, then each driver reaps them all.
    /// Returns the new used.idx.</summary>
    private static ushort CompleteAndReap(
        Choices c,
        SplitRingLayout layout,
        GuestMemory[] mems,
        DriverQueue[] drivers,
        List<ushort> outstanding,
        ushort usedIdx
    )
    {
        int size = layout.Size;
        int used = 1 + c.Below(outstanding.Count);
        for (int j = 0; j < used; j++)
        {
            uint id = c.Below(12) == 0 ? c.Next() % (uint)(size + 2) : outstanding[0];
            if (outstanding.Count > 0)
                outstanding.RemoveAt(0);
            int slot = (usedIdx + j) % size;
            foreach (GuestMemory m in mems)
            {
                Assert.True(m.TryWriteUInt32(layout.UsedEntry(slot), id));
                Assert.True(m.TryWriteUInt32(new GuestAddress(layout.UsedEntry(slot).Value + 4), 8));
            }
        }
        usedIdx = new RingIndex(usedIdx).Add(used).Value;
        for (int t = 0; t < mems.Length; t++)
        {
            Assert.True(mems[t].TryWriteUInt16(layout.UsedIdx, usedIdx));
            using (mems[t].AsGuest())
                while (drivers[t].TryGetUsed(mems[t], out _, out _)) { }
        }
        return usedIdx;
    }

    [Fact]
    public void Property_DriverBatches_MatchSequentialAddsAndReaps()
    {
        var outcomes = new SortedDictionary<string, int>();
        PropertyRunner.Check(
            output,
            nameof(Property_DriverBatches_MatchSequentialAddsAndReaps),
            0x5EED_BA7C_0002UL,
            600,
            Words,
            words =>
            {
                var c = new Choices(words);
                int size = 2 << c.Below(5); // 2..32
                bool eventIdx = c.Below(2) == 0;
                SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(0x1000), size);
                GuestMemory memory = GuestMemory.CreateFlat(0x1_0000);
                GuestMemory[] mems = Twins(memory, 4); // batch, sequential; then the same two observed
                var drivers = new DriverQueue[4];
                for (int t = 0; t < 4; t++)
                {
                    drivers[t] = new DriverQueue(layout, eventIdx);
                    using (mems[t].AsGuest())
                        drivers[t].Initialize(mems[t]);
                    mems[t].ClearDirty();
                }
                var observers = new[] { new RecordingObserver(), new RecordingObserver() };
                mems[2].Observer = observers[0];
                mems[3].Observer = observers[1];
                var added = new List<ushort>();
                ushort usedIdx = 0;

                void Compare()
                {
                    for (int t = 1; t < 4; t++)
                    {
                        Assert.Equal(
                            (
                                drivers[0].Error,
                                drivers[0].FreeCount,
                                drivers[0].Outstanding,
                                drivers[0].AvailIdx,
                                drivers[0].LastUsed,
                                drivers[0].CallbacksEnabled
                            ),
                            (
                                drivers[t].Error,
                                drivers[t].FreeCount,
                                drivers[t].Outstanding,
                                drivers[t].AvailIdx,
                                drivers[t].LastUsed,
                                drivers[t].CallbacksEnabled
                            )
                        );
                    }
                    Assert.Equal(observers[1].Accesses, observers[0].Accesses);
                    AssertSameMemory(mems);
                }

                for (int round = 0; round < 5 && !drivers[0].Broken; round++)
                {
                    // Driver: a batch of request/response pairs (sometimes more than fit).
                    int pairs = c.Below((size / 2) + 2);
                    var readable = new GuestBuffer[pairs];
                    var writable = new GuestBuffer[pairs];
                    for (int k = 0; k < pairs; k++)
                    {
                        readable[k] = new GuestBuffer(
                            new GuestAddress(0x4000 + (ulong)c.Below(0x4000)),
                            Lengths[c.Below(Lengths.Length)]
                        );
                        writable[k] = new GuestBuffer(
                            new GuestAddress(0x8000 + (ulong)c.Below(0x4000)),
                            Lengths[c.Below(Lengths.Length)]
                        );
                    }
                    var addOk = new bool[4];
                    var addCount = new int[4];
                    var heads = new ushort[4][];
                    var notify = new bool[4];
                    // Half the rounds add and decide on the kick in one call (TryAddBatchAndNotify) against the two.
                    bool fusedKick = c.Below(2) == 0;
                    for (int t = 0; t < 4; t++)
                    {
                        heads[t] = new ushort[pairs];
                        using (mems[t].AsGuest())
                        {
                            if (t % 2 == 0 && fusedKick)
                            {
                                addOk[t] = drivers[t]
                                    .TryAddBatchAndNotify(
                                        mems[t],
                                        readable,
                                        writable,
                                        heads[t],
                                        out addCount[t],
                                        out notify[t]
                                    );
                                continue;
                            }
                            if (t % 2 == 0)
                            {
                                addOk[t] = drivers[t]
                                    .TryAddBatch(mems[t], readable, writable, heads[t], out addCount[t]);
                            }
                            else
                            {
                                while (
                                    addCount[t] < pairs
                                    && drivers[t]
                                        .TryAdd(
                                            mems[t],
                                            readable[addCount[t]],
                                            writable[addCount[t]],
                                            out heads[t][addCount[t]]
                                        )
                                )
                                    addCount[t]++;
                                addOk[t] = addCount[t] == pairs;
                            }
                            notify[t] = drivers[t].NeedsNotify(mems[t]);
                        }
                    }
                    for (int t = 1; t < 4; t++)
                    {
                        Assert.Equal((addOk[0], addCount[0], notify[0]), (addOk[t], addCount[t], notify[t]));
                        Assert.Equal(heads[0], heads[t]);
                    }
                    Compare();
                    added.AddRange(heads[0].Take(addCount[0]));

                    // Hostile device: used entries naming added heads, stale heads or garbage, and a used.idx that may
                    // run past what is outstanding.
                    int used = c.Below(size + 1);
                    for (int j = 0; j < used; j++)
                    {
                        uint id =
                            c.Below(6) == 0 ? c.Next() % (uint)(size + 2)
                            : added.Count == 0 ? 0u
                            : added[c.Below(added.Count)];
                        uint len = c.Below(4) == 0 ? c.Next() : 8u;
                        int slot = (usedIdx + j) % size;
                        foreach (GuestMemory m in mems)
                        {
                            Assert.True(m.TryWriteUInt32(layout.UsedEntry(slot), id));
                            Assert.True(m.TryWriteUInt32(new GuestAddress(layout.UsedEntry(slot).Value + 4), len));
                        }
                    }
                    usedIdx = c.Below(10) == 0 ? (ushort)c.Next() : unchecked((ushort)(usedIdx + used));
                    foreach (GuestMemory m in mems)
                    {
                        Assert.True(m.TryWriteUInt16(layout.UsedIdx, usedIdx));
                        // The reap's own stores (used_event, avail.flags) are then the only dirty pages Compare sees.
                        m.ClearDirty();
                    }
                    bool disable = c.Below(3) == 0;
                    // Half the rounds reap with ReapAll (the interrupt handler's loop in one call) against that loop.
                    bool handler = c.Below(2) == 0;

                    // Driver: reap into a span of random length.
                    int max = c.Below(size + 2);
                    var counts = new int[4];
                    var ids = new ushort[4][];
                    var lens = new uint[4][];
                    var done = new bool[4];
                    for (int t = 0; t < 4; t++)
                    {
                        ids[t] = new ushort[max];
                        lens[t] = new uint[max];
                        using (mems[t].AsGuest())
                        {
                            if (disable)
                                drivers[t].DisableCallbacks(mems[t]);
                            if (handler && t % 2 == 0)
                            {
                                done[t] = drivers[t].ReapAll(mems[t], ids[t], lens[t], out counts[t]);
                            }
                            else if (handler)
                            {
                                // Linux virtblk_done: do { disable_cb; get_buf...; if broken, stop } while (!enable_cb).
                                while (true)
                                {
                                    drivers[t].DisableCallbacks(mems[t]);
                                    while (
                                        counts[t] < max
                                        && drivers[t].TryGetUsed(mems[t], out ids[t][counts[t]], out lens[t][counts[t]])
                                    )
                                        counts[t]++;
                                    if (counts[t] == max || drivers[t].Broken)
                                        break;
                                    if (drivers[t].EnableCallbacks(mems[t]))
                                    {
                                        done[t] = true;
                                        break;
                                    }
                                }
                            }
                            else if (t % 2 == 0)
                            {
                                bool any = drivers[t].TryGetUsedBatch(mems[t], ids[t], lens[t], out counts[t]);
                                Assert.Equal(counts[t] > 0, any);
                            }
                            else
                            {
                                while (
                                    counts[t] < max
                                    && drivers[t].TryGetUsed(mems[t], out ids[t][counts[t]], out lens[t][counts[t]])
                                )
                                    counts[t]++;
                            }
                        }
                    }
                    for (int t = 1; t < 4; t++)
                    {
                        Assert.Equal(done[0], done[t]);
                        Assert.Equal(counts[0], counts[t]);
                        Assert.Equal(ids[0], ids[t]);
                        Assert.Equal(lens[0], lens[t]);
                    }
                    Compare();
                    foreach (ushort id in ids[0].Take(counts[0]))
                        added.Remove(id);
                    string key =
                        $"{drivers[0].Error}{(counts[0] == max && max > 0 ? " (span full)" : "")}{(addOk[0] ? "" : " (ring full)")}{(handler ? (done[0] ? " (handler done)" : " (handler stopped)") : "")}";
                    outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                }
                return true;
            }
        );
        foreach ((string outcome, int count) in outcomes)
            output.WriteLine($"{count, 5} x {outcome}");
        Assert.True(outcomes.Count >= 6, "the hostile used rings should reach the reap errors and full rings");
    }

    [Theory]
    [InlineData(256, 0x1000UL)] // the table in one page: descriptor pages collected in one mask
    [InlineData(512, 0x1ff0UL)] // a table starting 16 bytes before a page boundary: three pages, one mask
    [InlineData(32768, 0x10UL)] // a 512 KiB table (129 pages): too large for a mask, each descriptor marked
    public void AddBatch_MarksTheDescriptorPagesTheSequentialAddsMark(int size, ulong ringBase)
    {
        SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(ringBase), size);
        GuestMemory[] mems = Twins(GuestMemory.CreateFlat(0x20_0000), 2);
        var drivers = new DriverQueue[2];
        for (int t = 0; t < 2; t++)
        {
            drivers[t] = new DriverQueue(layout, eventIdx: false);
            using (mems[t].AsGuest())
                drivers[t].Initialize(mems[t]);
        }
        // Rounds of adds and out-of-order completions scatter the free list across the table's pages.
        int pairs = Math.Min(size / 2, 96);
        var readable = Enumerable
            .Range(0, pairs)
            .Select(k => new GuestBuffer(new GuestAddress(0x18_0000 + ((ulong)k * 16)), 8))
            .ToArray();
        var writable = Enumerable
            .Range(0, pairs)
            .Select(k => new GuestBuffer(new GuestAddress(0x18_0008 + ((ulong)k * 16)), 8))
            .ToArray();
        ushort usedIdx = 0;
        for (int round = 0; round < 3; round++)
        {
            var heads = new ushort[2][];
            for (int t = 0; t < 2; t++)
            {
                mems[t].ClearDirty();
                heads[t] = new ushort[pairs];
                using (mems[t].AsGuest())
                {
                    if (t == 0)
                    {
                        Assert.True(drivers[t].TryAddBatch(mems[t], readable, writable, heads[t], out int added));
                        Assert.Equal(pairs, added);
                    }
                    else
                    {
                        for (int k = 0; k < pairs; k++)
                            Assert.True(drivers[t].TryAdd(mems[t], readable[k], writable[k], out heads[t][k]));
                    }
                    drivers[t].Publish(mems[t]);
                }
            }
            Assert.Equal(heads[1], heads[0]);
            AssertSameMemory(mems);
            Assert.NotEmpty(mems[0].DirtyPages());
            // Complete every other chain first, then the rest (out of order), and reap them all.
            ushort[] order = heads[0]
                .Where((_, k) => k % 2 == 0)
                .Concat(heads[0].Where((_, k) => k % 2 == 1))
                .ToArray();
            for (int j = 0; j < order.Length; j++)
            {
                foreach (GuestMemory m in mems)
                {
                    Assert.True(m.TryWriteUInt32(layout.UsedEntry((usedIdx + j) % size), order[j]));
                    Assert.True(
                        m.TryWriteUInt32(new GuestAddress(layout.UsedEntry((usedIdx + j) % size).Value + 4), 8)
                    );
                }
            }
            usedIdx = unchecked((ushort)(usedIdx + order.Length));
            foreach (GuestMemory m in mems)
                Assert.True(m.TryWriteUInt16(layout.UsedIdx, usedIdx));
            for (int t = 0; t < 2; t++)
            {
                using (mems[t].AsGuest())
                {
                    var ids = new ushort[pairs];
                    var lens = new uint[pairs];
                    Assert.True(drivers[t].TryGetUsedBatch(mems[t], ids, lens, out int reaped));
                    Assert.Equal(order, ids.Take(reaped));
                }
            }
        }
    }

    [Fact]
    public void Spec_2_7_10_PopBatch_AvailEventInsideADescriptor_IsSeenByTheWalkAsInSequentialPops()
    {
        // A hostile layout: the used ring overlaps the descriptor table so that avail_event (used + 4 + 8 * size) is
        // the low half of descriptor 1's len. Each pop stores avail_event before walking its chain (QEMU
        // virtqueue_pop), so the walk of a chain through descriptor 1 sees the new value.
        const int size = 4;
        var desc = new GuestAddress(0x1000);
        var avail = new GuestAddress(0x1040);
        var used = new GuestAddress(0x1018 - (ulong)VirtioSpec.UsedAvailEventOffset(size));
        GuestMemory memory = GuestMemory.CreateFlat(0x2_0000);
        Assert.True(RawRing.WriteDescriptor(memory, desc, 0, 0x4000, 8, VirtioSpec.DescFNext, 1));
        Assert.True(RawRing.WriteDescriptor(memory, desc, 1, 0x5000, 0x1_0000, VirtioSpec.DescFWrite, 0));
        Assert.True(RawRing.WriteDescriptor(memory, desc, 2, 0x4100, 8, VirtioSpec.DescFNext, 1));
        Assert.True(RawRing.WriteDescriptor(memory, desc, 3, 0x4200, 8, 0, 0));
        ushort[] heads = [0, 2, 3];
        for (int i = 0; i < heads.Length; i++)
            Assert.True(memory.TryWriteUInt16(new GuestAddress(avail.Value + 4 + (ulong)(2 * i)), heads[i]));
        Assert.True(memory.TryWriteUInt16(new GuestAddress(avail.Value + 2), (ushort)heads.Length));
        GuestMemory[] mems = Twins(memory, 2);
        var elements = new QueueElement[2][];
        var counts = new int[2];
        for (int t = 0; t < 2; t++)
        {
            var queue = new SplitQueue(size)
            {
                DescTable = desc,
                AvailRing = avail,
                UsedRing = used,
                EventIdx = true,
            };
            Assert.True(queue.TryEnable(mems[t], out QueueConfigError config), config.ToString());
            elements[t] = [new QueueElement(), new QueueElement(), new QueueElement(), new QueueElement()];
            if (t == 0)
            {
                Assert.True(
                    queue.TryPopBatch(mems[t], elements[t], out counts[t], out QueueError error),
                    error.ToString()
                );
            }
            else
            {
                while (queue.TryPop(mems[t], elements[t][counts[t]], out QueueError error))
                    counts[t]++;
            }
        }
        Assert.Equal(3, counts[0]);
        Assert.Equal(counts[1], counts[0]);
        for (int k = 0; k < counts[0]; k++)
            AssertSameElement(elements[1][k], elements[0][k]);
        AssertSameMemory(mems);
        // Head 0's walk saw avail_event = 1 in descriptor 1's len, head 2's saw 2.
        Assert.Equal(0x1_0001u, elements[0][0].In[0].Len);
        Assert.Equal(0x1_0002u, elements[0][1].In[0].Len);
    }
}
