using System.Buffers.Binary;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// <c>used-ring/completed-chain-refetched</c> on hand-made device accesses: a 4-entry ring (descriptor table at 0,
/// available ring at 0x40, used ring at 0x80), descriptor i one 8-byte device-writable buffer at 0x2000 + 0x100 i,
/// available-ring slot i naming head i. The device stops without a reset and starts again on the same rings
/// (<see cref="VirtqueueChecker.Resume"/>): QEMU vhost_virtqueue_stop stores VHOST_GET_VRING_BASE with
/// virtio_queue_set_last_avail_idx and vhost_virtqueue_start hands it back with VHOST_SET_VRING_BASE, so the device
/// resumes where it stopped, and a chain it already returned (VIRTIO 1.2 §2.7.8) is not taken again.
/// </summary>
public sealed class VirtqueueCheckerResumeTests
{
    private const ulong Avail = 0x40;
    private const ulong Used = 0x80;
    private const string Site = "used-ring/completed-chain-refetched";

    private static (GuestMemory Memory, VirtqueueChecker Checker, FuzzContext Context) Make()
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x4000);
        var checker = new VirtqueueChecker(4);
        var context = new FuzzContext();
        checker.Context = context;
        memory.Observer = checker;
        using (memory.As(MemoryActor.Guest))
        {
            Span<byte> d = stackalloc byte[16];
            for (int i = 0; i < 4; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(d, 0x2000 + (0x100 * (ulong)i));
                BinaryPrimitives.WriteUInt32LittleEndian(d[8..], 8);
                BinaryPrimitives.WriteUInt16LittleEndian(d[12..], 2); // WRITE, no NEXT
                BinaryPrimitives.WriteUInt16LittleEndian(d[14..], 0);
                memory.TryWrite(new GuestAddress((ulong)i * 16), d);
                memory.TryWriteUInt16(new GuestAddress(Avail + 4 + (2 * (ulong)i)), (ushort)i);
            }
        }
        checker.Configure(memory, 0, Avail, Used, 4, usedIdx: 0, nextAvail: 0);
        return (memory, checker, context);
    }

    private static void Publish(GuestMemory m, ushort availIdx)
    {
        using (m.As(MemoryActor.Guest))
            m.TryWriteUInt16(new GuestAddress(Avail + 2), availIdx);
    }

    /// <summary>The device reads avail.idx (vhost_get_avail_idx, QEMU vring_avail_idx).</summary>
    private static void ReadAvailIdx(GuestMemory m) => m.TryReadUInt16(new GuestAddress(Avail + 2), out _);

    /// <summary>The device takes the head in available-ring slot <paramref name="slot"/>.</summary>
    private static void Fetch(GuestMemory m, int slot) =>
        m.TryReadUInt16(new GuestAddress(Avail + 4 + (2 * (ulong)slot)), out _);

    /// <summary>The device writes head <paramref name="head"/>'s buffer and publishes it as used entry
    /// <paramref name="usedIdx"/> - 1.</summary>
    private static void Complete(GuestMemory m, int head, ushort usedIdx)
    {
        m.TryWrite(new GuestAddress(0x2000 + (0x100 * (ulong)head)), new byte[8]);
        m.TryWriteUInt64(new GuestAddress(Used + 4 + (8UL * (ulong)((usedIdx - 1) & 3))), (uint)head | (8UL << 32));
        m.TryWriteUInt16(new GuestAddress(Used + 2), usedIdx);
    }

    /// <summary>One chain (slot 0) made available, taken and returned; then the device stops without a
    /// reset.</summary>
    private static (GuestMemory Memory, VirtqueueChecker Checker, FuzzContext Context) OneCompletedThenStopped()
    {
        var (m, c, ctx) = Make();
        Publish(m, 1);
        ReadAvailIdx(m);
        Fetch(m, 0);
        Complete(m, 0, 1);
        c.Deactivate();
        Assert.Null(ctx.Finding);
        return (m, c, ctx);
    }

    [Fact]
    public void QemuVhostStopStart_ResumingAtTheHandedBackPosition_IsClean()
    {
        var (m, c, ctx) = OneCompletedThenStopped();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 1);
        Publish(m, 2);
        ReadAvailIdx(m);
        Fetch(m, 1);
        Complete(m, 1, 2);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_8_CompletedChainTakenAgainAfterResume_IsReported()
    {
        // The StopVhost hand-back skipped: vhost restarts at the base of the previous start (0), not at 1.
        var (m, c, ctx) = OneCompletedThenStopped();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 1);
        Publish(m, 2);
        ReadAvailIdx(m);
        Fetch(m, 0);
        Assert.Equal(Site, ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_8_CompletedChainTakenAgain_NothingNewPublished_IsReported()
    {
        var (m, c, ctx) = OneCompletedThenStopped();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 1);
        ReadAvailIdx(m); // avail.idx is still 1: the stale base 0 sees one chain
        Fetch(m, 0);
        Assert.Equal(Site, ctx.Finding?.Site);
    }

    [Fact]
    public void LinuxVhost_ChainInFlightAtTheStop_TakenAgainAfterResume_IsClean()
    {
        // vhost_get_vq_desc advances last_avail_idx only past a good chain, and QEMU's
        // virtio_queue_restore_last_avail_idx rewinds to used_idx: a chain taken but never returned is taken again.
        var (m, c, ctx) = Make();
        Publish(m, 2);
        ReadAvailIdx(m);
        Fetch(m, 0);
        Complete(m, 0, 1);
        Fetch(m, 1);
        c.Deactivate();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 1);
        ReadAvailIdx(m);
        Fetch(m, 1);
        Complete(m, 1, 2);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_4_ResetBetween_StartingAgainAtZero_IsClean()
    {
        // A reset clears the queue's indices (VIRTIO 1.2 §2.4, QEMU virtio_queue_reset): the target configures afresh.
        var (m, c, ctx) = OneCompletedThenStopped();
        c.Configure(m, 0, Avail, Used, 4, usedIdx: 1, nextAvail: 0);
        ReadAvailIdx(m);
        Fetch(m, 0);
        Complete(m, 0, 2);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void RingsMovedWhileStopped_AreNotJudgedAgainstTheOldRing()
    {
        var (m, c, ctx) = OneCompletedThenStopped();
        using (m.As(MemoryActor.Guest))
        {
            m.TryWriteUInt16(new GuestAddress(0x400 + 2), 1);
            m.TryWriteUInt16(new GuestAddress(0x400 + 4), 0);
        }
        c.Resume(m, 0, 0x400, Used, 4, usedIdx: 1);
        m.TryReadUInt16(new GuestAddress(0x400 + 2), out _);
        m.TryReadUInt16(new GuestAddress(0x400 + 4), out _);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void LinuxVhost_GuestRewoundAvailIdx_StaleWindowFetch_IsNotJudged()
    {
        // One lap completed (positions 0..3), then the guest moves avail.idx back from 4 to 3. vhost_get_vq_desc keeps
        // the value that failed its check in vq->avail_idx and reads slot 0 (position 4) against it on the next kick:
        // against the window [-1, 3) slot 0 would be position 0, completed. Positions are no longer followed.
        var (m, c, ctx) = Make();
        Publish(m, 4);
        ReadAvailIdx(m);
        for (int i = 0; i < 4; i++)
        {
            Fetch(m, i);
            Complete(m, i, (ushort)(i + 1));
        }
        c.Deactivate();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 4);
        Publish(m, 3);
        ReadAvailIdx(m);
        Fetch(m, 0);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_6_NextLapOfACompletedSlot_IsClean()
    {
        // Slot 0 again at position 4: the driver made it available once more by moving avail.idx past it.
        var (m, c, ctx) = Make();
        Publish(m, 3);
        ReadAvailIdx(m);
        for (int i = 0; i < 3; i++)
        {
            Fetch(m, i);
            Complete(m, i, (ushort)(i + 1));
        }
        c.Deactivate();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 3);
        Publish(m, 5);
        ReadAvailIdx(m);
        Fetch(m, 3);
        Complete(m, 3, 4);
        Fetch(m, 0);
        Complete(m, 0, 5);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void FetchWithoutAnAvailIdxRead_IsNotJudged()
    {
        // A device that resumes on a cached avail.idx (read while the checker was not looking): no window is known.
        var (m, c, ctx) = OneCompletedThenStopped();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 1);
        Fetch(m, 0);
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void WithoutAStartPosition_NothingIsJudged()
    {
        // Targets that never resume configure without one: positions are not followed.
        var (m, c, ctx) = Make();
        c.Configure(m, 0, Avail, Used, 4);
        Publish(m, 1);
        ReadAvailIdx(m);
        Fetch(m, 0);
        Complete(m, 0, 1);
        c.Deactivate();
        c.Resume(m, 0, Avail, Used, 4, usedIdx: 1);
        ReadAvailIdx(m);
        Fetch(m, 0);
        Assert.Null(ctx.Finding);
    }
}
