using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Xunit;
using static Sim.Devices.Tests.Queue.RingFixture;

namespace Sim.Devices.Tests.Queue;

/// <summary><see cref="QueueElement.TryReadOutUInt64"/> and <see cref="QueueElement.WriteInUInt64"/> are
/// <see cref="QueueElement.ReadOut"/> / <see cref="QueueElement.WriteIn"/> of 8 bytes at offset 0 (QEMU iov_to_buf /
/// iov_from_buf), little-endian, whether the 8 bytes lie in one buffer or are split across several, and say so when
/// the buffers are shorter.</summary>
public sealed class ElementWordTests
{
    private static readonly byte[] Request = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

    /// <summary>A ring whose element holds the chain 0 → 1 of an <paramref name="outLen"/>-byte readable buffer at
    /// the buffer base and an <paramref name="inLen"/>-byte writable one 64 bytes on.</summary>
    private static RingFixture PoppedPair(uint outLen, uint inLen)
    {
        var r = new RingFixture();
        r.Desc(0, BufferBase, outLen, Next, 1);
        r.Desc(1, BufferBase + 64, inLen, Write);
        r.Offer(0, 0);
        Assert.True(r.Pop(out QueueError error), error.ToString());
        return r;
    }

    [Fact]
    public void OneBuffer_ReadsAndWritesLittleEndianWord()
    {
        RingFixture r = PoppedPair(8, 8);
        Assert.True(r.Memory.TryWrite(Buf(0), Request));
        Assert.True(r.Element.TryReadOutUInt64(r.Memory, out ulong value));
        Assert.Equal(0x8877_6655_4433_2211UL, value);
        Assert.Equal(8, r.Element.WriteInUInt64(r.Memory, 0x0102_0304_0506_0708UL));
        var back = new byte[8];
        Assert.True(r.Memory.TryRead(Buf(64), back));
        Assert.Equal(new byte[] { 8, 7, 6, 5, 4, 3, 2, 1 }, back);
    }

    [Fact]
    public void SplitBuffers_GiveWhatTheSpanCopiesGive()
    {
        var r = new RingFixture();
        Assert.True(r.Memory.TryWrite(Buf(0), Request));
        // 3 + 5 readable bytes, then 2 + 10 writable ones: the word crosses a buffer boundary both ways.
        r.Desc(0, BufferBase, 3, Next, 1);
        r.Desc(1, BufferBase + 3, 5, Next, 2);
        r.Desc(2, BufferBase + 64, 2, Write | Next, 3);
        r.Desc(3, BufferBase + 128, 10, Write);
        r.Offer(0, 0);
        Assert.True(r.Pop(out _));
        var viaSpan = new byte[8];
        Assert.Equal(8, r.Element.ReadOut(r.Memory, 0, viaSpan));
        Assert.True(r.Element.TryReadOutUInt64(r.Memory, out ulong value));
        Assert.Equal(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(viaSpan), value);
        Assert.Equal(8, r.Element.WriteInUInt64(r.Memory, 0xA1A2_A3A4_A5A6_A7A8UL));
        var first = new byte[2];
        var second = new byte[6];
        Assert.True(r.Memory.TryRead(Buf(64), first));
        Assert.True(r.Memory.TryRead(Buf(128), second));
        Assert.Equal(new byte[] { 0xA8, 0xA7 }, first);
        Assert.Equal(new byte[] { 0xA6, 0xA5, 0xA4, 0xA3, 0xA2, 0xA1 }, second);
    }

    [Fact]
    public void ShortBuffers_ReadFailsAndWriteSaysHowManyBytes()
    {
        RingFixture r = PoppedPair(7, 5);
        Assert.False(r.Element.TryReadOutUInt64(r.Memory, out ulong value));
        Assert.Equal(0UL, value);
        Assert.Equal(5, r.Element.WriteInUInt64(r.Memory, ulong.MaxValue));
        var back = new byte[6];
        Assert.True(r.Memory.TryRead(Buf(64), back));
        Assert.Equal(new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0 }, back);
    }

    [Fact]
    public void NoBuffersOfADirection_ReadsNothingAndWritesNothing()
    {
        var r = new RingFixture();
        r.Desc(0, BufferBase + 64, 16, Write);
        r.Offer(0, 0);
        Assert.True(r.Pop(out _));
        Assert.False(r.Element.TryReadOutUInt64(r.Memory, out _));
        r.Desc(1, BufferBase, 16);
        r.Offer(1, 1);
        Assert.True(r.Pop(out _));
        Assert.Equal(0, r.Element.WriteInUInt64(r.Memory, 1));
    }

    [Fact]
    public void ObservedAccesses_AreOneReadAndOneWriteOfEightBytes()
    {
        RingFixture r = PoppedPair(8, 8);
        var observer = new RecordingObserver();
        r.Memory.Observer = observer;
        Assert.True(r.Element.TryReadOutUInt64(r.Memory, out _));
        Assert.Equal(8, r.Element.WriteInUInt64(r.Memory, 5));
        Assert.Equal(2, observer.Accesses.Count);
        Assert.Equal(
            new RecordingObserver.Access(Sim.Engine.Memory.MemoryActor.Device, BufferBase, 8, false),
            observer.Accesses[0]
        );
        Assert.Equal(
            new RecordingObserver.Access(Sim.Engine.Memory.MemoryActor.Device, BufferBase + 64, 8, true),
            observer.Accesses[1]
        );
    }
}
