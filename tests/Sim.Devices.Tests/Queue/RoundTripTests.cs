using System.Buffers.Binary;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

/// <summary>Driver ↔ device round trips through guest memory, across 16-bit index wrap-around.</summary>
public sealed class RoundTripTests
{
    [Theory]
    [InlineData(4, false, false, false, 1)]
    [InlineData(4, true, false, false, 2)]
    [InlineData(4, false, true, false, 2)]
    [InlineData(8, true, true, false, 3)]
    [InlineData(4, false, false, true, 2)]
    public void RoundTrip_WrapsIndicesPast65536(int size, bool eventIdx, bool indirect, bool legacy, int batch)
    {
        var r = new RingFixture(size, eventIdx, legacy);
        const int requests = 70_000;
        int sent = 0;
        int received = 0;
        long kicks = 0;
        var heads = new ushort[batch];
        while (received < requests)
        {
            int n = Math.Min(batch, requests - sent);
            if (DriverPublishes(r, n, sent, indirect, heads))
                kicks++;
            sent += n;
            DeviceInvertsEachRequest(r, n, indirect);
            DriverReapsTheAnswers(r, n, received, heads);
            received += n;
            r.Driver.AssertInvariants();
        }
        Assert.Equal(size, r.Driver.FreeCount);
        Assert.Equal(r.Driver.AvailIdx, r.Device.NextAvail);
        Assert.Equal(unchecked((ushort)requests), r.Device.UsedIdx.Value);
        Assert.True(kicks > 0);
    }

    /// <summary>The driver adds <paramref name="n"/> requests (8 readable bytes holding the request's number, 8
    /// writable), direct or indirect; true when it must notify.</summary>
    private static bool DriverPublishes(RingFixture r, int n, int sent, bool indirect, ushort[] heads)
    {
        using (r.Memory.AsGuest())
        {
            for (int k = 0; k < n; k++)
            {
                ulong slot = (ulong)k;
                Assert.True(r.Memory.TryWriteUInt64(RingFixture.Buf(slot * 64), (ulong)(sent + k)));
                GuestBuffer[] rd = [new(RingFixture.Buf(slot * 64), 8)];
                GuestBuffer[] wr = [new(RingFixture.Buf((slot * 64) + 32), 8)];
                bool ok = indirect
                    ? r.Driver.TryAddIndirect(
                        r.Memory,
                        rd,
                        wr,
                        new GuestAddress(RingFixture.TableBase + (slot * 64)),
                        out heads[k]
                    )
                    : r.Driver.TryAdd(r.Memory, rd, wr, out heads[k]);
                Assert.True(ok);
            }
            return r.Driver.NeedsNotify(r.Memory);
        }
    }

    /// <summary>The device pops every request, writes back its number inverted, and completes all of them.</summary>
    private static void DeviceInvertsEachRequest(RingFixture r, int n, bool indirect)
    {
        Span<byte> one = stackalloc byte[8];
        int popped = 0;
        while (r.Pop(out QueueError error))
        {
            Assert.Equal(QueueError.None, error);
            Assert.Equal(indirect, r.Element.Indirect);
            Assert.Equal(8, r.Element.ReadOut(r.Memory, 0, one));
            BinaryPrimitives.WriteUInt64LittleEndian(one, ~BinaryPrimitives.ReadUInt64LittleEndian(one));
            Assert.Equal(8, r.Element.WriteIn(r.Memory, 0, one));
            popped++;
            r.Device.Fill(r.Memory, r.Element.Head, 8, r.Device.InUse - 1);
        }
        Assert.Equal(n, popped);
        r.Device.Flush(r.Memory, popped);
        r.Device.ShouldNotify(r.Memory);
    }

    /// <summary>The driver gets exactly <paramref name="n"/> used entries, each for one of its heads with the
    /// inverted number in its writable buffer.</summary>
    private static void DriverReapsTheAnswers(RingFixture r, int n, int received, ushort[] heads)
    {
        var readBuf = new byte[8];
        using (r.Memory.AsGuest())
        {
            for (int k = 0; k < n; k++)
            {
                Assert.True(r.Driver.TryGetUsed(r.Memory, out ushort id, out uint len));
                int slot = Array.IndexOf(heads, id, 0, n);
                Assert.True(slot >= 0);
                Assert.Equal(8u, len);
                Assert.True(r.Memory.TryRead(RingFixture.Buf(((ulong)slot * 64) + 32), readBuf));
                Assert.Equal(~(ulong)(received + slot), BinaryPrimitives.ReadUInt64LittleEndian(readBuf));
            }
            Assert.False(r.Driver.TryGetUsed(r.Memory, out _, out _));
        }
    }

