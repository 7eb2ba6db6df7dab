using Sim.Devices.Vhost;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Vhost;

/// <summary>vhost_get_vq_desc's rules, one Linux message per test, driven on a started vring (queue size 16).</summary>
public sealed class VhostGetVqDescTests
{
    private const ushort Next = VirtioSpec.DescFNext;
    private const ushort Write = VirtioSpec.DescFWrite;
    private const ushort Indirect = VirtioSpec.DescFIndirect;

    private static VhostKit Kit() => new(Flavour.Robust, queueSize: 16);

    private static int Get(VhostKit kit, out int outN, out int inN)
    {
        kit.Vq.DisableNotify();
        return kit.Vq.GetVqDesc(out outN, out inN);
    }

    [Fact]
    public void Linux_Empty_ReturnsNum()
    {
        var kit = Kit();
        Assert.Equal(16, Get(kit, out _, out _));
        Assert.Equal(0, kit.Vq.VqErrors);
    }

    [Fact]
    public void Linux_ValidChain_ReturnsHead_AdvancesLastAvail()
    {
        var kit = Kit();
        var (head, _) = kit.AddRequest(0, 0);
        Assert.Equal(head, Get(kit, out int o, out int i));
        Assert.Equal((1, 1), (o, i));
        Assert.Equal(1, kit.Vq.LastAvailIdx);
        Assert.Equal(new UserIovec(kit.Vmm.RegionUserAddress(0) + 0x10000, 8), kit.Vq.Iov[0]);
    }

    [Fact]
    public void Linux_GuestMovedUsedIndex_VqErr_SignalsErrEventFd_NotBroken()
    {
        var kit = Kit();
        kit.SetAvailIdx(17); // 17 > num ahead of last_avail_idx 0
        Assert.Equal(-(int)VhostResult.Fault, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.GuestMovedUsedIndex, kit.Vq.LastError);
        Assert.Equal(1UL, kit.Err.Counter);
        Assert.Single(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.GuestMovedUsedIndex);
        Assert.Equal(0, kit.Vq.LastAvailIdx);
        // Linux cached the bogus index before the check: the next call skips the check and reads the head at
        // last_avail_idx. Not broken: a good chain there is served.
        Assert.Equal(17, kit.Vq.AvailIdx);
        kit.WriteDesc(3, 0x10000, 8, 0, 0);
        using (kit.Memory.AsGuest())
            kit.Memory.TryWriteUInt16(kit.Layout.AvailEntry(0), 3);
        Assert.Equal(3, Get(kit, out _, out _));
    }

