using System.Buffers.Binary;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// <see cref="UsedLenRule.Offered"/> (virtio-blk): used.len may reach the sum of the chain's writable descriptor
/// lengths, a descriptor counted each time the chain reaches it, as QEMU virtio_blk_handle_request's req-&gt;in_len
/// (iov_size of the in_sg) does. Ring of 4 at 0: descriptor 0 readable at 0x1000 (8 bytes) → 1 writable at 0x2000
/// (1 byte) → 2 writable at <c>second</c> (1 byte).
/// </summary>
public sealed class VirtqueueCheckerOfferedTests
{
    private const ulong Avail = 0x40;
    private const ulong Used = 0x80;

    private static (GuestMemory Memory, FuzzContext Context, Observer Seen) Make(ulong second, ulong used = Used)
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x4000);
        var seen = new Observer();
        var checker = new VirtqueueChecker(4) { UsedLenRule = UsedLenRule.Offered, CompletionObserver = seen };
        var context = new FuzzContext();
        checker.Context = context;
        memory.Observer = checker;
        using (memory.As(MemoryActor.Guest))
        {
            WriteDesc(memory, 0, 0x1000, 8, 1, 1);
            WriteDesc(memory, 1, 0x2000, 1, 3, 2);
            WriteDesc(memory, 2, second, 1, 2, 0);
            memory.TryWriteUInt16(new GuestAddress(Avail + 4), 0);
            memory.TryWriteUInt16(new GuestAddress(Avail + 2), 1);
        }
        checker.Configure(memory, 0, Avail, used, 4);
        return (memory, context, seen);
    }

    private static void WriteDesc(GuestMemory m, int i, ulong addr, uint len, ushort flags, ushort next)
    {
        Span<byte> d = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
        m.TryWrite(new GuestAddress((ulong)i * 16), d);
    }

    /// <summary>The device's run: fetch head 0, write the status byte at 0x2000, publish {0, len}.</summary>
    private static void Run(GuestMemory m, uint len, ulong used = Used)
    {
        m.TryReadUInt16(new GuestAddress(Avail + 4), out _);
        m.TryWrite(new GuestAddress(0x2000), new byte[1]);
        m.TryWriteUInt64(new GuestAddress(used + 4), (ulong)len << 32);
        m.TryWriteUInt16(new GuestAddress(used + 2), 1);
    }

    [Fact]
    public void UsedRingLenExceedsOffered_TwoWritableDescriptorsOverOneByte_OfferTwo()
    {
        var (m, ctx, seen) = Make(second: 0x2000);
        Run(m, 2);
        Assert.Null(ctx.Finding);
        Assert.Equal(1, seen.Completed);
    }

    [Fact]
    public void UsedRingLenExceedsOffered_BeyondEveryWritableDescriptor_IsReported()
    {
        var (m, ctx, _) = Make(second: 0x2000);
        Run(m, 3);
        Assert.Equal("used-ring/len-exceeds-offered", ctx.Finding?.Site);
        Assert.Contains("offers only 2 writable bytes", ctx.Finding?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CompletionObserver_ChainReachingOneBufferTwice_IsNotPlain()
    {
        // The range list holds 0x2000+1 once, so it is not the chain's buffers in order: the response oracle must not
        // judge it (its status byte is the second descriptor's, which the list does not hold last).
        var (m, _, seen) = Make(second: 0x2000);
        Run(m, 2);
        Assert.False(seen.LastPlain);
        var (m2, ctx2, seen2) = Make(second: 0x3000);
        Run(m2, 2);
        Assert.Null(ctx2.Finding);
        Assert.True(seen2.LastPlain);
        Assert.Equal(2, seen2.LastWritableCount);
    }

    [Fact]
    public void CompletionObserver_ChainRewrittenInFlightByUsedStore_IsNotPlain()
    {
        // response/counter-log triage: the used ring at 0x18 runs over descriptor 1, so the device's used-entry store
        // (id 0 at 0x1c) clears descriptor 1's flags while head 0 is in flight. The re-walk's union then holds 0x2000
        // as readable too, a buffer the device never used (QEMU virtqueue_split_pop copied the chain at pop time).
        var (m, ctx, seen) = Make(second: 0x3000, used: 0x18);
        Run(m, 2, used: 0x18);
        Assert.Null(ctx.Finding);
        Assert.Equal(1, seen.Completed);
        Assert.False(seen.LastPlain);
    }

    private sealed class Observer : ICompletionObserver
    {
        public int Completed { get; private set; }

        public bool LastPlain { get; private set; }

        public int LastWritableCount { get; private set; }

        public void OnCompleted(int head, uint usedLen, RangeList readable, RangeList writable, bool plain)
        {
            Completed++;
            LastPlain = plain;
            LastWritableCount = writable.Count;
        }
    }
}
