using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Virtio.Net;
using Sim.Engine.Memory;
using Sim.Spec.Net;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// receiveq1 of the robust net model (<see cref="NetReceiveOracle"/>, <see cref="NetLogJudge"/>): each completed
/// receive chain holds the 12-byte virtio_net_hdr (all zero, num_buffers 1: VIRTIO 1.2 §5.1.6.4.1) and the frame
/// the link delivered, used.len 12 + frame bytes; a chain too small completes with used.len 0 (QEMU
/// virtio_net_receive_rcu, VIRTIO 1.2 §5.1.6.3.1); the frame is one the link documents; each is logged. The robust
/// model passes every net seed; hand-built completions that break one rule fire its site.
/// </summary>
public sealed class NetReceiveOracleTests(ITestOutputHelper output)
{
    private const ulong Buffer = 0x100;

    [Fact]
    public void RobustNetModel_EveryNetSeed_NoFinding()
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create("virtio-net-qemu-robust")!;
        int n = 0;
        foreach (byte[] seed in target.SeedCorpus().Concat(NetSeeds.All()))
        {
            var context = new FuzzContext();
            target.Execute(seed, context);
            Assert.True(context.Finding is null, $"{Convert.ToHexString(seed)}: {context.Finding}");
            n++;
        }
        output.WriteLine($"{n} seeds clean");
    }

    /// <summary>One completion of a receive chain whose single writable buffer at <see cref="Buffer"/> holds
    /// <paramref name="room"/> bytes, after the source link's first frame (60 bytes) was taken.</summary>
    private static FuzzContext Complete(int room, uint usedLen, Action<Span<byte>>? write = null, string? line = null)
    {
        var memory = GuestMemory.CreateFlat(0x4000);
        var link = new NetBackend(NetBackendMode.Source);
        var log = new DeviceLog();
        var context = new FuzzContext();
        var judge = new NetLogJudge();
        judge.Begin(log, context);
        var oracle = new NetReceiveOracle();
        oracle.Begin(link, judge, memory, context);
        Assert.True(link.TryPeek(out byte[] frame));
        link.Dequeue(); // the device takes the frame: the oracle's record of it
        Assert.True(memory.TryGetSpan(new GuestAddress(Buffer), (ulong)room, out Span<byte> buffer));
        if (room >= NetSpec.HeaderBytes + frame.Length)
        {
            // What a correct device writes: the header with num_buffers 1, then the frame.
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[NetSpec.HeaderNumBuffersOffset..], 1);
            frame.CopyTo(buffer[NetSpec.HeaderBytes..]);
        }
        write?.Invoke(buffer);
        log.Add(line ?? $"rx: {frame.Length} bytes into head 0, used.len {NetSpec.HeaderBytes + frame.Length}");
        var writable = new RangeList();
        writable.Add(new GuestRange(Buffer, (ulong)room));
        oracle.OnCompleted(0, usedLen, new RangeList(), writable, plain: true);
        return context;
    }

    [Fact]
    public void Spec_5_1_6_4_HeaderAndFrame_UsedLen72_NoFinding() => Assert.Null(Complete(128, 72).Finding);

    [Fact]
    public void Spec_5_1_6_4_1_NumBuffersNotOne_FiresRxHeader()
    {
        FuzzContext context = Complete(128, 72, b => b[NetSpec.HeaderNumBuffersOffset] = 0);
        Assert.Equal("response/net-rx-header", context.Finding?.Site);
    }

    [Fact]
    public void Spec_2_7_8_2_UsedLenOtherThanHeaderPlusFrame_FiresRxUsedLen() =>
        Assert.Equal("response/net-rx-used-len", Complete(128, 128).Finding?.Site);

    [Fact]
    public void Spec_5_1_6_4_FrameBytesDiffer_FiresRxFrame() =>
        Assert.Equal("response/net-rx-frame", Complete(128, 72, b => b[NetSpec.HeaderBytes + 20] ^= 1).Finding?.Site);

    [Fact]
    public void Spec_5_1_6_3_1_ChainTooSmall_MustCompleteWithUsedLen0()
    {
        Assert.Null(Complete(40, 0, line: "rx: frame of 60 bytes dropped: head 0 holds 40").Finding);
        Assert.Equal("response/net-rx-used-len", Complete(40, 40).Finding?.Site);
    }

    [Fact]
    public void ReceivedFrameWithoutItsLogLine_FiresNetLog() =>
        Assert.Equal(
            "response/net-log",
            Complete(128, 72, line: "rx: 60 bytes into head 1, used.len 72").Finding?.Site
        );

    /// <summary>The oracle's own description of the source link's frames accepts each frame the link offers, and
    /// nothing else of those lengths.</summary>
    [Fact]
    public void SourceFrames_MatchTheLinksDocumentation()
    {
        var link = new NetBackend(NetBackendMode.Source);
        foreach (int length in NetBackend.SourceFrameLengths)
        {
            Assert.True(link.TryPeek(out byte[] frame));
            link.Dequeue();
            Assert.Equal(length, frame.Length);
            Assert.True(NetReceiveOracle.IsSourceFrame(frame), $"the {length}-byte source frame");
            byte[] changed = [.. frame]; // the link's frames are shared: change a copy
            changed[0] = 0;
            Assert.False(NetReceiveOracle.IsSourceFrame(changed));
        }
    }

    /// <summary>A frame neither injected by the input nor one of the source link's is reported.</summary>
    [Fact]
    public void UnknownFrame_FiresRxLinkFrame()
    {
        var memory = GuestMemory.CreateFlat(0x1000);
        var link = new NetBackend(NetBackendMode.Sink);
        var context = new FuzzContext();
        var judge = new NetLogJudge();
        judge.Begin(null, context);
        var oracle = new NetReceiveOracle();
        oracle.Begin(link, judge, memory, context);
        byte[] injected = new byte[30];
        oracle.Injected(injected);
        link.TryInject(injected);
        link.TryInject(new byte[31]);
        link.Dequeue();
        var writable = new RangeList();
        writable.Add(new GuestRange(Buffer, 16));
        oracle.OnCompleted(0, 0, new RangeList(), writable, plain: true);
        Assert.Null(context.Finding);
        link.Dequeue();
        oracle.OnCompleted(1, 0, new RangeList(), writable, plain: true);
        Assert.Equal("response/net-rx-link-frame", context.Finding?.Site);
    }

    /// <summary>QEMU virtio_net_flush_tx sends a chain with one byte of packet after the 12-byte header: the robust
    /// model sends it (the seed runs clean and its frame is judged); the device that refused it would be reported
    /// as <c>response/net-tx-refused</c> (mutant 12 → 13 in FlushTransmit).</summary>
    [Fact]
    public void HeaderPlusOneByte_IsSent_NotRefused()
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create("virtio-net-qemu-robust")!;
        byte[] seed = NetSeeds.Transmit().ElementAt(6);
        var context = new FuzzContext();
        long before = target.TransmitJudged;
        target.Execute(seed, context);
        Assert.Null(context.Finding);
        Assert.Equal(before + 1, target.TransmitJudged);
    }
}
