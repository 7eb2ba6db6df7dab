using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Devices.Tests.Queue;

/// <summary>FsCheck.Xunit properties over arbitrary rings and memory contents, each with its seed pinned in Replay.
/// Cases are decoded from an arbitrary int array, so FsCheck's shrinking of the array shrinks the ring.</summary>
public sealed class QueuePropertyTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>How the hostile-ring cases ended, logged when the test ends (the property runs every case
    /// first).</summary>
    private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);

    public void Dispose()
    {
        foreach ((string outcome, int count) in _outcomes)
            output.WriteLine($"{count, 5} x {outcome}");
    }

    private static readonly Arbitrary<int[]> Words = Arb.From(Gen.Choose(int.MinValue, int.MaxValue).ArrayOf(), a =>
        ArbMap.Default.ArbFor<int[]>().Shrinker(a)
    );

    /// <summary>Reads successive words of a case; past the end it continues with a SplitMix64 stream keyed by
    /// the array (so short arrays still describe whole rings, and shrinking the array changes the ring).</summary>
    private sealed class Cursor(int[] words)
    {
        private int _at;
        private ulong _mix = unchecked(
            (ulong)words.Length * 0x9E3779B97F4A7C15UL + (words.Length > 0 ? (uint)words[0] : 0u)
        );

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

        public T Pick<T>(T[] options) => options[Below(options.Length)];
    }

    // Regions: [0, 0x8000) and [0x8000, 0x10000) adjacent, then [0x20000, 0x21000) after a gap.
    private static GuestMemory HostileMemory()
    {
        Assert.True(
            GuestMemory.TryCreate(
                new MemoryLayout([
                    new RegionSpec(0, 0x8000),
                    new RegionSpec(0x8000, 0x8000),
                    new RegionSpec(0x2_0000, 0x1000),
                ]),
                out GuestMemory? m,
                out _
            )
        );
        return m;
    }

    private const ulong HostileTable = 0x3000;

    private static readonly ulong[] HostileAddresses =
    [
        0x4000,
        0x7ff8,
        0x2_0000,
        0x2_0ff8,
        0x1_0000,
        HostileTable,
        0x1000,
        ulong.MaxValue - 4,
        0xffff_fff0,
        0,
    ];
    private static readonly uint[] HostileLengths = [0, 1, 8, 16, 32, 0x100, 0x1_0000, 0x8000_0000, 0xffff_fff0, 48];

    private static void WriteHostileDescriptor(
        GuestMemory memory,
        GuestAddress table,
        int index,
        Cursor c,
        int indexRange
    )
    {
        if (c.Below(2) == 0)
        {
            // Plausible: in memory, non-zero, ordinary flags; next mostly in range.
            ulong plausibleAddr = c.Pick(new ulong[] { 0x4000, 0x7ff8, 0x2_0000, 0x5000 }) + (ulong)c.Below(8);
            uint plausibleLen = c.Pick(new uint[] { 1, 8, 16, 32 });
            ushort plausibleFlags = c.Pick(new ushort[] { 0, 1, 2, 3, 1, 3, 4 });
            ushort plausibleNext = (ushort)c.Below(indexRange);
            Assert.True(
                RawRing.WriteDescriptor(
                    memory,
                    table,
                    index,
                    plausibleAddr,
                    plausibleFlags == 4 ? 16u * (uint)(1 + c.Below(8)) : plausibleLen,
                    plausibleFlags,
                    plausibleNext
                )
            );
            return;
        }
        ulong addr = c.Below(4) == 0 ? ((ulong)c.Next() << 8) | c.Next() : c.Pick(HostileAddresses);
        uint len = c.Below(4) == 0 ? c.Next() : c.Pick(HostileLengths);
        ushort flags = (ushort)(c.Below(8) == 0 ? c.Next() : (uint)c.Below(8));
        ushort next = (ushort)(c.Below(8) == 0 ? c.Next() : (uint)c.Below(indexRange));
        Assert.True(RawRing.WriteDescriptor(memory, table, index, addr, len, flags, next));
    }

    [Property(MaxTest = 1000, Replay = "(1592590337,11400714819323198485)")]
    public Property Property_HostileRing_PopNeverThrows_StaysInMemory_Terminates()
    {
        SortedDictionary<string, int> outcomes = _outcomes;
        return Prop.ForAll(Words, words =>
        {
            var c = new Cursor(words);
            GuestMemory memory = HostileMemory();
            int size = 1 << c.Below(6); // 1..32
            bool eventIdx = c.Below(2) == 0;
            SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(0x1000), size);
            RingIndex start = WriteHostileRing(memory, layout, size, c);
            SplitQueue queue = QueueStartingAt(memory, layout, size, eventIdx, start);

            var observer = new RecordingObserver();
            memory.Observer = observer;
            var element = new QueueElement();
            int pops = 0;
            int calls = 0;
            QueueError error = QueueError.None;
            // Bound: at most size successful pops (then SizeExceeded or empty) plus the final failing call.
            while (calls++ <= size + 1)
            {
                int before = observer.Accesses.Count;
                bool ok = queue.TryPop(memory, element, out error);
                int descReads = observer.Accesses.Skip(before).Count(a => !a.Write && a.Length == VirtioSpec.DescSize);
                Assert.True(descReads <= Math.Max(size, 8) + 2, $"{descReads} descriptor reads in one pop");
                if (!ok)
                    break;
                pops++;
                Assert.True(element.Head < size);
                Assert.True(element.OutCount + element.InCount <= QueueLimits.IovecsMax);
                foreach (Iovec v in element.Out)
                    Assert.True(memory.IsValidRange(v.Addr, v.Len));
                foreach (Iovec v in element.In)
                    Assert.True(memory.IsValidRange(v.Addr, v.Len));
                if (c.Below(2) == 0)
                    queue.Push(memory, element.Head, (uint)Math.Min(element.InBytes, 8));
                _ = queue.ShouldNotify(memory);
            }
            Assert.True(calls <= size + 2, "pop loop did not terminate within the bound");
            string key = $"{pops} pops then {error}";
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
            Assert.True(pops <= size);
            queue.AssertInvariants();

            AssertAccessesInMemory_WritesInUsedRing(memory, layout, observer);
            return true;
        });
    }

    /// <summary>A hostile ring: every descriptor (and an indirect table's) from the case, avail entries with heads
    /// a few out of range, avail.idx up to a queue (now and then anywhere) past a random start, random avail flags
    /// and used_event. Returns the start index.</summary>
    private static RingIndex WriteHostileRing(GuestMemory memory, SplitRingLayout layout, int size, Cursor c)
    {
        for (int i = 0; i < size; i++)
            WriteHostileDescriptor(memory, layout.DescTable, i, c, size + 2);
        for (int i = 0; i < 8; i++)
            WriteHostileDescriptor(memory, new GuestAddress(HostileTable), i, c, 9);
        var start = new RingIndex((ushort)c.Next());
        for (int i = 0; i < size; i++)
            Assert.True(RawRing.WriteAvailEntry(memory, layout, i, (ushort)c.Below(size + 2)));
        int distance = c.Below(8) == 0 ? (int)(c.Next() & 0xffff) : c.Below(size + 2);
        Assert.True(RawRing.WriteAvailIdx(memory, layout, start.Add(distance).Value));
        Assert.True(RawRing.WriteAvailFlags(memory, layout, (ushort)c.Next()));
        Assert.True(RawRing.WriteUsedEvent(memory, layout, (ushort)c.Next()));
        return start;
    }

    /// <summary>An enabled queue on <paramref name="layout"/> whose indices all start at
    /// <paramref name="start"/>.</summary>
    private static SplitQueue QueueStartingAt(
        GuestMemory memory,
        SplitRingLayout layout,
        int size,
        bool eventIdx,
        RingIndex start
    )
    {
        var queue = new SplitQueue(size)
        {
            DescTable = layout.DescTable,
            AvailRing = layout.AvailRing,
            UsedRing = layout.UsedRing,
            EventIdx = eventIdx,
        };
        Assert.True(queue.TryEnable(memory, out _));
        Assert.True(
            queue.TryRestore(
                memory,
                queue.Capture() with
                {
                    NextAvail = start,
                    ShadowAvail = start,
                    UsedIdx = start,
                    SignalledUsed = start,
                },
                out _
            )
        );
        return queue;
    }

    private static void AssertAccessesInMemory_WritesInUsedRing(
        GuestMemory memory,
        SplitRingLayout layout,
        RecordingObserver observer
    )
    {
        ulong usedStart = layout.UsedRing.Value;
        ulong usedEnd = layout.End.Value;
        foreach (RecordingObserver.Access a in observer.Accesses)
        {
            Assert.True(RecordingObserver.Inside(memory, a), $"access outside guest memory at 0x{a.Address:x}");
            if (a.Write)
                Assert.True(
                    a.Address >= usedStart && a.Address + (ulong)a.Length <= usedEnd,
                    $"device wrote outside the used ring at 0x{a.Address:x}"
                );
        }
    }

    [Property(MaxTest = 200, Replay = "(1592590338,11400714819323198485)")]
    public Property Property_PopAllPushAll_EveryHeadCompletedExactlyOnce_LenNeverExceedsWritten()
    {
        return Prop.ForAll(Words, words =>
        {
            var c = new Cursor(words);
            int size = 1 << (1 + c.Below(4)); // 2..16
            bool eventIdx = c.Below(2) == 0;
            var r = new RingFixture(size, eventIdx);
            var observer = new RecordingObserver();
            r.Memory.Observer = observer;
            int rounds = 1 + c.Below(4);
            ulong bufferCursor = 0;
            for (int round = 0; round < rounds; round++)
            {
                var writableRanges = new List<(ulong Start, ulong End)>();
                HashSet<ushort> added = DriverAddsRandomChains(r, c, size, writableRanges, Take);
                List<(ushort Head, uint Written, ulong InBytes)> popped = DeviceCompletesAll(
                    r,
                    c,
                    observer,
                    writableRanges
                );
                Assert.Equal(added.Count, popped.Count);
                DriverReapsEachHeadOnce(r, added, popped, size);
            }
            return true;

            GuestBuffer Take(uint len)
            {
                var b = new GuestBuffer(RingFixture.Buf(bufferCursor), len);
                bufferCursor = (bufferCursor + 64) % 0x4_0000;
                return b;
            }
        });
    }

    /// <summary>Driver: adds random chains (direct or indirect, 0-2 readable and 0-2 writable buffers) until full or
    /// the case says stop, then publishes them. Returns the heads added; the writable ranges are collected.</summary>
    private static HashSet<ushort> DriverAddsRandomChains(
        RingFixture r,
        Cursor c,
        int size,
        List<(ulong Start, ulong End)> writableRanges,
        Func<uint, GuestBuffer> take
    )
    {
        var added = new HashSet<ushort>();
        int wanted = 1 + c.Below(size);
        using (r.Memory.AsGuest())
        {
            for (int k = 0; k < wanted; k++)
            {
                int nr = c.Below(3);
                int nw = c.Below(3);
                if (nr + nw == 0)
                    nr = 1;
                var rd = new GuestBuffer[nr];
                var wr = new GuestBuffer[nw];
                for (int i = 0; i < nr; i++)
                    rd[i] = take(1 + (uint)c.Below(64));
                for (int i = 0; i < nw; i++)
                {
                    wr[i] = take(1 + (uint)c.Below(64));
                    writableRanges.Add((wr[i].Addr.Value, wr[i].Addr.Value + wr[i].Len));
                }
                bool indirect = c.Below(2) == 0;
                ushort head;
                bool ok = indirect
                    ? r.Driver.TryAddIndirect(
                        r.Memory,
                        rd,
                        wr,
                        new GuestAddress(RingFixture.TableBase + ((ulong)k * 256)),
                        out head
                    )
                    : r.Driver.TryAdd(r.Memory, rd, wr, out head);
                if (!ok)
                    break;
                Assert.True(added.Add(head));
            }
            r.Driver.Publish(r.Memory);
        }
        return added;
    }

    /// <summary>Device: pops everything, writes a random amount, fills in a random order, flushes once; it writes
    /// only into writable buffers and the used ring.</summary>
    private static List<(ushort Head, uint Written, ulong InBytes)> DeviceCompletesAll(
        RingFixture r,
        Cursor c,
        RecordingObserver observer,
        List<(ulong Start, ulong End)> writableRanges
    )
    {
        int before = observer.Accesses.Count;
        var popped = new List<(ushort Head, uint Written, ulong InBytes)>();
        while (r.Pop(out QueueError error))
        {
            ulong want =
                c.Below(3) == 0 ? r.Element.InBytes + 5 : (ulong)c.Below((int)Math.Min(r.Element.InBytes + 1, 1000));
            var data = new byte[want];
            int written = r.Element.WriteIn(r.Memory, 0, data);
            Assert.True((ulong)written <= r.Element.InBytes);
            popped.Add((r.Element.Head, (uint)written, r.Element.InBytes));
        }
        int[] order = Enumerable.Range(0, popped.Count).OrderBy(_ => c.Next()).ToArray();
        for (int i = 0; i < order.Length; i++)
            r.Device.Fill(r.Memory, popped[order[i]].Head, popped[order[i]].Written, i);
        r.Device.Flush(r.Memory, popped.Count);
        _ = r.Device.ShouldNotify(r.Memory);
        foreach (
            RecordingObserver.Access a in observer
                .Accesses.Skip(before)
                .Where(a => a.Write && a.Actor == MemoryActor.Device)
        )
        {
            bool inUsed = a.Address >= r.Layout.UsedRing.Value && a.Address + (ulong)a.Length <= r.Layout.End.Value;
            bool inWritable = writableRanges.Any(w => a.Address >= w.Start && a.Address + (ulong)a.Length <= w.End);
            Assert.True(
                inUsed || inWritable,
                $"device wrote 0x{a.Address:x}+{a.Length} outside writable buffers and the used ring"
            );
        }
        return popped;
    }

    /// <summary>Driver: reaps; every added head exactly once, len as written and within the offered writable
    /// bytes; the queue is empty again.</summary>
    private static void DriverReapsEachHeadOnce(
        RingFixture r,
        HashSet<ushort> added,
        List<(ushort Head, uint Written, ulong InBytes)> popped,
        int size
    )
    {
        var reaped = new HashSet<ushort>();
        using (r.Memory.AsGuest())
        {
            while (r.Driver.TryGetUsed(r.Memory, out ushort id, out uint len))
            {
                Assert.True(reaped.Add(id), $"head {id} completed twice");
                (ushort _, uint written, ulong inBytes) = popped.Single(p => p.Head == id);
                Assert.Equal(written, len);
                Assert.True(len <= inBytes);
            }
        }
        Assert.False(r.Driver.Broken);
        Assert.True(added.SetEquals(reaped));
        Assert.Equal(size, r.Driver.FreeCount);
        Assert.Equal(0, r.Device.InUse);
        r.Driver.AssertInvariants();
    }
}
