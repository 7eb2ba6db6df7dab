using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// Inputs on which robust targets reported findings that were checker or harness misjudgements, or host costs a guest
/// could inflate. Each asserts that no oracle fires on the bytes any more (the checkers' own tests pin the rule that
/// changed).
/// </summary>
public sealed class RobustFindingRegressionTests
{
    /// <summary><c>used-ring/idx-beyond-completions</c>: queue size 1, used ring on top of the available ring
    /// (placement 6), one chain (the guest's avail.idx store = 1 is a used.idx store), then op 12 (GET/SET_VRING_BASE,
    /// stop and start). vhost_vq_init_access re-reads last_used_idx from used-&gt;idx on the restart, as Linux does;
    /// the checker kept the 0 it had last seen published.</summary>
    private static readonly byte[] UsedIdxAdoptedOnRestart = Convert.FromHexString(
        "00040600020000000000000000000000000000000000000c"
    );

    /// <summary><c>permission/read-outside-chain</c>: an indirect chain (3 entries at 0x4000), then entry 0 rewritten
    /// to NEXT → 0. Linux get_indirect reads the table in order (next only says "more follows"), so vhost uses entry
    /// 1's buffer at 0x6040; the checker followed next only.</summary>
    private static readonly byte[] IndirectTableReadInOrder = Convert.FromHexString(
        "000400000200000000000000000000ff0000000400000501000000000000000000000000000001"
    );

    /// <summary><c>differential/used-element</c>: placement 7 puts avail_event (EVENT_IDX) inside the indirect table at
    /// 0x4000, on the descriptor's len. QEMU writes avail_event before walking the chain, vhost only when the ring is
    /// empty, so they read different lengths: an invalid layout, not a divergence.</summary>
    private static readonly byte[] AvailEventInsideIndirectTable = Convert.FromHexString(
        "0305ff0002000000000000000000000700000004000004"
    );

    /// <summary><c>notify/missed-interrupt-after-drain</c> (issue 12 item 7): a reset re-initialises a 2-entry queue
    /// with EVENT_IDX and the used ring on the descriptor table (placement 7), so used.idx is bytes 2..3 of descriptor
    /// 0's address. The device completes one chain and interrupts at used.idx 1 (used_event 0 crossed); the guest's
    /// next descriptor store writes 0 over used.idx; the device completes a second chain at its shadow index 2 and
    /// rightly stays silent (vring_need_event(0, 2, 1) is false). The oracle had re-anchored at the guest's 0 and
    /// judged (0, 2].</summary>
    private static readonly byte[] GuestStoreOverUsedIdx = Convert.FromHexString(
        "000400000a000000004000000000000000000001ff007f02000000000000000000000000000000000000090000000000"
            + "000000000000000000000000000000000000000000000000000000000000000003"
    );

    /// <summary><c>response/demo</c> (campaign camp1h): the first request, {opt 1, buff 0}, is an INDIRECT chain, which
    /// the response oracle does not judge, so it missed the store; the next {opt 0} request was judged against the
    /// initial 0x1333 while the device rightly answered 0. The state is now unknown after an unjudged
    /// completion.</summary>
    private static readonly byte[] IndirectStoreThenLoad = Convert.FromHexString(
        "02040000020000000000000000000053000000040000e402000000000000000000000700000000000004060000000000000000000001"
    );

    /// <summary><c>notify/missed-interrupt-after-drain</c> (campaign camp1h, four findings of one shape): with
    /// EVENT_IDX and used_event 0, a common-config write (op 11) makes the device process the queue synchronously and
    /// interrupt at used.idx 1; the target treated the change as the guest's and credited the interrupt at the next run
    /// with the stale anchor 0, so the device's rightful silence for 1 → 2 was judged over (0, 2].</summary>
    private static readonly byte[][] RegisterOpProcessesQueue =
    [
        Convert.FromHexString(
            "00050000020000000000000000000000000000000000000b00e7000000000000000000000000000000840b00000b0000"
                + "0000000000000000000200000b0b0000004a00000000000000000000020000820e000000000000000000000000000000"
                + "0000000200000000000000000000bc"
        ),
        Convert.FromHexString(
            "00050000020000000000000000000000000000000000000b00e7000000000000000000000000000000840b00000b0000"
                + "0000000000000000000200000b0b0000004a00000000000000000000020000820e000000000000000000000000000000"
                + "00000002"
        ),
        Convert.FromHexString(
            "00050000020000000000000000000000000000000000000b00e7000000000000000000000000000000840b00000b0000"
                + "0000000000000000000200000b0b0000004a000000000000000000000200008200000000000000000000000800000002"
                + "0000000900000000000000000000000000000000000003"
        ),
        Convert.FromHexString(
            "01050000020000000000000000000000000000000000000b00e7000000000000000000000000000000840b00000b0000"
                + "0000000000000000000200000b0b0000004a000000000000000000000200008209000000000000000000000000000000"
                + "00000002000000000000000000000b00000000000002"
        ),
    ];

