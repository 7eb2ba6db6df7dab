using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;
using static Sim.Devices.Tests.Queue.RingFixture;

namespace Sim.Devices.Tests.Queue;

/// <summary>One test per chain / ring rule of QEMU virtqueue_split_pop and VIRTIO 1.2 §2.7.</summary>
public sealed class PopValidationTests
{
    private static readonly GuestAddress Table = new(TableBase);

    [Fact]
    public void Spec_2_7_6_EmptyQueue_PopsNothingWithoutError()
    {
        var r = new RingFixture();
        Assert.Equal(QueueError.None, r.PopError());
        Assert.True(r.Device.IsEmpty(r.Memory));
        Assert.Equal(0, r.Device.InUse);
    }

    [Fact]
    public void NotReadyQueue_IsEmpty()
    {
        var r = new RingFixture();
        r.AddRequest();
        r.Device.Disable();
        Assert.Equal(QueueError.None, r.PopError());
        Assert.True(r.Device.IsEmpty(r.Memory));
    }

    [Fact]
    public void Spec_2_7_4_ValidChain_PopsReadableThenWritable()
    {
        var r = new RingFixture();
        r.Desc(2, BufferBase, 8, Next, 0);
        r.Desc(0, BufferBase + 8, 4, Next, 3);
        r.Desc(3, BufferBase + 64, 16, Write, 1);
        r.Offer(0, 2);
        Assert.True(r.Pop(out QueueError error));
        Assert.Equal(QueueError.None, error);
        Assert.Equal(2, r.Element.Head);
        Assert.Equal([new Iovec(Buf(0), 8), new Iovec(Buf(8), 4)], r.Element.Out.ToArray());
        Assert.Equal([new Iovec(Buf(64), 16)], r.Element.In.ToArray());
        Assert.Equal(12UL, r.Element.OutBytes);
        Assert.Equal(16UL, r.Element.InBytes);
        Assert.Equal(3, r.Element.DescriptorCount);
        Assert.Equal(1, r.Device.InUse);
        Assert.Equal(1, r.Device.NextAvail.Value);
    }

    [Fact]
    public void Qemu_AvailIndexMovedTooFar_IsError()
    {
        var r = new RingFixture(size: 4);
        Assert.True(RawRing.WriteAvailIdx(r.Memory, r.Layout, 5));
        Assert.Equal(QueueError.AvailIndexTooFar, r.PopError());
        Assert.Equal(0, r.Device.NextAvail.Value);
    }

    [Fact]
    public void Qemu_AvailIndexExactlyQueueSizeAhead_IsAccepted()
    {
        var r = new RingFixture(size: 4);
        for (int i = 0; i < 4; i++)
            r.Desc(i, BufferBase, 8);
        r.Offer(0, 0, 1, 2, 3);
        for (int i = 0; i < 4; i++)
            Assert.True(r.Pop(out _));
        Assert.Equal(QueueError.None, r.PopError());
    }

    [Fact]
    public void Qemu_HeadIndexOutOfRange_IsError()
    {
        var r = new RingFixture(size: 4);
        r.Offer(0, 4);
        Assert.Equal(QueueError.HeadOutOfRange, r.PopError());
        // QEMU virtqueue_get_head(vq, vq->last_avail_idx++, ...): the index has advanced.
        Assert.Equal(1, r.Device.NextAvail.Value);
        Assert.Equal(0, r.Device.InUse);
    }

    [Fact]
    public void Qemu_VirtqueueSizeExceeded_IsError()
    {
        var r = new RingFixture(size: 4);
        r.Desc(0, BufferBase, 8);
        // The same head offered five times: legal-looking ring, but the device would hold more than the size.
        r.Offer(0, 0, 0, 0, 0);
        for (int i = 0; i < 4; i++)
            Assert.True(r.Pop(out _));
        r.Offer(4, 0);
        Assert.Equal(QueueError.SizeExceeded, r.PopError());
        Assert.Equal(4, r.Device.NextAvail.Value);
    }

