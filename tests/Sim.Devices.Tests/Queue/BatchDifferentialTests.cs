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
        private ulong _mix = (ulong)words.Length * 0x9E3779B97F4A7C15UL;

        // Test projects are unchecked: the casts and the mix wrap.
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
                GuestMemory memory = HostileMemory();
                int size = 1 << c.Below(5); // 1..16
                SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(0x1000), size);
                WriteHostileTables(memory, layout, size, c);
                bool eventIdx = c.Below(2) == 0;
                var twins = new PopTwins(Twins(memory, 4), layout, size, eventIdx, c);
                for (int round = 0; round < 4; round++)
                {
                    twins.Offer();
                    int max = c.Below(size + 2);
                    (int count, QueueError error) = twins.PopAndCompare(max);
                    string key = $"{error}{(count == max ? " (span full)" : "")}";
                    outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                    if (error != QueueError.None)
                        break;
                    twins.CompleteAndCompare(signal: c.Below(2) == 0);
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
                // The second: the table crosses a page; the third: the available ring does (AvailSplitLayout).
                SplitRingLayout layout = c.Below(3) switch
                {
                    0 => SplitRingLayout.Modern(new GuestAddress(0x1000), size),
                    1 => SplitRingLayout.Modern(new GuestAddress(0x1f00), size),
                    _ => AvailSplitLayout(size),
                };
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

    /// <summary>A layout for up to 32 entries whose available ring's flags and idx end page 2 and whose entries and
    /// used_event start page 3, pages no other ring part uses: the driver's fast bodies mark such a ring's pages
    /// store by store, where a ring inside one page has its page marked once per kick, and a missed mark shows in
    /// the dirty pages.</summary>
    private static SplitRingLayout AvailSplitLayout(int size) =>
        new(new GuestAddress(0x1000), new GuestAddress(0x2ffc), new GuestAddress(0x4000), size);

    /// <summary>Regions [0, 0x8000) and [0x8000, 0x10000) adjacent, then a gap with one page.</summary>
    private static GuestMemory HostileMemory()
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

    /// <summary>Hostile descriptors in the ring's table and in an indirect table.</summary>
    private static void WriteHostileTables(GuestMemory memory, SplitRingLayout layout, int size, Choices c)
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
    }

    /// <summary>Four device queues on four twins of one memory: batch (even) and sequential (odd), the first two
    /// unobserved (ring windows), the last two observed (accessors).</summary>
    private sealed class PopTwins
    {
        private readonly GuestMemory[] _mems;
        private readonly SplitQueue[] _queues = new SplitQueue[4];
        private readonly RecordingObserver[] _observers = [new RecordingObserver(), new RecordingObserver()];
        private readonly SplitRingLayout _layout;
        private readonly int _size;
        private readonly Choices _c;
        private ushort _availIdx;
        private int[] _counts = [];
        private QueueElement[][] _elements = [];

        public PopTwins(GuestMemory[] mems, SplitRingLayout layout, int size, bool eventIdx, Choices c)
        {
            (_mems, _layout, _size, _c) = (mems, layout, size, c);
            for (int t = 0; t < 4; t++)
            {
                _queues[t] = new SplitQueue(size)
                {
                    DescTable = layout.DescTable,
                    AvailRing = layout.AvailRing,
                    UsedRing = layout.UsedRing,
                    EventIdx = eventIdx,
                };
                Assert.True(_queues[t].TryEnable(mems[t], out _));
            }
            mems[2].Observer = _observers[0];
            mems[3].Observer = _observers[1];
        }

        /// <summary>New heads (a few out of range), then avail.idx moved by up to a queue (now and then
        /// anywhere).</summary>
        public void Offer()
        {
            int more = _c.Below(_size + 1);
            for (int j = 0; j < more; j++)
            {
                ushort head = (ushort)_c.Below(_size + (_c.Below(8) == 0 ? 2 : 0));
                foreach (GuestMemory m in _mems)
                    Assert.True(RawRing.WriteAvailEntry(m, _layout, (_availIdx + j) % _size, head));
            }
            _availIdx = _c.Below(10) == 0 ? (ushort)_c.Next() : (ushort)(_availIdx + more);
            foreach (GuestMemory m in _mems)
                Assert.True(RawRing.WriteAvailIdx(m, _layout, _availIdx));
        }

        /// <summary>Pops up to <paramref name="max"/> elements on each twin (TryPopBatch against TryPop); all four
        /// must agree on count, error, queue state, elements, accesses and memory. Returns the first's count and
        /// error.</summary>
        public (int Count, QueueError Error) PopAndCompare(int max)
        {
            _counts = new int[4];
            var errors = new QueueError[4];
            _elements = new QueueElement[4][];
            for (int t = 0; t < 4; t++)
            {
                _elements[t] = new QueueElement[max];
                for (int k = 0; k < max; k++)
                    _elements[t][k] = new QueueElement();
                if (t % 2 == 0)
                {
                    bool ok = _queues[t].TryPopBatch(_mems[t], _elements[t], out _counts[t], out errors[t]);
                    Assert.Equal(errors[t] == QueueError.None, ok);
                }
                else
                {
                    while (_counts[t] < max && _queues[t].TryPop(_mems[t], _elements[t][_counts[t]], out errors[t]))
                        _counts[t]++;
                }
            }
            Assert.False(_mems[0].IsObserved);
            for (int t = 1; t < 4; t++)
            {
                Assert.Equal((_counts[0], errors[0]), (_counts[t], errors[t]));
                Assert.Equal(_queues[0].Capture(), _queues[t].Capture());
                for (int k = 0; k < _counts[0]; k++)
                    AssertSameElement(_elements[0][k], _elements[t][k]);
            }
            Assert.Equal(_observers[1].Accesses, _observers[0].Accesses);
            AssertSameMemory(_mems);
            return (_counts[0], errors[0]);
        }

        /// <summary>Completes what was popped (virtqueue_fill + flush; the batch twins with FillBatch,
        /// vhost_add_used_n, or with AddUsedAndSignal, vhost_add_used_and_signal_n, against Fill, Flush and
        /// ShouldNotify), so later rounds pop again; the used entries and the interrupt decisions must come out the
        /// same.</summary>
        public void CompleteAndCompare(bool signal)
        {
            var notifies = new bool[4];
            for (int t = 0; t < 4; t++)
            {
                uint[] lens = Enumerable.Range(0, _counts[t]).Select(k => (uint)k).ToArray();
                if (t % 2 == 0 && signal)
                {
                    notifies[t] = _queues[t].AddUsedAndSignal(_mems[t], _elements[t].AsSpan(0, _counts[t]), lens);
                    continue;
                }
                if (t % 2 == 0)
                    _queues[t].FillBatch(_mems[t], _elements[t].AsSpan(0, _counts[t]), lens, 0);
                else
                    for (int k = 0; k < _counts[t]; k++)
                        _queues[t].Fill(_mems[t], _elements[t][k].Head, lens[k], k);
                _queues[t].Flush(_mems[t], _counts[t]);
                if (signal)
                    notifies[t] = _queues[t].ShouldNotify(_mems[t]);
            }
            for (int t = 1; t < 4; t++)
            {
                Assert.Equal(notifies[0], notifies[t]);
                Assert.Equal(_queues[0].Capture(), _queues[t].Capture());
            }
            Assert.Equal(_observers[1].Accesses, _observers[0].Accesses);
            AssertSameMemory(_mems);
        }
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
                SplitRingLayout layout =
                    c.Below(2) == 0 ? SplitRingLayout.Modern(new GuestAddress(0x1000), size) : AvailSplitLayout(size);
                GuestMemory memory = GuestMemory.CreateFlat(0x1_0000);
                var twins = new DriverTwins(Twins(memory, 4), layout, size, eventIdx, c);
                for (int round = 0; round < 5 && !twins.Broken; round++)
                {
                    bool addOk = twins.AddAndCompare();
                    twins.WriteHostileUsedEntries();
                    bool disable = c.Below(3) == 0;
                    // Half the rounds reap with ReapAll (the interrupt handler's loop in one call) against that loop.
                    bool handler = c.Below(2) == 0;
                    int max = c.Below(size + 2);
                    (int count, bool done) = twins.ReapAndCompare(max, disable, handler);
                    string key =
                        $"{twins.Error}{(count == max && max > 0 ? " (span full)" : "")}{(addOk ? "" : " (ring full)")}"
                        + (handler ? (done ? " (handler done)" : " (handler stopped)") : "");
                    outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                }
                return true;
            }
        );
        foreach ((string outcome, int count) in outcomes)
            output.WriteLine($"{count, 5} x {outcome}");
        Assert.True(outcomes.Count >= 6, "the hostile used rings should reach the reap errors and full rings");
    }

    /// <summary>Four drivers on four twins of one memory: batch calls (even) and sequential calls (odd), the first
    /// two unobserved (ring windows), the last two observed (accessors); a hostile device writes the used
    /// ring.</summary>
    private sealed class DriverTwins
    {
        private readonly GuestMemory[] _mems;
        private readonly DriverQueue[] _drivers = new DriverQueue[4];
        private readonly RecordingObserver[] _observers = [new RecordingObserver(), new RecordingObserver()];
        private readonly SplitRingLayout _layout;
        private readonly int _size;
        private readonly Choices _c;
        private readonly List<ushort> _added = [];
        private ushort _usedIdx;

        public DriverTwins(GuestMemory[] mems, SplitRingLayout layout, int size, bool eventIdx, Choices c)
        {
            (_mems, _layout, _size, _c) = (mems, layout, size, c);
            for (int t = 0; t < 4; t++)
            {
                _drivers[t] = new DriverQueue(layout, eventIdx);
                using (mems[t].AsGuest())
                    _drivers[t].Initialize(mems[t]);
                mems[t].ClearDirty();
            }
            mems[2].Observer = _observers[0];
            mems[3].Observer = _observers[1];
        }

        public bool Broken => _drivers[0].Broken;

        public DriverQueueError Error => _drivers[0].Error;

        /// <summary>All four drivers in the same state, with the same accesses and memory.</summary>
        private void Compare()
        {
            for (int t = 1; t < 4; t++)
            {
                Assert.Equal(
                    (
                        _drivers[0].Error,
                        _drivers[0].FreeCount,
                        _drivers[0].Outstanding,
                        _drivers[0].AvailIdx,
                        _drivers[0].LastUsed,
                        _drivers[0].CallbacksEnabled
                    ),
                    (
                        _drivers[t].Error,
                        _drivers[t].FreeCount,
                        _drivers[t].Outstanding,
                        _drivers[t].AvailIdx,
                        _drivers[t].LastUsed,
                        _drivers[t].CallbacksEnabled
                    )
                );
            }
            Assert.Equal(_observers[1].Accesses, _observers[0].Accesses);
            AssertSameMemory(_mems);
        }

        /// <summary>Driver: a batch of request/response pairs (sometimes more than fit), added by TryAddBatch (or,
        /// half the rounds, TryAddBatchAndNotify) against TryAdd and NeedsNotify; true when all fitted.</summary>
        public bool AddAndCompare()
        {
            int pairs = _c.Below((_size / 2) + 2);
            var readable = new GuestBuffer[pairs];
            var writable = new GuestBuffer[pairs];
            for (int k = 0; k < pairs; k++)
            {
                readable[k] = new GuestBuffer(
                    new GuestAddress(0x4000 + (ulong)_c.Below(0x4000)),
                    Lengths[_c.Below(Lengths.Length)]
                );
                writable[k] = new GuestBuffer(
                    new GuestAddress(0x8000 + (ulong)_c.Below(0x4000)),
                    Lengths[_c.Below(Lengths.Length)]
                );
            }
            var addOk = new bool[4];
            var addCount = new int[4];
            var heads = new ushort[4][];
            var notify = new bool[4];
            bool fusedKick = _c.Below(2) == 0;
            for (int t = 0; t < 4; t++)
            {
                heads[t] = new ushort[pairs];
                using (_mems[t].AsGuest())
                    addOk[t] = Add(t, fusedKick, readable, writable, heads[t], out addCount[t], out notify[t]);
            }
            for (int t = 1; t < 4; t++)
            {
                Assert.Equal((addOk[0], addCount[0], notify[0]), (addOk[t], addCount[t], notify[t]));
                Assert.Equal(heads[0], heads[t]);
            }
            Compare();
            _added.AddRange(heads[0].Take(addCount[0]));
            return addOk[0];
        }

        private bool Add(
            int t,
            bool fusedKick,
            GuestBuffer[] readable,
            GuestBuffer[] writable,
            ushort[] heads,
            out int count,
            out bool notify
        )
        {
            DriverQueue driver = _drivers[t];
            GuestMemory mem = _mems[t];
            if (t % 2 == 0 && fusedKick)
                return driver.TryAddBatchAndNotify(mem, readable, writable, heads, out count, out notify);
            bool ok;
            if (t % 2 == 0)
            {
                ok = driver.TryAddBatch(mem, readable, writable, heads, out count);
            }
            else
            {
                count = 0;
                while (
                    count < readable.Length && driver.TryAdd(mem, readable[count], writable[count], out heads[count])
                )
                    count++;
                ok = count == readable.Length;
            }
            notify = driver.NeedsNotify(mem);
            return ok;
        }

        /// <summary>Hostile device: used entries naming added heads, stale heads or garbage, and a used.idx that may
        /// run past what is outstanding.</summary>
        public void WriteHostileUsedEntries()
        {
            int used = _c.Below(_size + 1);
            for (int j = 0; j < used; j++)
            {
                uint id =
                    _c.Below(6) == 0 ? _c.Next() % (uint)(_size + 2)
                    : _added.Count == 0 ? 0u
                    : _added[_c.Below(_added.Count)];
                uint len = _c.Below(4) == 0 ? _c.Next() : 8u;
                int slot = (_usedIdx + j) % _size;
                foreach (GuestMemory m in _mems)
                {
                    Assert.True(m.TryWriteUInt32(_layout.UsedEntry(slot), id));
                    Assert.True(m.TryWriteUInt32(new GuestAddress(_layout.UsedEntry(slot).Value + 4), len));
                }
            }
            _usedIdx = _c.Below(10) == 0 ? (ushort)_c.Next() : (ushort)(_usedIdx + used);
            foreach (GuestMemory m in _mems)
            {
                Assert.True(m.TryWriteUInt16(_layout.UsedIdx, _usedIdx));
                // The reap's own stores (used_event, avail.flags) are then the only dirty pages Compare sees.
                m.ClearDirty();
            }
        }

        /// <summary>Driver: reaps into a span of <paramref name="max"/> entries, by TryGetUsedBatch (or, with
        /// <paramref name="handler"/>, ReapAll) against the sequential loops. Returns the count and whether the
        /// handler finished.</summary>
        public (int Count, bool Done) ReapAndCompare(int max, bool disable, bool handler)
        {
            var counts = new int[4];
            var ids = new ushort[4][];
            var lens = new uint[4][];
            var done = new bool[4];
            for (int t = 0; t < 4; t++)
            {
                ids[t] = new ushort[max];
                lens[t] = new uint[max];
                using (_mems[t].AsGuest())
                {
                    if (disable)
                        _drivers[t].DisableCallbacks(_mems[t]);
                    done[t] = Reap(t, handler, ids[t], lens[t], out counts[t]);
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
                _added.Remove(id);
            return (counts[0], done[0]);
        }

        private bool Reap(int t, bool handler, ushort[] ids, uint[] lens, out int count)
        {
            DriverQueue driver = _drivers[t];
            GuestMemory mem = _mems[t];
            int max = ids.Length;
            count = 0;
            if (handler && t % 2 == 0)
                return driver.ReapAll(mem, ids, lens, out count);
            if (handler)
            {
                // Linux virtblk_done: do { disable_cb; get_buf...; if broken, stop } while (!enable_cb).
                while (true)
                {
                    driver.DisableCallbacks(mem);
                    while (count < max && driver.TryGetUsed(mem, out ids[count], out lens[count]))
                        count++;
                    if (count == max || driver.Broken)
                        return false;
                    if (driver.EnableCallbacks(mem))
                        return true;
                }
            }
            if (t % 2 == 0)
            {
                bool any = driver.TryGetUsedBatch(mem, ids, lens, out count);
                Assert.Equal(count > 0, any);
                return false;
            }
            while (count < max && driver.TryGetUsed(mem, out ids[count], out lens[count]))
                count++;
            return false;
        }
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
            usedIdx = CompleteInOrder(mems, layout, size, order, usedIdx);
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

    /// <summary>The device completes <paramref name="order"/>'s heads (len 8) in that order from
    /// <paramref name="usedIdx"/> on, in every twin; returns the new used.idx.</summary>
    private static ushort CompleteInOrder(
        GuestMemory[] mems,
        SplitRingLayout layout,
        int size,
        ushort[] order,
        ushort usedIdx
    )
    {
        for (int j = 0; j < order.Length; j++)
        {
            foreach (GuestMemory m in mems)
            {
                Assert.True(m.TryWriteUInt32(layout.UsedEntry((usedIdx + j) % size), order[j]));
                Assert.True(m.TryWriteUInt32(new GuestAddress(layout.UsedEntry((usedIdx + j) % size).Value + 4), 8));
            }
        }
        usedIdx = (ushort)(usedIdx + order.Length);
        foreach (GuestMemory m in mems)
            Assert.True(m.TryWriteUInt16(layout.UsedIdx, usedIdx));
        return usedIdx;
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
