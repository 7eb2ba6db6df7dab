using System.Buffers.Binary;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>The checker on hand-made device accesses: one 4-entry ring at 0, descriptor 0 readable at 0x1000 (8 bytes)
/// → descriptor 1 writable at 0x2000 (8 bytes).</summary>
public sealed class VirtqueueCheckerTests
{
    private const ulong Avail = 0x40;
    private const ulong Used = 0x80;

    private static (GuestMemory Memory, VirtqueueChecker Checker, FuzzContext Context) Make()
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x4000);
        var checker = new VirtqueueChecker(4);
        var context = new FuzzContext();
        checker.Context = context;
        memory.Observer = checker;
        using (memory.As(MemoryActor.Guest))
        {
            WriteDesc(memory, 0, 0x1000, 8, 1, 1);
            WriteDesc(memory, 1, 0x2000, 8, 2, 0);
            memory.TryWriteUInt16(new GuestAddress(Avail + 4), 0);
            memory.TryWriteUInt16(new GuestAddress(Avail + 2), 1);
        }
        checker.Configure(memory, 0, Avail, Used, 4);
        return (memory, checker, context);
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

    private static void Fetch(GuestMemory m) => m.TryReadUInt16(new GuestAddress(Avail + 4), out _);

    private static void Complete(GuestMemory m, uint id, uint len, ushort idx)
    {
        m.TryWriteUInt64(new GuestAddress(Used + 4 + (8UL * (ulong)((idx - 1) & 3))), id | ((ulong)len << 32));
        m.TryWriteUInt16(new GuestAddress(Used + 2), idx);
    }

    [Fact]
    public void Spec_2_7_8_2_HonestCompletion_IsClean()
    {
        var (m, c, ctx) = Make();
        Fetch(m);
        m.TryRead(new GuestAddress(0x1000), new byte[8]);
        m.TryWrite(new GuestAddress(0x2000), new byte[8]);
        Complete(m, 0, 8, 1);
        Assert.Null(ctx.Finding);
        Assert.Equal(0, c.InFlight);
    }

    [Fact]
    public void Spec_2_7_8_2_UsedLenBeyondBytesWritten_IsReported()
    {
        var (m, _, ctx) = Make();
        Fetch(m);
        m.TryWrite(new GuestAddress(0x2000), new byte[4]);
        Complete(m, 0, 8, 1);
        Assert.Equal("used-ring/len-exceeds-written", ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_4_WriteToReadableBuffer_IsReported()
    {
        var (m, _, ctx) = Make();
        Fetch(m);
        m.TryWrite(new GuestAddress(0x1000), new byte[4]);
        Assert.Equal("permission/write-outside-writable-buffers", ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_4_ReadOfWritableBuffer_IsReported()
    {
        var (m, _, ctx) = Make();
        Fetch(m);
        m.TryRead(new GuestAddress(0x2000), new byte[4]);
        Assert.Equal("permission/read-of-writable-buffer", ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_8_AccessAfterCompletion_IsReported()
    {
        var (m, _, ctx) = Make();
        Fetch(m);
        m.TryWrite(new GuestAddress(0x2000), new byte[8]);
        Complete(m, 0, 8, 1);
        m.TryWrite(new GuestAddress(0x2000), new byte[1]);
        Assert.Equal("permission/write-outside-writable-buffers", ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_8_UnfetchedIdAndIdxJump_AreReported()
    {
        var (m, _, ctx) = Make();
        Complete(m, 2, 0, 1);
        Assert.Equal("used-ring/idx-beyond-completions", ctx.Finding?.Site);
        var (m2, _, ctx2) = Make();
        Fetch(m2);
        Complete(m2, 3, 0, 1);
        Assert.Equal("used-ring/id-not-in-flight", ctx2.Finding?.Site);
    }

    [Fact]
    public void GuestAccesses_AreNotJudged()
    {
        var (m, _, ctx) = Make();
        using (m.As(MemoryActor.Guest))
            m.TryWrite(new GuestAddress(0x3000), new byte[8]);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_10_MissedInterruptWithEventIdx_IsReported()
    {
        GuestMemory m = GuestMemory.CreateFlat(0x1000);
        var n = new NotificationChecker();
        var ctx = new FuzzContext();
        n.Context = ctx;
        n.Configure(m, Avail, 4, eventIdx: true);
        m.TryWriteUInt16(new GuestAddress(Avail + 4 + 8), 5); // used_event = 5
        n.OnDecision(3, notified: false);
        Assert.Null(ctx.Finding); // 3 has not passed used_event
        n.OnDecision(6, notified: false);
        Assert.Equal("notify/missed-interrupt", ctx.Finding?.Site);
    }

    [Fact]
    public void RestartedQueue_AdoptsUsedIdxFromMemory_LikeVhostVqInitAccess()
    {
        // Regression (virtio-demo-vhost-robust, used ring on top of the available ring, then GET/SET_VRING_BASE): the
        // guest's avail.idx store is a used.idx store; vhost_vq_init_access re-reads it on the restart, so the device
        // continues from 5, not from the 0 it last published.
        var (m, c, ctx) = Make();
        using (m.As(MemoryActor.Guest))
            m.TryWriteUInt16(new GuestAddress(Used + 2), 5);
        c.RebaseUsedIdx();
        Fetch(m);
        m.TryWrite(new GuestAddress(0x2000), new byte[8]);
        Complete(m, 0, 8, 6);
        Assert.Null(ctx.Finding);
        Assert.Equal(6, c.UsedIdx);
        Assert.Equal(0, c.InFlight);
    }

    [Fact]
    public void WithoutRestart_AGuestStoredUsedIdx_StillDoesNotExcuseAJump()
    {
        var (m, _, ctx) = Make();
        using (m.As(MemoryActor.Guest))
            m.TryWriteUInt16(new GuestAddress(Used + 2), 5);
        Fetch(m);
        m.TryWrite(new GuestAddress(0x2000), new byte[8]);
        Complete(m, 0, 8, 6);
        Assert.Equal("used-ring/idx-beyond-completions", ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_5_3_IndirectTable_ReadInOrder_AsLinuxGetIndirect_IsAllowed()
    {
        // Regression (virtio-demo-vhost-robust): entry 0 says NEXT → 0 (a loop by next); Linux get_indirect reads the
        // table sequentially and uses next only as "more follows", so vhost's chain is entries 0, 1, 2.
        var (m, _, ctx) = Make();
        const ulong table = 0x3000;
        using (m.As(MemoryActor.Guest))
        {
            WriteDesc(m, 0, table, 48, 4, 0);
            WriteDesc(m, unchecked((int)(table / 16)), 0x1000, 8, 1, 0);
            WriteDesc(m, unchecked((int)(table / 16)) + 1, 0x1100, 8, 1, 2);
            WriteDesc(m, unchecked((int)(table / 16)) + 2, 0x2000, 8, 2, 0);
        }
        Fetch(m);
        m.TryRead(new GuestAddress(table), new byte[48]);
        m.TryRead(new GuestAddress(0x1000), new byte[8]);
        m.TryRead(new GuestAddress(0x1100), new byte[8]);
        m.TryWrite(new GuestAddress(0x2000), new byte[8]);
        Assert.Null(ctx.Finding);
        m.TryRead(new GuestAddress(0x1200), new byte[8]);
        Assert.Equal("permission/read-outside-chain", ctx.Finding?.Site);
    }
}