    [Fact]
    public void Qemu_DescNextOutOfRange_IsError()
    {
        var r = new RingFixture(size: 4);
        r.Desc(0, BufferBase, 8, Next, 4);
        r.Offer(0, 0);
        Assert.Equal(QueueError.NextOutOfRange, r.PopError());
        Assert.Equal(0, r.Device.InUse);
    }

    [Fact]
    public void Qemu_LoopedDescriptor_IsError()
    {
        var r = new RingFixture(size: 4);
        r.Desc(0, BufferBase, 8, Next, 1);
        r.Desc(1, BufferBase, 8, Next, 0);
        r.Offer(0, 0);
        Assert.Equal(QueueError.LoopedChain, r.PopError());
    }

    [Fact]
    public void Qemu_SelfLoop_IsError()
    {
        var r = new RingFixture(size: 4);
        r.Desc(3, BufferBase, 8, Next, 3);
        r.Offer(0, 3);
        Assert.Equal(QueueError.LoopedChain, r.PopError());
    }

    [Fact]
    public void Spec_2_7_5_3_1_ChainAsLongAsTheQueue_IsAccepted()
    {
        var r = new RingFixture(size: 4);
        r.Desc(0, BufferBase, 8, Next, 1);
        r.Desc(1, BufferBase, 8, Next, 2);
        r.Desc(2, BufferBase, 8, Next, 3);
        r.Desc(3, BufferBase, 8);
        r.Offer(0, 0);
        Assert.True(r.Pop(out _));
        Assert.Equal(4, r.Element.OutCount);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(8u)]
    [InlineData(17u)]
    public void Qemu_InvalidSizeForIndirectBufferTable_IsError(uint len)
    {
        var r = new RingFixture();
        r.Desc(0, TableBase, len, Indirect);
        r.Offer(0, 0);
        Assert.Equal(QueueError.IndirectBadLength, r.PopError());
    }

    [Fact]
    public void Vhost_IndirectTableLargerThanLimit_IsError()
    {
        var r = new RingFixture();
        r.Desc(0, TableBase, (uint)((QueueLimits.IndirectDescriptorsMax + 1) * VirtioSpec.DescSize), Indirect);
        r.Offer(0, 0);
        Assert.Equal(QueueError.IndirectTooLarge, r.PopError());
    }

    [Fact]
    public void Qemu_CannotMapIndirectBuffer_IsError()
    {
        var r = new RingFixture();
        r.Desc(0, MemoryBytes - 16, 32, Indirect);
        r.Offer(0, 0);
        Assert.Equal(QueueError.IndirectTableOutsideMemory, r.PopError());
    }

    [Fact]
    public void Spec_2_7_5_3_IndirectTable_IsWalked()
    {
        var r = new RingFixture();
        r.Desc(1, TableBase, 3 * 16, Indirect | Write); // §2.7.5.3.2: the device ignores WRITE here
        r.TableDesc(Table, 0, BufferBase, 8, Next, 2);
        r.TableDesc(Table, 2, BufferBase + 8, 8, Next, 1);
        r.TableDesc(Table, 1, BufferBase + 64, 8, Write);
        r.Offer(0, 1);
        Assert.True(r.Pop(out _));
        Assert.True(r.Element.Indirect);
        Assert.Equal(1, r.Element.Head);
        Assert.Equal(2, r.Element.OutCount);
        Assert.Equal(1, r.Element.InCount);
        Assert.Equal(3, r.Element.DescriptorCount);
    }

    [Fact]
    public void Qemu_LoopInsideIndirectTable_IsError()
    {
        var r = new RingFixture();
        r.Desc(0, TableBase, 2 * 16, Indirect);
        r.TableDesc(Table, 0, BufferBase, 8, Next, 1);
        r.TableDesc(Table, 1, BufferBase, 8, Next, 0);
        r.Offer(0, 0);
        Assert.Equal(QueueError.LoopedChain, r.PopError());
    }

    [Fact]
    public void Qemu_NextOutsideIndirectTable_IsError()
    {
        var r = new RingFixture();
        r.Desc(0, TableBase, 2 * 16, Indirect);
        r.TableDesc(Table, 0, BufferBase, 8, Next, 2);
        r.Offer(0, 0);
        Assert.Equal(QueueError.NextOutOfRange, r.PopError());
    }

