using Sim.Spec.Net;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Receive buffers for the net targets (valid <see cref="RingInput"/> v1 inputs for <c>virtio-net-qemu-robust</c>
/// too; ops drive receiveq1, and the source link offers frames of 60, 14, 1514, 42, 200 and 4096 bytes in turn):
/// chains that hold the 12-byte header and a frame, a batch, event-idx and indirect chains, a re-initialisation, and a
/// chain too small for its frame (the rx-small-chain-left-available row); transmit chains on transmitq1
/// (<see cref="Transmit"/>); and frames the input makes arrive (<see cref="InputFrames"/>).
/// </summary>
internal static class NetSeeds
{
    private const int Kick = 8;
    private const int Run = 9;
    private const int Reset = 10;

    public static IEnumerable<byte[]> All()
    {
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 64).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 64).AddChain(0, 1, 64).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3, eventIdx: true)
            .AddChain(0, 2, 40)
            .Op(Kick)
            .AddChain(0, 1, 32)
            .Op(Kick)
            .Op(Run)
            .Build();
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 64, indirect: true, table: 1).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3)
            .AddChain(0, 2, 64)
            .Op(Kick)
            .Op(Reset, flags: 1, index: 3)
            .AddChain(0, 1, 40)
            .Op(Kick)
            .Op(Run)
            .Build();
        // A frame of 60 bytes into a chain of 16: the model drops it (used.len 0), QEMU 7.2 leaves the chain.
        yield return new RingScenarioBuilder(3).AddChain(0, 1, 16).Op(Kick).Op(Run).Build();
        foreach (byte[] seed in Transmit())
            yield return seed;
        foreach (byte[] seed in InputFrames())
            yield return seed;
    }

    /// <summary>Frames the input itself makes arrive (op 13, <see cref="RingInput.OpInjectFrame"/>; the source link
    /// offers its own only at kicks): a 50-byte frame into a chain made available without a kick; a frame that finds
    /// no chain and waits for the chain and kick that follow; two waiting frames taken by a third frame's arrival once
    /// two chains are available (the third waits); a waiting frame and a second one both delivered by the second's
    /// arrival into two chains. The model targets take them too.</summary>
    public static IEnumerable<byte[]> InputFrames()
    {
        yield return new RingScenarioBuilder(3)
            .AddChain(0, 2, 64)
            .Op(InjectFrame, addr: 0x5A5A_5A5A_5A5A, lenKind: RawLength, len: 50, index: 1)
            .Op(Run)
            .Build();
        yield return new RingScenarioBuilder(3)
            .Op(InjectFrame, lenKind: RawLength, len: 30)
            .AddChain(0, 1, 64)
            .Op(Kick)
            .Op(Run)
            .Build();
        yield return new RingScenarioBuilder(3)
            .Op(InjectFrame, lenKind: RawLength, len: 20)
            .Op(InjectFrame, lenKind: RawLength, len: 40, index: 2)
            .AddChain(0, 1, 64)
            .AddChain(0, 1, 64)
            .Op(InjectFrame, lenKind: RawLength, len: 10, index: 3)
            .Op(Run)
            .Build();
        // One frame waits, two chains are made available, a second frame arrives: both frames are delivered at once
        // (QEMU qemu_flush_queued_packets), none waits for the next kick.
        yield return new RingScenarioBuilder(3)
            .Op(InjectFrame, lenKind: RawLength, len: 20)
            .AddChain(0, 1, 64)
            .AddChain(0, 1, 64)
            .Op(InjectFrame, lenKind: RawLength, len: 40, index: 2)
            .Op(Run)
            .Build();
    }

    private const int InjectFrame = RingInput.OpInjectFrame;

    /// <summary>Length kind 7: the op's length field taken as it is (<see cref="RingInput.Length"/>).</summary>
    private const byte RawLength = 7;

    /// <summary>Transmit chains on transmitq1 (op 15 selects queue 1; the guest's buffers are zeroed, so the header
    /// asks for no offload and the frame is zeros): header + 60-byte frame in two buffers, header and frame in one
    /// buffer, two frames in one kick, an indirect chain, a receive and a transmit kick in one input, the header and a
    /// 1-byte packet (the smallest sent), and the chains QEMU refuses: the header alone ("virtio-net nothing to
    /// send"), a header shorter than 12 bytes ("virtio-net header incorrect"), a writable buffer after the frame. The
    /// model targets take them too.</summary>
    public static IEnumerable<byte[]> Transmit()
    {
        yield return Tx().AddChain(2, 0, 36).Op(Kick).Op(Run).Build();
        yield return Tx().AddChain(1, 0, 64).Op(Kick).Op(Run).Build();
        yield return Tx().AddChain(2, 0, 40).AddChain(1, 0, 50).Op(Kick).Op(Run).Build();
        yield return Tx(eventIdx: true).AddChain(2, 0, 40, indirect: true, table: 2).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3)
            .AddChain(0, 2, 64)
            .Op(Kick)
            .Op(SelectQueue, index: 1)
            .AddChain(2, 0, 36)
            .Op(Kick)
            .Op(SelectQueue, index: 0)
            .AddChain(0, 1, 64)
            .Op(Kick)
            .Op(Run)
            .Build();
        yield return Tx().AddChain(1, 0, 12).Op(Kick).Op(Run).Build();
        // The header and a 1-byte packet: the smallest chain QEMU virtio_net_flush_tx sends.
        yield return Tx().AddChain(1, 0, NetSpec.HeaderBytes + 1).Op(Kick).Op(Run).Build();
        yield return Tx().AddChain(1, 0, 8).Op(Kick).Op(Run).Build();
        yield return Tx().AddChain(1, 1, 40).Op(Kick).Op(Run).Build();
    }

    private const int SelectQueue = RingInput.OpSelectQueue;

    /// <summary>The largest frame the model sends (robust model target only): a transmitq1 chain of two readable
    /// descriptors of 0x8006 bytes each (raw addresses 0 and 0x100 and raw lengths: the buffers overlap, which a
    /// driver may do), so 12 header bytes and exactly
    /// <see cref="Sim.Devices.Virtio.Net.VirtioNetDevice.FrameBytesMax"/>
    /// frame bytes; the model sends it whole (one byte more and it is dropped). A random input's buffers are at most a
    /// few KiB, so nothing else reaches the frame buffer's last byte.</summary>
    public static byte[] TransmitLargestFrame()
    {
        const byte Raw = 7;
        const uint Half = (NetSpec.HeaderBytes + Sim.Devices.Virtio.Net.VirtioNetDevice.FrameBytesMax) / 2;
        return new RingScenarioBuilder(3)
            .Op(SelectQueue, index: NetSpec.TransmitQueue)
            .Desc(0, Raw, 0, Raw, Half, 1, 1)
            .Desc(1, Raw, 0x100, Raw, Half, 0, 0)
            .Publish(0)
            .Op(Kick)
            .Op(Run)
            .Build();
    }

    /// <summary>A full transmitq1 of 256 chains and one kick (robust model target only): one chain of the header and a
    /// 1-byte packet (head 0 at avail[0]), then avail.idx set to 256 (raw), so every other entry of the zeroed ring
    /// names head 0 too. The model must send all 256 at that kick (QEMU virtio_net_flush_tx and its bh run until the
    /// queue is empty, with no new kick), which <c>liveness/queue1-kicked-chain-not-consumed</c> judges before the
    /// liveness oracle's own kick; a random input rarely makes more than 128 chains available (at most 128
    /// ops).</summary>
    public static byte[] TransmitFullRingOneKick() =>
        new RingScenarioBuilder(8)
            .Op(SelectQueue, index: NetSpec.TransmitQueue)
            .AddChain(1, 0, NetSpec.HeaderBytes + 1)
            .Op(RingInput.OpSetAvailIdx, flags: 1, next: 256)
            .Op(Kick)
            .Op(Run)
            .Build();

    private static RingScenarioBuilder Tx(bool eventIdx = false) =>
        new RingScenarioBuilder(3, eventIdx).Op(SelectQueue, index: NetSpec.TransmitQueue);
}