    /// <summary><c>resource/allocated-bytes</c> (campaign camp1h): resets re-run a ring of long counter requests, the
    /// robust device reads hundreds of thousands of numbers, and formatted a log line for each even once the bounded
    /// log was full (70 MB in one execution).</summary>
    private static readonly byte[] CounterNumbersPastFullLog = Convert.FromHexString(
        "000400000000000000000000000007002a0000000000000a000000000000000000000000000000000072040000000000"
            + "0000000000000000000000fa000a00000000000000000000000000000000002a0a000000000000000000000000000000"
            + "00002a0a00000000000000000000000000000000002a0a00000000000000000000000000000000002a0a000000000000"
            + "00000000000000000000002a0a00000000000000000000000000000000002a0a00000000000000000000000000000000"
            + "002a0a00000000000000000000000000000000002a0a0000000000000000000000000000000000000200000000000000"
            + "00000032"
    );

    /// <summary><c>exception</c> NullReferenceException in GuestActor.Apply (found on virtio-blk-qemu-real, the same
    /// hole in the QEMU-style target): the initial rings are rejected, so the queue never becomes ready and the guest
    /// actor was never pointed at this execution's memory (null on a fresh target, a previous execution's
    /// otherwise).</summary>
    public static readonly byte[] GuestOpsOnRejectedRings = Convert.FromHexString(
        "08046700000000000000000000000000000000000000000a"
    );

    /// <summary><c>used-ring/id-not-in-flight</c> (mutation harness, seed 1, execution 107,454 of any vhost mutant
    /// the target never runs): the used ring on the available ring, and a handler-interleaving slot at
    /// BetweenFillAndFlush whose guest steps publish a second chain: its avail.ring[1] store lands on the high half of
    /// the used entry the device had just filled (id 0 became 65,536) before the device stored used.idx. The checker
    /// read the entry from memory at publication; it now judges the id and len the device stored.</summary>
    private static readonly byte[] GuestStoreOverFilledUsedEntry = Convert.FromHexString(
        "05007e0f22019b99bd0791898f78f0fad7bc87350111a18f4307642c3d07f9142e041cc686499459a5bf96c71ff7b699"
            + "389396bbe5da93cc58e369000002000000002300000000000700feffffff0000ffffff7f000000000000000700000000"
            + "00000402feff01ff0000000000000000000000000000"
    );

    /// <summary><c>liveness/stranded-under-suppression</c> (mutation harness, seed 1, execution 194,108): under
    /// EVENT_IDX the control plane restarts the vring; vhost_vq_init_access stores used.flags, not avail_event, and
    /// the guest's kick decision took that store as the device renewing its promise, so it read the avail_event the
    /// restart never wrote and withheld the kick for two new chains. Only a store of the word the decision reads
    /// renews the promise now.</summary>
    private static readonly byte[] RestartStoresFlagsNotAvailEvent = Convert.FromHexString(
        "030000e80200000000000000800000030000000000000408000000000000000000000000000000000000090000000000"
            + "00000000000000009e9b99a6e607d628fa77ffffffffffffffff1bc26e71a2a7fef52eb5504d4c48c1b4271fac3e3937"
            + "0a4abb62634a047b3cc9382c92c5c71895ddcafb51790c34bfbf673fa3de045d4754298fa3d2da4bf733420a02d6b3d5"
            + "bdedc5c981fb8c0000000000"
    );

    /// <summary><c>response/counter-log</c> ("a request of 4 numbers logged 2 of them"): a reset re-places a
    /// 128-entry queue with the used ring (0x4f00) running into the descriptor table (0x5200); head 0 ({0x6000, 8}) is
    /// published 108 times. Used entry 95's store sets descriptor 0's address to 0 while head 0 is in flight; the
    /// checker's re-walk added {0, 8} to the chain, so the oracle judged 16 readable bytes against the 2 numbers the
    /// device read from the element it had popped (QEMU virtqueue_split_pop copies the descriptors at pop time). Not
    /// the log's cap (216 lines of 10,000) nor a short buffer: a chain rewritten in flight is no longer
    /// plain.</summary>
    private static readonly byte[] CounterChainRewrittenByUsedStore = Convert.FromHexString(
        "000400000a0000520015004f00000000000000008f00850400000000000000000000000000000000cc000000000000000000000002"
    );