    [Fact]
    public void Spec_2_7_5_3_1_NestedIndirect_IsError()
    {
        var r = new RingFixture();
        r.Desc(0, TableBase, 16, Indirect);
        r.TableDesc(Table, 0, TableBase + 0x100, 16, Indirect);
        r.Offer(0, 0);
        Assert.Equal(QueueError.NestedIndirect, r.PopError());
    }

    [Fact]
    public void Spec_2_7_5_3_1_IndirectWithNext_IsError()
    {
        var r = new RingFixture();
        r.Desc(0, TableBase, 16, Indirect | Next, 1);
        r.TableDesc(Table, 0, BufferBase, 8);
        r.Desc(1, BufferBase, 8);
        r.Offer(0, 0);
        Assert.Equal(QueueError.IndirectWithNext, r.PopError());
    }

    [Fact]
    public void IndirectAfterTheHead_IsError()
    {
        var r = new RingFixture();
        r.Desc(0, BufferBase, 8, Next, 1);
        r.Desc(1, TableBase, 16, Indirect);
        r.TableDesc(Table, 0, BufferBase, 8);
        r.Offer(0, 0);
        Assert.Equal(QueueError.IndirectNotAtHead, r.PopError());
    }

    [Fact]
    public void Qemu_ZeroSizedBuffers_AreNotAllowed()
    {
        var r = new RingFixture();
        r.Desc(0, BufferBase, 8, Next, 1);
        r.Desc(1, BufferBase, 0, Write);
        r.Offer(0, 0);
        Assert.Equal(QueueError.ZeroLengthBuffer, r.PopError());
    }

    [Fact]
    public void Qemu_BufferAddressWrapping_IsBogusDescriptor()
    {
        var r = new RingFixture();
        r.Desc(0, ulong.MaxValue - 3, 8);
        r.Offer(0, 0);
        Assert.Equal(QueueError.BufferAddressOverflow, r.PopError());
    }

    [Theory]
    [InlineData(MemoryBytes - 4, 8u)]
    [InlineData(MemoryBytes, 1u)]
    [InlineData(0x1_0000_0000UL, 16u)]
    public void Qemu_BufferOutsideGuestMemory_IsBogusDescriptor(ulong addr, uint len)
    {
        var r = new RingFixture();
        r.Desc(0, addr, len, Write);
        r.Offer(0, 0);
        Assert.Equal(QueueError.BufferOutsideMemory, r.PopError());
    }

    [Fact]
    public void Spec_2_7_4_2_ReadableAfterWritable_IsIncorrectOrder()
    {
        var r = new RingFixture();
        r.Desc(0, BufferBase, 8, Write | Next, 1);
        r.Desc(1, BufferBase + 64, 8);
        r.Offer(0, 0);
        Assert.Equal(QueueError.ReadableAfterWritable, r.PopError());
    }

    [Fact]
    public void Qemu_TooManyIovecs_IsError()
    {
        var r = new RingFixture();
        int n = QueueLimits.IovecsMax + 1;
        r.Desc(0, TableBase, (uint)(n * 16), Indirect);
        for (int i = 0; i < n; i++)
            r.TableDesc(Table, i, BufferBase + (ulong)i, 1, i + 1 < n ? Next : 0, i + 1);
        r.Offer(0, 0);
        Assert.Equal(QueueError.TooManyIovecs, r.PopError());
    }

    [Fact]
    public void Qemu_ExactlyIovecsMax_IsAccepted()
    {
        var r = new RingFixture();
        int n = QueueLimits.IovecsMax;
        r.Desc(0, TableBase, (uint)(n * 16), Indirect);
        for (int i = 0; i < n; i++)
            r.TableDesc(Table, i, BufferBase + (ulong)i, 1, i + 1 < n ? Next : 0, i + 1);
        r.Offer(0, 0);
        Assert.True(r.Pop(out _));
        Assert.Equal(n, r.Element.OutCount);
    }

