using Sim.Devices;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// Oracle-removal tests for <see cref="DemoDiffTarget"/>: the same honest scenario is clean with both backends as
/// they are, and fires once the vhost side is made to diverge through the target's test hooks — a response byte or a
/// used.len it did not write, or a call eventfd it never signals. Without the differential comparison or the
/// missed-interrupt oracle these tests fail.
/// </summary>
public sealed class DifferentialOracleTests
{
    private const int SizeLog = 2;

    /// <summary>One chain (one 8-byte request buffer, one 8-byte response buffer, both zero: opt 0 reads the state),
    /// then a run of one window; the final drain follows.</summary>
    private static byte[] OneRequest(bool eventIdx = false, Action<RingScenarioBuilder>? before = null)
    {
        var b = new RingScenarioBuilder(SizeLog, eventIdx);
        before?.Invoke(b);
        return b.AddChain(1, 1, bufferLen: 8).Op(9).Build();
    }

    private static (ulong Desc, ulong Avail, ulong Used) Rings() => RingInput.Place(0, 1 << SizeLog, 0);

    /// <summary>The response buffer of the first chain (<see cref="GuestActor"/> hands out buffers from
    /// <see cref="RingInput.BufferBase"/>: request first, then response).</summary>
    private const ulong ResponseAt = RingInput.BufferBase + 8;

    private static FindingReport? Run(
        byte[] input,
        Action<VhostBackendRig>? afterStart = null,
        Action<VhostBackendRig>? afterRun = null
    ) => FuzzReplay.Run(new DemoDiffTarget(Flavour.Robust, afterStart, afterRun), input).Finding;

    /// <summary>Runs <paramref name="tamper"/> once, after the first vhost run that completed something.</summary>
    private static Action<VhostBackendRig> Once(Action<GuestMemory> tamper)
    {
        bool done = false;
        return rig =>
        {
            if (done || rig.Vq.UsedAdded == 0)
                return;
            done = true;
            tamper(rig.Simulation.Memory);
        };
    }

    [Fact]
    public void HonestBackends_Agree()
    {
        long completed = 0;
        FindingReport? f = Run(OneRequest(), afterRun: rig => completed = rig.Vq.UsedAdded);
        Assert.Null(f);
        Assert.Equal(1, completed);
    }

    [Fact]
    public void Divergent_ResponseByte_IsADifferentialFinding()
    {
        FindingReport? f = Run(
            OneRequest(),
            afterRun: Once(m =>
            {
                Assert.True(m.TryGetSpan(new GuestAddress(ResponseAt + 4), 1, out Span<byte> b));
                b[0] ^= 0x5a;
            })
        );
        Assert.Equal(("differential", "differential/guest-memory"), f?.Key);
    }

    [Fact]
    public void Divergent_UsedLen_IsADifferentialFinding()
    {
        ulong used = Rings().Used;
        FindingReport? f = Run(
            OneRequest(),
            afterRun: Once(m => Assert.True(m.TryWriteUInt32(new GuestAddress(used + 4 + 4), 3)))
        );
        Assert.Equal(("differential", "differential/used-element"), f?.Key);
    }

    [Fact]
    public void Divergent_ExtraUsedEntry_IsADifferentialFinding()
    {
        ulong used = Rings().Used;
        FindingReport? f = Run(
            OneRequest(),
            afterRun: Once(m => Assert.True(m.TryWriteUInt16(new GuestAddress(used + 2), 2)))
        );
        Assert.Equal(("differential", "differential/used-idx"), f?.Key);
    }

    [Fact]
    public void Divergent_AfterAnInvalidLayout_IsNotCompared()
    {
        // Placement 6: the used ring on top of the available ring — excluded from comparison (see DemoDiffTarget).
        byte[] input = new RingScenarioBuilder(SizeLog, placement: 6).AddChain(1, 1, bufferLen: 8).Op(9).Build();
        FindingReport? f = Run(
            input,
            afterRun: Once(m =>
            {
                Assert.True(m.TryGetSpan(new GuestAddress(ResponseAt + 4), 1, out Span<byte> b));
                b[0] ^= 0x5a;
            })
        );
        Assert.Null(f);
    }

    // ---- missed interrupt: the vhost side never signals its call eventfd (vhost_signal finds no call fd).

    private static void Unbind(VhostBackendRig rig) =>
        Assert.Equal(Sim.Devices.Vhost.VhostResult.Ok, rig.Demo.Device.SetVringCall(0, null));

    [Fact]
    public void Spec_2_7_7_2_BackendThatNeverInterrupts_IsAMissedInterrupt()
    {
        FindingReport? f = Run(OneRequest(), afterStart: Unbind);
        Assert.Equal(("notify", "notify/missed-interrupt-after-drain-vhost"), f?.Key);
    }

    [Fact]
    public void Spec_2_7_7_2_NoInterruptFlag_HonouredSilence_IsClean()
    {
        // VIRTQ_AVAIL_F_NO_INTERRUPT set before the request: neither side need interrupt.
        FindingReport? f = Run(OneRequest(before: b => b.Op(RingInput.OpSuppression, flags: 1)), afterStart: Unbind);
        Assert.Null(f);
    }

    [Fact]
    public void Spec_2_7_10_UsedEventNotReached_HonouredSilence_IsClean()
    {
        // EVENT_IDX with used_event = 10: used.idx only reaches 1, vring_need_event is false.
        FindingReport? f = Run(
            OneRequest(eventIdx: true, before: b => b.Op(RingInput.OpSuppression, next: 10)),
            afterStart: Unbind
        );
        Assert.Null(f);
    }

    [Fact]
    public void Spec_2_7_10_UsedEventCrossed_WithoutInterrupt_IsAMissedInterrupt()
    {
        // used_event = 0: the first completion (used.idx 0 → 1) crosses it, vring_need_event is true.
        FindingReport? f = Run(
            OneRequest(eventIdx: true, before: b => b.Op(RingInput.OpSuppression, next: 0)),
            afterStart: Unbind
        );
        Assert.Equal(("notify", "notify/missed-interrupt-after-drain-vhost"), f?.Key);
    }
}