    [Fact]
    public void Qemu_UnpopAndRewind_ReturnTheSameHeadsAgain()
    {
        var r = new RingFixture();
        ushort a = r.AddRequest(slot: 0);
        ushort b = r.AddRequest(slot: 1);
        Assert.True(r.Pop(out _));
        Assert.Equal(a, r.Element.Head);
        r.Device.Unpop();
        Assert.True(r.Pop(out _));
        Assert.Equal(a, r.Element.Head);
        Assert.True(r.Pop(out _));
        Assert.Equal(b, r.Element.Head);
        Assert.True(r.Device.Rewind(2));
        Assert.Equal(0, r.Device.InUse);
        Assert.True(r.Pop(out _));
        Assert.Equal(a, r.Element.Head);
        r.Device.Detach();
        Assert.Equal(0, r.Device.InUse);
    }

    [Fact]
    public void Linux_DetachUnused_ReclaimsEveryOutstandingChain()
    {
        var r = new RingFixture(size: 8);
        for (ulong i = 0; i < 3; i++)
            r.AddRequest(slot: i);
        Assert.Equal(2, r.Driver.FreeCount);
        var detached = new List<ushort>();
        using (r.Memory.AsGuest())
        {
            while (r.Driver.TryDetachUnused(r.Memory, out ushort head))
                detached.Add(head);
        }
        Assert.Equal(3, detached.Count);
        Assert.Equal(8, r.Driver.FreeCount);
        Assert.Equal(0, r.Driver.Outstanding);
        Assert.Equal(0, r.ReadU16(r.Layout.AvailIdx));
    }

    [Fact]
    public void Linux_DriverFull_RefusesWithoutWriting()
    {
        var r = new RingFixture(size: 4);
        r.AddRequest(slot: 0);
        r.AddRequest(slot: 1);
        using (r.Memory.AsGuest())
        {
            Assert.False(r.Driver.TryAdd(r.Memory, [new GuestBuffer(RingFixture.Buf(0), 8)], [], out _));
            Assert.False(
                r.Driver.TryAddIndirect(
                    r.Memory,
                    [new GuestBuffer(RingFixture.Buf(0), 8)],
                    [],
                    new GuestAddress(RingFixture.TableBase),
                    out _
                )
            );
            Assert.Equal(0, r.Driver.FreeCount);
        }
    }

    [Fact]
    public void Linux_UsedIdOutOfRange_BreaksDriver()
    {
        var r = new RingFixture();
        r.AddRequest();
        Assert.True(r.Memory.TryWriteUInt64(r.Layout.UsedEntry(0), 7));
        Assert.True(r.Memory.TryWriteUInt16(r.Layout.UsedIdx, 1));
        using (r.Memory.AsGuest())
        {
            Assert.False(r.Driver.TryGetUsed(r.Memory, out _, out _));
            Assert.Equal(DriverQueueError.UsedIdOutOfRange, r.Driver.Error);
            Assert.False(r.Driver.TryAdd(r.Memory, [new GuestBuffer(RingFixture.Buf(0), 8)], [], out _));
        }
    }

    [Fact]
    public void Linux_UsedIdNotAHead_BreaksDriver()
    {
        var r = new RingFixture();
        ushort head = r.AddRequest();
        Assert.True(r.Memory.TryWriteUInt64(r.Layout.UsedEntry(0), (ulong)(head + 1)));
        Assert.True(r.Memory.TryWriteUInt16(r.Layout.UsedIdx, 1));
        using (r.Memory.AsGuest())
            Assert.False(r.Driver.TryGetUsed(r.Memory, out _, out _));
        Assert.Equal(DriverQueueError.UsedIdNotHead, r.Driver.Error);
    }

    [Fact]
    public void UsedIdxTooFar_BreaksDriver()
    {
        var r = new RingFixture();
        r.AddRequest();
        Assert.True(r.Memory.TryWriteUInt16(r.Layout.UsedIdx, 3));
        using (r.Memory.AsGuest())
            Assert.False(r.Driver.HasUsed(r.Memory));
        Assert.Equal(DriverQueueError.UsedIdxTooFar, r.Driver.Error);
    }

    [Fact]
    public void Spec_2_7_2_LegacyLayout_PutsUsedRingOnNextPage()
    {
        SplitRingLayout l = SplitRingLayout.Legacy(new GuestAddress(0x1000), 256);
        Assert.Equal(0x1000UL + (16 * 256), l.AvailRing.Value);
        Assert.Equal(0x3000UL, l.UsedRing.Value);
        SplitRingLayout m = SplitRingLayout.Modern(new GuestAddress(0x1001), 4);
        Assert.Equal(0x1010UL, m.DescTable.Value);
        Assert.Equal(0x1050UL, m.AvailRing.Value);
        Assert.Equal(0x1060UL, m.UsedRing.Value); // avail is 6 + 2*4 = 14 bytes: 0x105e aligned up to 4
    }
}
