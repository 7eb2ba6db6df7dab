using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

/// <summary>Every index state of a 4-entry queue (STYLE item 13), including 16-bit wrap-around.</summary>
public sealed class ExhaustiveSmallQueueTests
{
    private const int Size = 4;

    private static readonly ushort[] WrapStarts = [0, 65532, 65534, 65535];
    private static readonly ushort[] OtherStarts = [1, 2, 3, 4, 5, 32766, 32767, 32768, 32769, 65528, 65531, 65533];

    private static RingFixture ValidRing(bool eventIdx = false)
    {
        var r = new RingFixture(Size, eventIdx);
        for (int i = 0; i < Size; i++)
            r.Desc(i, RingFixture.BufferBase + ((ulong)i * 64), 8);
        for (int i = 0; i < Size; i++)
            Assert.True(RawRing.WriteAvailEntry(r.Memory, r.Layout, i, (ushort)i));
        return r;
    }

    private static void Restore(RingFixture r, SplitQueueState state) =>
        Assert.True(r.Device.TryRestore(r.Memory, state, out _));

    [Fact]
    public void Exhaustive4_PopOutcome_ForEveryAvailDistanceAndInUse()
    {
        RingFixture r = ValidRing();
        SplitQueueState baseline = r.Device.Capture();
        foreach (ushort start in WrapStarts.Concat(OtherStarts))
        {
            for (int inUse = 0; inUse <= Size; inUse++)
            {
                // Every 16-bit distance for the wrap-around starts with nothing or everything in use; beyond the
                // queue size every distance is equally bogus, so other states sample it.
                bool everyDistance = (start == 65535 && inUse == 0) || (start == 0 && inUse == Size);
                for (int d = 0; d < 65536; d++)
                {
                    if (!everyDistance && d > 8 && d != 32768 && d != 65535)
                        continue;
                    var s = new RingIndex(start);
                    Restore(r, baseline with { NextAvail = s, ShadowAvail = s, UsedIdx = s, InUse = inUse });
                    Assert.True(RawRing.WriteAvailIdx(r.Memory, r.Layout, s.Add(d).Value));
                    int expectedPops = d <= Size ? Math.Min(d, Size - inUse) : 0;
                    for (int k = 0; k < expectedPops; k++)
                    {
                        Assert.True(r.Pop(out QueueError e), $"start {start} inUse {inUse} d {d} pop {k}");
                        Assert.Equal(s.Add(k).Slot(Size), r.Element.Head);
                    }
                    QueueError expected =
                        d > Size ? QueueError.AvailIndexTooFar
                        : d > Size - inUse ? QueueError.SizeExceeded
                        : QueueError.None;
                    Assert.False(r.Pop(out QueueError error));
                    Assert.Equal(expected, error);
                    Assert.Equal(s.Add(expectedPops), r.Device.NextAvail);
                    Assert.Equal(inUse + expectedPops, r.Device.InUse);
                    // A bogus avail.idx reads as not empty.
                    Assert.Equal(d <= Size && expectedPops == d, r.Device.IsEmpty(r.Memory));
                }
            }
        }
    }

    [Fact]
    public void Exhaustive4_EventIdxNotification_ForEveryUsedEvent()
    {
        RingFixture r = ValidRing(eventIdx: true);
        SplitQueueState baseline = r.Device.Capture();
        foreach (ushort start in WrapStarts)
        {
            var s = new RingIndex(start);
            foreach (bool valid in new[] { true, false })
            {
                for (int count = 0; count <= Size; count++)
                {
                    // Every used_event within 16 of the window, a stride of 97 through the rest of the 16-bit space.
                    for (int e = 0; e < 65536; e += ((e - start) & 0xffff) is < 32 or > 65520 ? 1 : 97)
                    {
                        Restore(
                            r,
                            baseline with
                            {
                                NextAvail = s.Add(count),
                                ShadowAvail = s.Add(count),
                                UsedIdx = s,
                                InUse = count,
                                SignalledUsed = s,
                                SignalledUsedValid = valid,
                            }
                        );
                        Assert.True(RawRing.WriteUsedEvent(r.Memory, r.Layout, (ushort)e));
                        r.Device.Flush(r.Memory, count);
                        bool expected = !valid || ((e - start) & 0xffff) < count;
                        Assert.Equal(expected, r.Device.ShouldNotify(r.Memory));
                        Assert.Equal(s.Add(count), r.Device.SignalledUsed);
                        Assert.Equal(s.Add(count).Value, r.ReadU16(r.Layout.UsedIdx));
                    }
                }
            }
        }
    }

