using Sim.Devices;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Targets;

/// <summary>
/// Issue 12 item 3: the guest acts inside a handler at an input-chosen <see cref="HandlerPoint"/>, and liveness makes
/// the honest driver's kick decision (<see cref="GuestKickDecision"/>) instead of an extra kick. The proof that a lost
/// wakeup is now found is the CI mutant in MutationSampleTests (vhost_enable_notify without its re-check's store).
/// </summary>
public sealed class HandlerInterleavingTests
{
    private const ulong Avail = 0x100;
    private const ulong Used = 0x200;
    private const int Size = 4;

    private static byte[] Op(byte code, byte index = 0, byte flags = 0, ushort next = 0, uint len = 8)
    {
        var op = new byte[RingInput.OpLength];
        op[0] = code;
        BitConverter.GetBytes(len).CopyTo(op, RingInput.LenOffset);
        op[RingInput.FlagsOffset] = flags;
        BitConverter.GetBytes(next).CopyTo(op, RingInput.NextOffset);
        op[RingInput.IndexOffset] = index;
        return op;
    }

    private static (GuestMemory Memory, GuestKickDecision Kicks) Ring(bool eventIdx)
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x1000);
        var kicks = new GuestKickDecision();
        memory.Observer = kicks;
        kicks.Configure(memory, Avail, Used, Size, eventIdx);
        return (memory, kicks);
    }

    private static void Publish(GuestMemory m, ushort idx)
    {
        using (m.As(MemoryActor.Guest))
            m.TryWriteUInt16(new GuestAddress(Avail + 2), idx);
    }

    [Fact]
    public void Spec_2_7_7_2_NoNotify_WithholdsTheKick_AndClearedFlagAsksForIt()
    {
        var (m, kicks) = Ring(eventIdx: false);
        using (m.As(MemoryActor.Device))
            m.TryWriteUInt16(new GuestAddress(Used), 1); // VRING_USED_F_NO_NOTIFY
        Publish(m, 1);
        Assert.False(kicks.Decide());
        Assert.Equal(1, kicks.Withheld);
        Assert.False(kicks.Decide()); // nothing published since the last decision
        using (m.As(MemoryActor.Device))
            m.TryWriteUInt16(new GuestAddress(Used), 0);
        Publish(m, 2);
        Assert.True(kicks.Decide());
    }

    [Fact]
    public void Spec_2_7_10_AvailEvent_VringNeedEvent()
    {
        var (m, kicks) = Ring(eventIdx: true);
        ulong availEvent = Used + 4 + (8 * Size);
        using (m.As(MemoryActor.Device))
            m.TryWriteUInt16(new GuestAddress(availEvent), 0);
        Publish(m, 1);
        Assert.True(kicks.Decide()); // the device asked to be told when idx passes 0
        using (m.As(MemoryActor.Device))
            m.TryWriteUInt16(new GuestAddress(availEvent), 0);
        Publish(m, 3);
        Assert.False(kicks.Decide()); // event 0 already passed at the last decision (old 1): no kick
        Assert.Equal(1, kicks.Withheld);
    }

    [Fact]
    public void GuestStoreOverTheSuppressionWords_IsNotTheDevicesPromise()
    {
        var (m, kicks) = Ring(eventIdx: false);
        using (m.As(MemoryActor.Guest))
            m.TryWriteUInt32(new GuestAddress(Used), 1); // a stray store sets NO_NOTIFY
        Publish(m, 1);
        Assert.True(kicks.Decide());
        using (m.As(MemoryActor.Device))
            m.TryWriteUInt16(new GuestAddress(Used), 1); // the device's own store
        Publish(m, 2);
        Assert.False(kicks.Decide());
        kicks.Unsure(); // a control-plane action: the words are not a promise until the device writes them again
        Publish(m, 3);
        Assert.True(kicks.Decide());
    }

    [Fact]
    public void VhostRobust_ChainPublishedBeforeEnableNotify_IsFoundByTheRecheck_WithoutAKick()
    {
        // size 2, no EVENT_IDX; add a chain, kick, arm a slot before enable-notify that adds a second chain, run.
        byte[] input =
        [
            .. new byte[] { 1, 4, 0, 0 },
            .. Op(RingInput.OpAddChain, index: 4),
            .. Op(8),
            .. Op(15),
            .. Op(RingInput.OpAddChain, index: 4),
            .. Op(9),
        ];
        var target = new VhostDemoTarget(Flavour.Robust);
        var context = new FuzzContext();
        Assert.Equal(FuzzOutcome.Completed, target.Execute(input, context));
        Assert.True(context.Finding is null, context.Finding?.Message);
        Assert.Equal(1, target.SlotsRun);
        Assert.Equal(1, target.KicksWithheld);
        Assert.Equal(2, target.Requests);
    }
}