    [Fact]
    public void Qemu_BufferSpanningAdjacentRegions_MapsOneIovecPerRegion()
    {
        Assert.True(
            GuestMemory.TryCreate(
                new MemoryLayout([new RegionSpec(0, 0x8_8000), new RegionSpec(0x8_8000, 0x7_8000)]),
                out GuestMemory? memory,
                out _
            )
        );
        var r = new RingFixture(memory: memory);
        r.Desc(0, 0x8_7ff0, 0x20, Write);
        r.Offer(0, 0);
        Assert.True(r.Pop(out _));
        Assert.Equal(
            [new Iovec(new GuestAddress(0x8_7ff0), 0x10), new Iovec(new GuestAddress(0x8_8000), 0x10)],
            r.Element.In.ToArray()
        );
        Assert.Equal(0x20UL, r.Element.InBytes);
        byte[] data = Enumerable.Range(1, 0x20).Select(i => (byte)i).ToArray();
        Assert.Equal(0x20, r.Element.WriteIn(r.Memory, 0, data));
        var back = new byte[0x10];
        Assert.True(r.Memory.TryRead(new GuestAddress(0x8_8000), back));
        Assert.Equal(data[0x10..], back);
    }

    [Fact]
    public void Qemu_BufferOverRegionGap_IsBogusDescriptor()
    {
        Assert.True(
            GuestMemory.TryCreate(
                new MemoryLayout([new RegionSpec(0, 0x8_8000), new RegionSpec(0x9_0000, 0x7_0000)]),
                out GuestMemory? memory,
                out _
            )
        );
        var r = new RingFixture(memory: memory);
        r.Desc(0, 0x8_7ff0, 0x20, Write);
        r.Offer(0, 0);
        Assert.Equal(QueueError.BufferOutsideMemory, r.PopError());
    }

    [Fact]
    public void Qemu_ChainErrorAfterHead_KeepsLastAvailAdvancedAndPublishesAvailEvent()
    {
        var r = new RingFixture(eventIdx: true);
        r.Desc(0, BufferBase, 0);
        r.Offer(0, 0);
        Assert.Equal(QueueError.ZeroLengthBuffer, r.PopError());
        Assert.Equal(1, r.Device.NextAvail.Value);
        Assert.Equal(0, r.Device.InUse);
        Assert.Equal(1, r.ReadU16(r.Layout.AvailEvent));
    }

    [Fact]
    public void ElementCopies_RespectOffsetsAndShortBuffers()
    {
        var r = new RingFixture();
        Assert.True(r.Memory.TryWrite(Buf(0), [1, 2, 3, 4, 5, 6, 7, 8]));
        r.Desc(0, BufferBase, 3, Next, 1);
        r.Desc(1, BufferBase + 3, 5, Next, 2);
        r.Desc(2, BufferBase + 64, 4, Write);
        r.Offer(0, 0);
        Assert.True(r.Pop(out _));
        var dst = new byte[10];
        Assert.Equal(6, r.Element.ReadOut(r.Memory, 2, dst));
        Assert.Equal(new byte[] { 3, 4, 5, 6, 7, 8, 0, 0, 0, 0 }, dst);
        Assert.Equal(4, r.Element.WriteIn(r.Memory, 0, new byte[] { 9, 9, 9, 9, 9, 9 }));
    }

    [Fact]
    public void ChainModel_StandaloneWalk_SaysWhyItStopped()
    {
        var r = new RingFixture();
        r.Desc(1, BufferBase, 8, Next, 2);
        r.Desc(2, BufferBase + 64, 8, Write);
        ChainModel chain = ChainModel.Start(r.Memory, r.Layout.DescTable, 4, 1);
        Assert.True(chain.TryNext(out Descriptor a));
        Assert.True(chain.TryNext(out Descriptor b));
        Assert.False(chain.TryNext(out _));
        Assert.Equal(QueueError.None, chain.Error);
        Assert.Equal(2, chain.Count);
        Assert.Equal(Buf(0), a.Addr);
        Assert.True(b.IsWriteOnly);
        Assert.False(chain.TryNext(out _));

        ChainModel bad = ChainModel.Start(r.Memory, r.Layout.DescTable, 4, 7);
        Assert.False(bad.TryNext(out _));
        Assert.Equal(QueueError.HeadOutOfRange, bad.Error);
    }
}