    [Fact]
    public void Linux_HeadOutOfRange_GuestSaysIndexIsAvailable()
    {
        var kit = Kit();
        kit.PublishRaw(16);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.HeadOutOfRange, kit.Vq.LastError);
        // Unlike QEMU (which advances last_avail_idx past the bad head), nothing is consumed: the same error again.
        Assert.Equal(0, kit.Vq.LastAvailIdx);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Equal(2, kit.Vq.VqErrors);
    }

    [Fact]
    public void Linux_NextOutOfRange_DescIndexIs()
    {
        var kit = Kit();
        kit.WriteDesc(0, 0x10000, 8, Next, 16);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.DescIndexOutOfRange, kit.Vq.LastError);
    }

    [Fact]
    public void Linux_LoopDetected_VqErr()
    {
        var kit = Kit();
        kit.WriteDesc(0, 0x10000, 8, Next, 1);
        kit.WriteDesc(1, 0x10010, 8, Next, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.LoopDetected, kit.Vq.LastError);
    }

    [Fact]
    public void Linux_ChainOfExactlyNumDescriptors_Accepted()
    {
        var kit = Kit();
        for (int d = 0; d < 16; d++)
            kit.WriteDesc(d, 0x10000 + (ulong)(16 * d), 16, d < 15 ? Next : (ushort)0, (ushort)(d + 1));
        kit.PublishRaw(0);
        Assert.Equal(0, Get(kit, out int o, out _));
        Assert.Equal(16, o);
    }

    [Fact]
    public void Linux_ZeroLengthDescriptor_Accepted_UnlikeQemu()
    {
        var kit = Kit();
        kit.WriteDesc(0, 0x10000, 0, Next, 1);
        kit.WriteDesc(1, 0x10010, 8, Write, 0);
        kit.PublishRaw(0);
        Assert.Equal(0, Get(kit, out int o, out int i));
        Assert.Equal((0, 1), (o, i)); // the zero-length buffer yields no iovec

        // QEMU's SplitQueue (main) rejects the same chain.
        var q = new SplitQueue(16)
        {
            DescTable = kit.Layout.DescTable,
            AvailRing = kit.Layout.AvailRing,
            UsedRing = kit.Layout.UsedRing,
        };
        Assert.True(q.TryEnable(kit.Memory, out _));
        Assert.False(q.TryPop(kit.Memory, new QueueElement(), out QueueError qerr));
        Assert.Equal(QueueError.ZeroLengthBuffer, qerr);
    }

    [Fact]
    public void Linux_OutAfterIn_DescriptorHasOutAfterIn()
    {
        var kit = Kit();
        kit.WriteDesc(0, 0x10000, 8, Write | Next, 1);
        kit.WriteDesc(1, 0x10010, 8, 0, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.OutAfterIn, kit.Vq.LastError);
    }

    [Fact]
    public void Linux_UnmappedBuffer_TranslationFailureEfault()
    {
        var kit = Kit();
        kit.WriteDesc(0, 3 * VhostKit.RegionSize, 8, 0, 0); // beyond guest RAM
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Fault, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.Translation, kit.Vq.LastError);
    }

    [Fact]
    public void Linux_BufferStraddlingTwoRegions_SplitIntoTwoIovecs()
    {
        var kit = Kit();
        kit.WriteDesc(0, VhostKit.RegionSize - 4, 8, 0, 0);
        kit.PublishRaw(0);
        Assert.Equal(0, Get(kit, out int o, out _));
        Assert.Equal(2, o);
        Assert.Equal(new UserIovec(kit.Vmm.RegionUserAddress(0) + VhostKit.RegionSize - 4, 4), kit.Vq.Iov[0]);
        Assert.Equal(new UserIovec(kit.Vmm.RegionUserAddress(1), 4), kit.Vq.Iov[1]);
    }

    [Fact]
    public void Linux_TooManyIovecs_Enobufs()
    {
        // A queue of 2048 with a 1025-descriptor chain: one iovec each → the 1025th does not fit in UIO_MAXIOV.
        var kit = new VhostKit(Flavour.Robust, queueSize: 2048);
        for (int d = 0; d <= VhostLimits.IovecsMax; d++)
        {
            kit.WriteDesc(
                d,
                0x80000 + (ulong)(8 * d),
                8,
                d < VhostLimits.IovecsMax ? Next : (ushort)0,
                (ushort)(d + 1)
            );
        }
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.NoBuffers, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.Translation, kit.Vq.LastError);
    }

    [Fact]
    public void Linux_ManyZeroLengthDescriptors_UseNoIovecs()
    {
        var kit = new VhostKit(Flavour.Robust, queueSize: 2048);
        for (int d = 0; d < 2048; d++)
            kit.WriteDesc(d, 0x80000, 0, d < 2047 ? Next : (ushort)0, (ushort)(d + 1));
        kit.PublishRaw(0);
        Assert.Equal(0, Get(kit, out int o, out int i));
        Assert.Equal((0, 0), (o, i));
    }

    // ---- indirect

    private static GuestAddress Table(VhostKit kit, params (ulong Addr, uint Len, ushort Flags, ushort Next)[] descs)
    {
        GuestAddress table = kit.Alloc((uint)(16 * Math.Max(descs.Length, 1)));
        for (int k = 0; k < descs.Length; k++)
        {
            kit.WriteDescAt(
                new GuestAddress(table.Value + (ulong)(16 * k)),
                descs[k].Addr,
                descs[k].Len,
                descs[k].Flags,
                descs[k].Next
            );
        }
        return table;
    }

    [Fact]
    public void Linux_Indirect_Valid()
    {
        var kit = Kit();
        GuestAddress t = Table(kit, (0x20000, 8, Next, 1), (0x20010, 8, Write, 0));
        kit.WriteDesc(0, t.Value, 32, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(0, Get(kit, out int o, out int i));
        Assert.Equal((1, 1), (o, i));
    }

    [Fact]
    public void Linux_Indirect_NextFieldsIgnored_TableReadSequentially()
    {
        var kit = Kit();
        // next of entry 0 says 5 (out of the 2-entry table): Linux reads entry 1 anyway; QEMU would fail.
        GuestAddress t = Table(kit, (0x20000, 8, Next, 5), (0x20010, 8, Write, 0));
        kit.WriteDesc(0, t.Value, 32, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(0, Get(kit, out int o, out int i));
        Assert.Equal((1, 1), (o, i));
    }

    [Fact]
    public void Linux_Indirect_LengthNotMultipleOf16_InvalidLength()
    {
        var kit = Kit();
        GuestAddress t = Table(kit, (0x20000, 8, 0, 0));
        kit.WriteDesc(0, t.Value, 24, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Contains(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.IndirectBadLength);
        // vhost_get_vq_desc adds "Failure detected in indirect descriptor": the err eventfd is signalled twice.
        Assert.Equal(VqErrorCode.IndirectFailure, kit.Vq.LastError);
        Assert.Equal(2UL, kit.Err.Counter);
    }

    [Fact]
    public void Linux_Indirect_ZeroLength_LoopDetected()
    {
        var kit = Kit();
        kit.WriteDesc(0, 0x20000, 0, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Contains(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.IndirectLoopDetected);
    }

    [Fact]
    public void Linux_Indirect_ChainPastTableEnd_LoopDetected()
    {
        var kit = Kit();
        GuestAddress t = Table(kit, (0x20000, 8, Next, 1), (0x20010, 8, Next, 2)); // last entry still says NEXT
        kit.WriteDesc(0, t.Value, 32, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Contains(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.IndirectLoopDetected);
    }

    [Fact]
    public void Linux_Indirect_TooBig_E2big()
    {
        var kit = Kit();
        // 65537 entries (len 0x100010) starting at GPA 0: mapped (it spans both regions) but too many.
        kit.WriteDesc(0, 0, (VhostLimits.IndirectDescriptorsMax + 1) * 16, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.TooBig, Get(kit, out _, out _));
        Assert.Contains(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.IndirectTooBig);
    }

    [Fact]
    public void Linux_Indirect_Nested_VqErr()
    {
        var kit = Kit();
        GuestAddress t = Table(kit, (0x20000, 16, Indirect, 0));
        kit.WriteDesc(0, t.Value, 16, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Contains(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.NestedIndirect);
    }

    [Fact]
    public void Linux_Indirect_OutAfterIn_VqErr()
    {
        var kit = Kit();
        GuestAddress t = Table(kit, (0x20000, 8, Write | Next, 1), (0x20010, 8, 0, 0));
        kit.WriteDesc(0, t.Value, 32, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Invalid, Get(kit, out _, out _));
        Assert.Contains(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.IndirectOutAfterIn);
    }

    [Fact]
    public void Linux_Indirect_NotMapped_TranslationFailure()
    {
        var kit = Kit();
        kit.WriteDesc(0, 5 * VhostKit.RegionSize, 32, Indirect, 0);
        kit.PublishRaw(0);
        Assert.Equal(-(int)VhostResult.Fault, Get(kit, out _, out _));
        Assert.Contains(kit.VqErrors(), e => e.Address == (ulong)VqErrorCode.IndirectTranslation);
    }

    [Fact]
    public void Linux_IndirectAfterHead_WithNext_Followed_UnlikeQemu()
    {
        var kit = Kit();
        GuestAddress t = Table(kit, (0x20000, 8, 0, 0));
        kit.WriteDesc(0, 0x30000, 8, Next, 1); // direct out
        kit.WriteDesc(1, t.Value, 16, Indirect | Next, 2); // indirect in the middle, NEXT followed after it
        kit.WriteDesc(2, 0x30010, 8, Write, 0); // direct in
        kit.PublishRaw(0);
        Assert.Equal(0, Get(kit, out int o, out int i));
        Assert.Equal((2, 1), (o, i));
    }

    [Fact]
    public void Linux_BadChain_NotBroken_LaterKickRetries()
    {
        var kit = Kit();
        kit.WriteDesc(0, 0x10000, 8, Next, 0); // self loop
        kit.PublishRaw(0);
        kit.Kick.Signal();
        kit.Run();
        Assert.Equal(VqErrorCode.LoopDetected, kit.Vq.LastError);
        Assert.Equal(0, kit.UsedIdx());
        // The guest fixes the chain and kicks again: the vring serves it (QEMU would need a device reset).
        kit.WriteDesc(0, 0x10000, 8, Next, 1);
        kit.WriteDesc(1, 0x10010, 8, Write, 0);
        kit.Kick.Signal();
        kit.Run();
        Assert.Equal(1, kit.UsedIdx());
        Assert.Equal((0u, 8u), kit.UsedEntry(0));
    }

    [Fact]
    public void Linux_UnmappedRing_AvailIdxAccessFault()
    {
        var kit = Kit();
        VhostKit.Check(kit.Demo.SetRunning(false));
        VhostKit.Check(kit.Dev.SetVringAddr(0, new VhostVringAddr(0x10, 0x20, 0x40)));
        Assert.Equal(-(int)VhostResult.Fault, Get(kit, out _, out _));
        Assert.Equal(VqErrorCode.AvailIdxAccess, kit.Vq.LastError);
    }
}
