using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

/// <summary>
/// The driver and device ring code reach the rings through <see cref="GuestWindow"/>s while no observer watches the
/// memory, and through the memory's accessors otherwise. Both paths must leave the same bytes and dirty pages and
/// return the same results, and an observer must see every ring access.
/// </summary>
public sealed class RingWindowPathTests
{
    private sealed class Counter : IMemoryObserver
    {
        public int Reads { get; private set; }

        public int Writes { get; private set; }

        public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) => Reads++;

        public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) => Writes++;
    }

    /// <summary>Runs rounds of add (both TryAdd forms) / pop / fill / flush / notify / reap and returns a
    /// log.</summary>
    private static List<string> Run(RingFixture r, bool eventIdx)
    {
        var log = new List<string>();
        Span<byte> one = stackalloc byte[8];
        for (int round = 0; round < 40; round++)
        {
            int n = 1 + (round % 3);
            using (r.Memory.AsGuest())
            {
                for (int k = 0; k < n; k++)
                {
                    ulong slot = (ulong)k;
                    var rd = new GuestBuffer(RingFixture.Buf(slot * 64), 8);
                    var wr = new GuestBuffer(RingFixture.Buf((slot * 64) + 32), 8);
                    Assert.True(r.Memory.TryWriteUInt64(rd.Addr, (ulong)((round * 8) + k)));
                    bool ok =
                        (round + k) % 2 == 0
                            ? r.Driver.TryAdd(r.Memory, rd, wr, out ushort head)
                            : r.Driver.TryAdd(r.Memory, [rd], [wr], out head);
                    Assert.True(ok);
                    log.Add($"add {head}");
                }
                log.Add($"kick {r.Driver.NeedsNotify(r.Memory)}");
            }
            int filled = 0;
            while (r.Pop(out QueueError error))
            {
                Assert.Equal(QueueError.None, error);
                Assert.Equal(8, r.Element.ReadOut(r.Memory, 0, one));
                Assert.Equal(8, r.Element.WriteIn(r.Memory, 0, one));
                r.Device.Fill(r.Memory, r.Element.Head, 8, filled++);
                log.Add($"pop {r.Element.Head}");
            }
            r.Device.Flush(r.Memory, filled);
            log.Add($"notify {r.Device.ShouldNotify(r.Memory)}");
            if (eventIdx && round % 5 == 0)
                r.Device.SetNotification(r.Memory, round % 10 == 0);
            using (r.Memory.AsGuest())
            {
                r.Driver.DisableCallbacks(r.Memory);
                do
                {
                    while (r.Driver.TryGetUsed(r.Memory, out ushort id, out uint len))
                        log.Add($"used {id} {len}");
                } while (!r.Driver.EnableCallbacks(r.Memory));
            }
        }
        return log;
    }

    [Theory]
    [InlineData(8, false)]
    [InlineData(16, true)]
    public void WindowPath_MatchesObservedAccessorPath(int size, bool eventIdx)
    {
        var plain = new RingFixture(size, eventIdx);
        var watched = new RingFixture(size, eventIdx);
        var counter = new Counter();
        watched.Memory.Observer = counter;
        plain.Memory.ClearDirty();
        watched.Memory.ClearDirty();

        List<string> a = Run(plain, eventIdx);
        List<string> b = Run(watched, eventIdx);

        Assert.Equal(a, b);
        Assert.Equal(plain.Memory.ContentHash(), watched.Memory.ContentHash());
        Assert.Equal(plain.Memory.DirtyPages(), watched.Memory.DirtyPages());
        // Each add writes two descriptors and an avail entry, and each pop reads an avail entry and two descriptors:
        // all of them reach the observer.
        Assert.True(counter.Writes > 80 * 3, $"{counter.Writes} writes observed");
        Assert.True(counter.Reads > 80 * 3, $"{counter.Reads} reads observed");
    }

    [Fact]
    public void TwoBufferTryAdd_WritesTheSameChainAsTheSpanForm()
    {
        var spans = new RingFixture(4);
        var pair = new RingFixture(4);
        var rd = new GuestBuffer(RingFixture.Buf(0), 16);
        var wr = new GuestBuffer(RingFixture.Buf(64), 24);
        for (int i = 0; i < 2; i++)
        {
            Assert.True(spans.Driver.TryAdd(spans.Memory, [rd], [wr], out ushort h1));
            Assert.True(pair.Driver.TryAdd(pair.Memory, rd, wr, out ushort h2));
            Assert.Equal(h1, h2);
            Assert.Equal(spans.Driver.WritableBytes(h1), pair.Driver.WritableBytes(h2));
        }
        Assert.Equal(spans.Driver.FreeCount, pair.Driver.FreeCount);
        Assert.False(pair.Driver.TryAdd(pair.Memory, rd, wr, out _)); // 4 descriptors used: full
        Assert.Equal(spans.Memory.ContentHash(), pair.Memory.ContentHash());
    }
}