    /// <summary><c>response/blk-data</c> (campaign seed 12, 60 s, with <c>BlkSeeds.WholeSectorWriteThenRead</c>): an
    /// OUT of sector 0 whose header, data and status share 0x6000 is pending when op 10 resets the device; the reset's
    /// status write drains the kick first (QEMU virtio_device_stop_ioeventfd_impl), so the write lands on the disk
    /// while the checker is not watching. The model's disk kept the old sector and the later IN of sector 0, which
    /// rightly returned the disk's 01 00 ..., was judged against it. The oracle now resyncs when watching
    /// resumes.</summary>
    private static readonly byte[] BlkWriteDrainedByReset = Convert.FromHexString(
        "0304000006000000000000000000000100000000000000020000000000000000000000000000000000000000000000000000000004"
            + "00020000010200010000000000000000000000000000000200000200000000000000000000000f000000010100000000000000"
            + "0000000000000f00000001040003000000080000000000000400020000030500040a00000000000000000000000000000000"
            + "00030000000a0000000000000000000000020000050300000000000000000000000000000003"
    );

    [Fact]
    public void CounterRobust_CounterLog_ChainRewrittenByUsedStore_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-counter-qemu-robust", 1, CounterChainRewrittenByUsedStore);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void BlkRobust_BlkData_WriteDrainedByReset_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-blk-qemu-robust", 1, BlkWriteDrainedByReset);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void VhostRobust_GuestStoreOverFilledUsedEntry_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-vhost-robust", 1, GuestStoreOverFilledUsedEntry);
        Assert.False(result.Fired, result.Describe());
    }

    /// <summary><c>liveness/stranded-under-suppression</c> (<c>virtio-demo-vhost-robust --seed 7</c>, execution 89,113
    /// of this build, 108,193 of aadc220's): the guest publishes a chain (avail.idx 1) and kicks, a stray 4-byte store
    /// over avail.flags and avail.idx's low byte moves avail.idx back to 0, an owner reset restarts the vring with
    /// EVENT_IDX, the worker reads avail.idx 0 and sets avail_event 0, then the guest publishes (avail.idx 2). The
    /// device kept its promise (it saw 0 and asked for a kick past 0); the guest's decision took its window from its
    /// last kick, [1, 2), which misses 0 because avail.idx went backwards in between. An oracle bug: avail.idx moved
    /// other than forward since the decision, so the honest decision is to kick.</summary>
    private static readonly byte[] AvailIdxMovedBack = Convert.FromHexString(
        "04040000020000000000000000000000000000000000000800000000000000000000000000000000000006"
            + "07ff000000000000000000000000000000000d000000000000000000000000000001000000090000000000"
            + "0000000000000000000000000002"
    );

    [Fact]
    public void VhostRobust_StrayStoreMovesAvailIdxBack_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-vhost-robust", 1, AvailIdxMovedBack);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void VhostRobust_RestartStoresFlagsNotAvailEvent_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-vhost-robust", 1, RestartStoresFlagsNotAvailEvent);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void QemuRobust_GuestStoreOverUsedIdx_AfterInterrupt_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-qemu-robust", 1, GuestStoreOverUsedIdx);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void VhostRobust_UsedRingOnAvailRing_VringRestart_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-vhost-robust", 1, UsedIdxAdoptedOnRestart);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void VhostRobust_IndirectEntryNextPointsBack_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-vhost-robust", 1, IndirectTableReadInOrder);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void DiffRobust_AvailEventInsideIndirectTable_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-diff-robust", 1, AvailEventInsideIndirectTable);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void QemuRobust_IndirectStoreThenLoad_DoesNotFire()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-demo-qemu-robust", 1, IndirectStoreThenLoad);
        Assert.False(result.Fired, result.Describe());
    }

    [Fact]
    public void QemuRobust_RegisterOpProcessesQueue_InterruptNotCreditedLate_DoesNotFire()
    {
        foreach (byte[] input in RegisterOpProcessesQueue)
        {
            FuzzReplayResult result = FuzzReplay.Run("virtio-demo-qemu-robust", 1, input);
            Assert.False(result.Fired, result.Describe());
        }
    }

    [Fact]
    public void CounterRobust_NumbersPastFullLog_StayWithinAllocationBound()
    {
        FuzzReplayResult result = FuzzReplay.Run("virtio-counter-qemu-robust", 1, CounterNumbersPastFullLog);
        Assert.False(result.Fired, result.Describe());
        // Far below the 64 MiB bound: what is left is the bounded log and the simulation itself.
        Assert.True(result.AllocatedBytes < 16L << 20, result.Describe());
    }

    [Theory]
    [InlineData("virtio-blk-qemu-robust")]
    [InlineData("virtio-demo-qemu-robust")]
    public void QemuRobust_GuestOpsOnRejectedRings_DoNotThrow(string target)
    {
        // Twice on one target: the second execution must not write into the first one's memory either.
        IFuzzTarget t = FuzzTargets.Create(target)!;
        for (int round = 0; round < 2; round++)
        {
            FuzzReplayResult result = FuzzReplay.Run(t, GuestOpsOnRejectedRings);
            Assert.False(result.Fired, $"round {round}: {result.Describe()}");
        }
    }
}
