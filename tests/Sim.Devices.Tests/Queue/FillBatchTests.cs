using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

/// <summary><see cref="SplitQueue.FillBatch"/> (Linux vhost_add_used_n) is <see cref="SplitQueue.Fill"/> repeated: the
/// same used entries (VIRTIO 1.2 §2.7.8), also where they wrap past the ring's end, the same dirty pages and, observed,
/// the same accesses; and it refuses what Fill refuses before writing anything.</summary>
public sealed class FillBatchTests
{
    /// <summary>A ring of <paramref name="size"/> whose device has popped <paramref name="popped"/> chains after
    /// <paramref name="completed"/> earlier ones were completed (so used.idx starts at
    /// <paramref name="completed"/>).</summary>
    private static (RingFixture Ring, QueueElement[] Elements) Popped(int size, int completed, int popped)
    {
        var r = new RingFixture(size);
        for (int i = 0; i < completed; i++)
        {
            ushort head = r.AddRequest(slot: (ulong)i);
            Assert.True(r.Pop(out _));
            r.Device.Push(r.Memory, head, 8);
            using (r.Memory.AsGuest())
                Assert.True(r.Driver.TryGetUsed(r.Memory, out _, out _));
        }
        var elements = new QueueElement[popped];
        for (int i = 0; i < popped; i++)
        {
            r.AddRequest(slot: (ulong)i);
            elements[i] = new QueueElement();
            Assert.True(r.Device.TryPop(r.Memory, elements[i], out QueueError error), error.ToString());
        }
        r.Memory.ClearDirty();
        return (r, elements);
    }

    [Theory]
    [InlineData(16, 0, 5, 0)]
    [InlineData(8, 6, 4, 0)] // entries 6, 7, then 0, 1: wraps past the ring's end
    [InlineData(8, 3, 4, 1)] // starts one entry into what is in use
    [InlineData(4, 3, 2, 0)]
    public void Spec_2_7_8_FillBatch_WritesWhatSequentialFillsWrite(int size, int completed, int popped, int idx)
    {
        foreach (bool observed in new[] { false, true })
        {
            (RingFixture batch, QueueElement[] batchElements) = Popped(size, completed, popped);
            (RingFixture seq, QueueElement[] seqElements) = Popped(size, completed, popped);
            var observers = new[] { new RecordingObserver(), new RecordingObserver() };
            if (observed)
            {
                batch.Memory.Observer = observers[0];
                seq.Memory.Observer = observers[1];
            }
            int n = popped - idx;
            uint[] lens = Enumerable.Range(0, n).Select(k => (uint)(k * 3) + 1).ToArray();
            batch.Device.FillBatch(batch.Memory, batchElements.AsSpan(idx, n), lens, idx);
            for (int k = 0; k < n; k++)
                seq.Device.Fill(seq.Memory, seqElements[idx + k].Head, lens[k], idx + k);
            Assert.Equal(seq.Memory.ContentHash(), batch.Memory.ContentHash());
            Assert.Equal(seq.Memory.DirtyPages(), batch.Memory.DirtyPages());
            Assert.NotEmpty(batch.Memory.DirtyPages());
            Assert.Equal(observers[1].Accesses, observers[0].Accesses);
            Assert.Equal(observed ? n : 0, observers[0].Accesses.Count);
            // The entries hold the heads and lengths, at used_idx + idx + k modulo the size.
            for (int k = 0; k < n; k++)
            {
                GuestAddress entry = batch.Layout.UsedEntry((completed + idx + k) % size);
                Assert.True(batch.Memory.TryReadUInt32(entry, out uint id));
                Assert.True(
                    batch.Memory.TryReadUInt32(
                        new GuestAddress(entry.Value + VirtioSpec.UsedElemLenOffset),
                        out uint len
                    )
                );
                Assert.Equal((batchElements[idx + k].Head, lens[k]), ((ushort)id, len));
            }
            if (idx != 0)
                continue;
            // Published, the driver reaps exactly these heads and lengths.
            batch.Device.Flush(batch.Memory, popped);
            using (batch.Memory.AsGuest())
            {
                for (int k = 0; k < n; k++)
                {
                    Assert.True(batch.Driver.TryGetUsed(batch.Memory, out ushort id, out uint len));
                    Assert.Equal((batchElements[k].Head, lens[k]), (id, len));
                }
                Assert.False(batch.Driver.Broken);
            }
        }
    }

    [Fact]
    public void FillBatch_RefusesIndicesBeyondTheElementsInUse_WritingNothing()
    {
        (RingFixture r, QueueElement[] elements) = Popped(8, 0, 3);
        ulong before = r.Memory.ContentHash();
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Device.FillBatch(r.Memory, elements, new uint[3], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Device.FillBatch(r.Memory, elements, new uint[3], -1));
        Assert.Throws<ArgumentException>(() => r.Device.FillBatch(r.Memory, elements, new uint[2], 0));
        Assert.Equal(before, r.Memory.ContentHash());
        Assert.Empty(r.Memory.DirtyPages());
        r.Device.FillBatch(r.Memory, ReadOnlySpan<QueueElement>.Empty, ReadOnlySpan<uint>.Empty, 3);
        Assert.Equal(before, r.Memory.ContentHash());
    }

    [Fact]
    public void FillBatch_AHeadOutOfRange_StopsWhereSequentialFillsStop()
    {
        // An element of a larger queue (head 4) handed to a 4-entry queue: Fill refuses it after the entry before it.
        (RingFixture _, QueueElement[] foreign) = Popped(8, 0, 3);
        Assert.Equal(4, foreign[2].Head);
        (RingFixture batch, QueueElement[] batchElements) = Popped(4, 0, 2);
        (RingFixture seq, QueueElement[] seqElements) = Popped(4, 0, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            batch.Device.FillBatch(batch.Memory, new[] { batchElements[0], foreign[2] }, new uint[] { 8, 8 }, 0)
        );
        seq.Device.Fill(seq.Memory, seqElements[0].Head, 8, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => seq.Device.Fill(seq.Memory, foreign[2].Head, 8, 1));
        Assert.Equal(seq.Memory.ContentHash(), batch.Memory.ContentHash());
        Assert.Equal(seq.Memory.DirtyPages(), batch.Memory.DirtyPages());
        Assert.NotEmpty(batch.Memory.DirtyPages());
    }

    [Fact]
    public void FillBatch_OnAQueueNotReady_Throws()
    {
        (RingFixture r, QueueElement[] elements) = Popped(8, 0, 2);
        r.Device.Disable();
        Assert.Throws<InvalidOperationException>(() => r.Device.FillBatch(r.Memory, elements, new uint[2], 0));
    }
}