    [Fact]
    public void Exhaustive4_FlagNotification_ForEveryFlagsValue()
    {
        RingFixture r = ValidRing();
        SplitQueueState baseline = r.Device.Capture();
        foreach (ushort start in WrapStarts.Concat(OtherStarts))
        {
            var s = new RingIndex(start);
            for (int flags = 0; flags < 65536; flags += 257)
            {
                for (int count = 0; count <= Size; count++)
                {
                    Restore(
                        r,
                        baseline with
                        {
                            NextAvail = s.Add(count),
                            ShadowAvail = s.Add(count),
                            UsedIdx = s,
                            InUse = count,
                        }
                    );
                    Assert.True(RawRing.WriteAvailFlags(r.Memory, r.Layout, (ushort)flags));
                    r.Device.Flush(r.Memory, count);
                    Assert.Equal((flags & 1) == 0, r.Device.ShouldNotify(r.Memory));
                }
            }
        }
    }

    [Fact]
    public void Exhaustive4_HeadValues_EveryU16()
    {
        RingFixture r = ValidRing();
        SplitQueueState baseline = r.Device.Capture();
        for (int head = 0; head < 65536; head++)
        {
            Restore(r, baseline);
            Assert.True(RawRing.WriteAvailEntry(r.Memory, r.Layout, 0, (ushort)head));
            Assert.True(RawRing.WriteAvailIdx(r.Memory, r.Layout, 1));
            bool ok = r.Pop(out QueueError error);
            Assert.Equal(head < Size, ok);
            Assert.Equal(head < Size ? QueueError.None : QueueError.HeadOutOfRange, error);
            Assert.Equal(1, r.Device.NextAvail.Value);
        }
    }

    [Fact]
    public void Exhaustive4_EveryNextValueAndFlagCombination()
    {
        // Two-descriptor chains 0 -> next with every flag pair and every next value: the outcome is a pure function
        // of (flags0, flags1, next) that the test states independently.
        RingFixture r = ValidRing();
        SplitQueueState baseline = r.Device.Capture();
        var table = new GuestAddress(RingFixture.TableBase);
        for (int f0 = 0; f0 < 8; f0++)
        {
            for (int f1 = 0; f1 < 8; f1++)
            {
                for (int next = 0; next < 65536; next += next < 8 ? 1 : 4099)
                {
                    Restore(r, baseline);
                    r.Desc(0, RingFixture.BufferBase, 8, f0, next);
                    r.Desc(1, RingFixture.BufferBase + 64, 8, f1, 2);
                    r.Desc(2, RingFixture.BufferBase + 128, 8, 0, 0);
                    r.Desc(3, RingFixture.BufferBase + 192, 8, 0, 0);
                    r.TableDesc(table, 0, RingFixture.BufferBase, 8, 0, 0);
                    r.Offer(0, 0);
                    bool ok = r.Pop(out QueueError error);
                    QueueError expected = Expected(f0, f1, next);
                    Assert.True(expected == error, $"f0 {f0} f1 {f1} next {next}: expected {expected}, got {error}");
                    Assert.Equal(expected == QueueError.None, ok);
                }
            }
        }
    }

    /// <summary>The outcome of popping chain 0 -> next with flags f0 and f1, stated independently of the queue: a
    /// pure function of (flags0, flags1, next).</summary>
    private static QueueError Expected(int f0, int f1, int next)
    {
        const int N = 1,
            W = 2,
            I = 4;
        if ((f0 & I) != 0)
        {
            // Head points at a table whose only entry (a plain readable buffer) would need 16 bytes; desc 0 has
            // len 8, so the table length is invalid — unless NEXT is also set, which is checked first.
            return (f0 & N) != 0 ? QueueError.IndirectWithNext : QueueError.IndirectBadLength;
        }
        if ((f0 & N) == 0)
            return QueueError.None;
        if (next >= Size)
            return QueueError.NextOutOfRange;
        // Walk from 'next' through descriptors 1 (flags f1, next 2), 2 and 3 (plain) or 0 again.
        int flags = next switch
        {
            0 => f0,
            1 => f1,
            _ => 0,
        };
        bool writable = (f0 & W) != 0;
        int visited = 1;
        int i = next;
        while (true)
        {
            if ((flags & I) != 0)
                return QueueError.IndirectNotAtHead;
            if ((flags & W) != 0)
                writable = true;
            else if (writable)
                return QueueError.ReadableAfterWritable;
            visited++;
            if (visited > Size)
                return QueueError.LoopedChain;
            if ((flags & N) == 0)
                return QueueError.None;
            int n = i switch
            {
                0 => next,
                1 => 2,
                _ => 0,
            };
            i = n;
            flags = i switch
            {
                0 => f0,
                1 => f1,
                _ => 0,
            };
        }
    }
}
