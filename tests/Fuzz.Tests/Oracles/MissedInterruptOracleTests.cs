using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// <see cref="MissedInterruptOracle"/> on hand-made memory states: a 4-entry queue, available ring at 0x40 (flags,
/// idx, ring[4], used_event), used ring at 0x80. The "device" adds used entries by storing used.idx; whether it
/// interrupted is what the test says to <see cref="MissedInterruptOracle.AfterDevice"/>.
/// </summary>
public sealed class MissedInterruptOracleTests
{
    private const ulong Avail = 0x40;
    private const ulong Used = 0x80;
    private const int Size = 4;

    private static (GuestMemory Memory, MissedInterruptOracle Oracle, FuzzContext Context) Make(
        bool eventIdx,
        ushort availFlags = 0,
        ushort usedEvent = 0
    )
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x1000);
        memory.TryWriteUInt16(new GuestAddress(Avail), availFlags);
        memory.TryWriteUInt16(new GuestAddress(Avail + 4 + (2 * Size)), usedEvent);
        var oracle = new MissedInterruptOracle();
        var context = new FuzzContext();
        oracle.Context = context;
        oracle.Configure(memory, Avail, Used, Size, eventIdx);
        return (memory, oracle, context);
    }

    private static void DeviceCompletes(GuestMemory m, MissedInterruptOracle o, ushort usedIdx, bool interrupted)
    {
        m.TryWriteUInt16(new GuestAddress(Used + 2), usedIdx);
        o.AfterDevice(interrupted);
    }

    [Fact]
    public void Spec_2_7_7_2_CompletionWithoutInterrupt_FlagsClear_IsReported()
    {
        var (m, o, ctx) = Make(eventIdx: false);
        DeviceCompletes(m, o, 1, interrupted: false);
        o.Final();
        Assert.Equal(("notify", "notify/missed-interrupt-after-drain"), ctx.Finding?.Key);
        Assert.Equal(1, o.Missed);
    }

    [Fact]
    public void Spec_2_7_7_2_CompletionWithInterrupt_IsClean()
    {
        var (m, o, ctx) = Make(eventIdx: false);
        DeviceCompletes(m, o, 1, interrupted: true);
        o.Final();
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_7_2_NoInterruptFlag_SuppressesTheRequirement()
    {
        var (m, o, ctx) = Make(eventIdx: false, availFlags: 1);
        DeviceCompletes(m, o, 3, interrupted: false);
        o.Final();
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_7_2_InterruptThenMoreSilentCompletions_IsReported()
    {
        // The interrupt covers entries up to used.idx 1 only; entry 2 needed its own.
        var (m, o, ctx) = Make(eventIdx: false);
        DeviceCompletes(m, o, 1, interrupted: true);
        DeviceCompletes(m, o, 2, interrupted: false);
        o.Final();
        Assert.Equal("notify/missed-interrupt-after-drain", ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_10_UsedEventNotPassed_IsClean()
    {
        // vring_need_event(used_event 2, new 2, old 0): used.idx reached used_event but did not pass it.
        var (m, o, ctx) = Make(eventIdx: true, usedEvent: 2);
        DeviceCompletes(m, o, 2, interrupted: false);
        o.Final();
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_10_UsedEventPassed_WithoutInterrupt_IsReported()
    {
        var (m, o, ctx) = Make(eventIdx: true, usedEvent: 2);
        DeviceCompletes(m, o, 3, interrupted: false);
        o.Final();
        Assert.Equal("notify/missed-interrupt-after-drain", ctx.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_10_EventIdx_IgnoresTheNoInterruptFlag()
    {
        // With EVENT_IDX the driver's flags are not the suppression mechanism; used_event 0 is passed by 0 → 1.
        var (m, o, ctx) = Make(eventIdx: true, availFlags: 1, usedEvent: 0);
        DeviceCompletes(m, o, 1, interrupted: false);
        o.Final();
        Assert.Equal("notify/missed-interrupt-after-drain", ctx.Finding?.Site);
    }

    [Fact]
    public void GuestChangingSuppression_ReAnchors_ForgivingWhatCameBefore()
    {
        // The device decided under the old state; the guest then moved used_event: only later completions are judged.
        var (m, o, ctx) = Make(eventIdx: true, usedEvent: 0);
        DeviceCompletes(m, o, 1, interrupted: false);
        m.TryWriteUInt16(new GuestAddress(Avail + 4 + (2 * Size)), 5);
        o.AfterGuest();
        o.Final();
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_10_GuestStoreToUsedIdx_IsNotTheDevicesReferencePoint()
    {
        // The device interrupted at used.idx 1 (used_event 0 crossed); the guest then stored 0 over used.idx. The
        // device keeps its shadow (QEMU vq->used_idx, signalled_used = 1) and completes one more at 2:
        // vring_need_event(0, 2, 1) is false, so no interrupt is owed. Judging (0, 2] from the guest's store would call
        // it missed.
        var (m, o, ctx) = Make(eventIdx: true, usedEvent: 0);
        DeviceCompletes(m, o, 1, interrupted: true);
        m.TryWriteUInt16(new GuestAddress(Used + 2), 0);
        o.AfterGuest();
        DeviceCompletes(m, o, 2, interrupted: false);
        o.Final();
        Assert.Null(ctx.Finding);
    }

    [Fact]
    public void Spec_2_7_7_2_GuestStoreToUsedIdx_DoesNotForgiveALaterSilentCompletion()
    {
        // Without EVENT_IDX every completion after the last interrupt needs one: the guest's store does not excuse it.
        var (m, o, ctx) = Make(eventIdx: false);
        DeviceCompletes(m, o, 1, interrupted: true);
        m.TryWriteUInt16(new GuestAddress(Used + 2), 7);
        o.AfterGuest();
        DeviceCompletes(m, o, 2, interrupted: false);
        o.Final();
        Assert.Equal("notify/missed-interrupt-after-drain", ctx.Finding?.Site);
    }

    [Fact]
    public void GuestStoreToUsedIdx_WithoutDeviceProgress_IsNotACompletion()
    {
        // The guest moves used.idx itself; the device completes nothing: nothing is owed.
        var (m, o, ctx) = Make(eventIdx: false);
        m.TryWriteUInt16(new GuestAddress(Used + 2), 3);
        o.AfterGuest();
        o.AfterDevice(interrupted: false);
        o.Final();
        Assert.Null(ctx.Finding);
    }
}
