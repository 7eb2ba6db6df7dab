using System.Buffers.Binary;
using Sim.Devices.Tests.Drivers;
using Sim.Devices.Virtio.Net;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Net;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Net;

public sealed class VirtioNetDeviceTests
{
    private const int Rx = NetSpec.ReceiveQueue;
    private const int Tx = NetSpec.TransmitQueue;
    private static readonly GuestAddress Header = VirtioDeviceRig.Buf(0);
    private static readonly GuestAddress Frame = VirtioDeviceRig.Buf(0x100);
    private static readonly GuestAddress RxBuf = VirtioDeviceRig.Buf(0x1000);

    private static (VirtioDeviceRig Rig, VirtioNetDevice Dev) Make(Flavour flavour, NetBackendMode mode)
    {
        var dev = new VirtioNetDevice(new NetBackend(mode) { KeepTransmitted = true }, flavour);
        var rig = new VirtioDeviceRig(dev);
        rig.Init(features: 1UL << NetSpec.FMac, queues: 2);
        return (rig, dev);
    }

    private static byte[] Pattern(int length, int start)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++)
            b[i] = (byte)(start + i);
        return b;
    }

    private static void Send(VirtioDeviceRig rig, byte[] frame, uint headerLen = NetSpec.HeaderBytes)
    {
        rig.Fill(Frame, frame);
        rig.PostAndKick(Tx, [new(Header, headerLen), new(Frame, (uint)frame.Length)], []);
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Spec_5_1_6_2_Transmit_SendsTheBytesAfterTheHeader_UsedLenZero(Flavour flavour)
    {
        var (rig, dev) = Make(flavour, NetBackendMode.Sink);
        byte[] frame = Pattern(60, 7);
        Send(rig, frame);
        Assert.Equal(frame, Assert.Single(dev.Backend.Transmitted));
        Assert.True(rig.Queues[Tx].TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal(0u, len); // QEMU virtio_net_flush_tx: virtqueue_push(q->tx_vq, elem, 0)
        Assert.False(dev.IsBroken);
    }

    [Fact]
    public void Transmit_HeaderSplitAcrossBuffers_FrameStillStartsAfterTwelveBytes()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Sink);
        byte[] frame = Pattern(40, 1);
        rig.Fill(Frame, [.. new byte[7], .. frame]);
        // VIRTIO 1.2 §2.6.4: no layout assumption; 5 header bytes, then 7 more header bytes followed by the frame.
        rig.PostAndKick(Tx, [new(Header, 5), new(Frame, 7 + (uint)frame.Length)], []);
        Assert.Equal(frame, Assert.Single(dev.Backend.Transmitted));
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Transmit_ChainWithoutReadableBuffers_NeedsReset(Flavour flavour)
    {
        var (rig, dev) = Make(flavour, NetBackendMode.Sink);
        rig.PostAndKick(Tx, [], [new(Frame, 64)]);
        Assert.True(dev.IsBroken);
        Assert.Equal("virtio-net header not in first element", dev.BrokenReason);
        Assert.True((dev.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.False(rig.Queues[Tx].TryGetUsed(rig.Memory, out _, out _)); // detached, never completed
    }

    [Fact]
    public void Transmit_HeaderOnly_RobustNeedsReset_SeedSendsAnEmptyFrame()
    {
        var (robust, rdev) = Make(Flavour.Robust, NetBackendMode.Sink);
        robust.PostAndKick(Tx, [new(Header, NetSpec.HeaderBytes)], []);
        Assert.Equal("virtio-net nothing to send", rdev.BrokenReason);
        Assert.Equal(0, rdev.Backend.FramesSent);

        var (seed, sdev) = Make(Flavour.Seed, NetBackendMode.Sink);
        seed.PostAndKick(Tx, [new(Header, 8)], []);
        Assert.False(sdev.IsBroken);
        Assert.Empty(Assert.Single(sdev.Backend.Transmitted));
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Spec_5_1_6_4_Receive_ZeroHeaderWithNumBuffersOne_ThenTheFrame(Flavour flavour)
    {
        var (rig, dev) = Make(flavour, NetBackendMode.Sink);
        rig.Fill(RxBuf, Enumerable.Repeat((byte)0xAA, 200).ToArray());
        ushort head = rig.PostAndKick(Rx, [], [new(RxBuf, 200)]);
        byte[] frame = Pattern(60, 3);
        Assert.True(dev.Backend.TryInject(frame));
        dev.DeliverPending();
        Assert.True(rig.Queues[Rx].TryGetUsed(rig.Memory, out ushort used, out uint len));
        Assert.Equal(head, used);
        Assert.Equal((uint)(NetSpec.HeaderBytes + frame.Length), len);
        byte[] got = rig.ReadBytes(RxBuf, 200);
        Assert.Equal(new byte[10], got[..10]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(NetSpec.HeaderNumBuffersOffset)));
        Assert.Equal(frame, got[NetSpec.HeaderBytes..(NetSpec.HeaderBytes + frame.Length)]);
        Assert.Equal(0xAA, got[NetSpec.HeaderBytes + frame.Length]); // nothing written past the frame
        Assert.Equal(1, dev.FramesReceived);
    }

    [Fact]
    public void Receive_WithoutBuffer_FrameWaitsUntilTheDriverKicksReceiveq()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Sink);
        Assert.True(dev.Backend.TryInject(Pattern(20, 0)));
        dev.DeliverPending();
        Assert.Equal(1, dev.Backend.PendingCount);
        rig.PostAndKick(Rx, [], [new(RxBuf, 100)]);
        Assert.Equal(0, dev.Backend.PendingCount);
        Assert.True(rig.Queues[Rx].TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal(32u, len);
    }

    [Fact]
    public void Receive_BufferTooSmall_RobustDropsTheFrameAndCompletesTheChainEmpty_SeedOverstatesUsedLen()
    {
        var (robust, rdev) = Make(Flavour.Robust, NetBackendMode.Sink);
        robust.Fill(RxBuf, Enumerable.Repeat((byte)0xAA, 40).ToArray());
        ushort head = robust.PostAndKick(Rx, [], [new(RxBuf, 40)]);
        rdev.Backend.TryInject(Pattern(60, 0));
        rdev.Backend.TryInject(Pattern(20, 0));
        rdev.DeliverPending();
        // The 72-byte packet does not fit: dropped, the chain returned with used.len 0 and nothing written; the
        // 32-byte one waits for the next chain.
        Assert.Equal(1, rdev.ReceiveDropped);
        Assert.True(robust.Queues[Rx].TryGetUsed(robust.Memory, out ushort used, out uint len));
        Assert.Equal((head, 0u), (used, len));
        Assert.Equal(Enumerable.Repeat((byte)0xAA, 40), robust.ReadBytes(RxBuf, 40));
        Assert.Equal(1, rdev.Backend.PendingCount);
        Assert.False(rdev.IsBroken);

        var (seed, sdev) = Make(Flavour.Seed, NetBackendMode.Sink);
        seed.PostAndKick(Rx, [], [new(RxBuf, 40)]);
        sdev.Backend.TryInject(Pattern(60, 0));
        sdev.DeliverPending();
        Assert.True(seed.Queues[Rx].TryGetUsed(seed.Memory, out _, out uint seedLen));
        Assert.Equal(72u, seedLen); // more than the 40 bytes it could write (VIRTIO 1.2 §2.7.8.2)
    }

    [Fact]
    public void Receive_ChainWithoutWritableBuffers_NeedsReset()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Sink);
        rig.PostAndKick(Rx, [new(RxBuf, 100)], []);
        dev.Backend.TryInject(Pattern(20, 0));
        dev.DeliverPending();
        Assert.Equal("virtio-net receive queue contains no in buffers", dev.BrokenReason);
    }

    [Fact]
    public void Echo_SentFrameComesBackIntoAReceiveBuffer()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Echo);
        rig.PostAndKick(Rx, [], [new(RxBuf, 200)]);
        byte[] frame = Pattern(64, 9);
        Send(rig, frame);
        Assert.True(rig.Queues[Rx].TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal(76u, len);
        Assert.Equal(frame, rig.ReadBytes(new GuestAddress(RxBuf.Value + NetSpec.HeaderBytes), frame.Length));
    }

    [Fact]
    public void Backend_BoundsTheFramesWaiting()
    {
        var backend = new NetBackend(NetBackendMode.Sink);
        for (int i = 0; i < NetBackend.PendingFramesMax; i++)
            Assert.True(backend.TryInject([1]));
        Assert.False(backend.TryInject([1]));
        Assert.Equal(1, backend.FramesDropped);
    }

    [Fact]
    public void Spec_5_1_4_ConfigHoldsTheMac_AndResetForgetsWaitingFrames()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Sink);
        byte[] mac = new byte[NetSpec.MacBytes];
        rig.Sim.Kvm.Mmio.Read(VirtioDeviceRig.ModernBase + VirtioPciLayout.ModernDeviceOffset, mac);
        Assert.Equal(VirtioNetDevice.DefaultMac.ToArray(), mac);
        dev.Backend.TryInject([1, 2, 3]);
        rig.Common(VirtioPciLayout.CommonDeviceStatus, 1, 0);
        Assert.Equal(0, dev.Backend.PendingCount);
    }

    [Fact]
    public void Source_EveryReceiveChainGetsTheNextFrameOfTheCycle()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Source);
        for (int i = 0; i < 3; i++)
        {
            rig.Queues[Rx].TryAdd(rig.Memory, [], [new(VirtioDeviceRig.Buf(0x2000 * (ulong)(i + 1)), 2000)], out _);
        }
        rig.Queues[Rx].Publish(rig.Memory);
        rig.Kick(Rx);
        uint[] lens = new uint[3];
        for (int i = 0; i < 3; i++)
            Assert.True(rig.Queues[Rx].TryGetUsed(rig.Memory, out _, out lens[i]));
        Assert.Equal(NetBackend.SourceFrameLengths.Take(3).Select(l => (uint)(l + NetSpec.HeaderBytes)), lens);
        Assert.Equal(3, dev.FramesReceived);
    }

    [Fact]
    public void InjectFrame_SourceLink_DeliversOnlyTheInjectedFrame_IntoAChainMadeAvailableWithoutAKick()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Source);
        for (int i = 0; i < 2; i++)
            rig.Queues[Rx].TryAdd(rig.Memory, [], [new(VirtioDeviceRig.Buf(0x2000 * (ulong)(i + 1)), 2000)], out _);
        rig.Queues[Rx].Publish(rig.Memory); // no kick: the frame's arrival, not the driver, makes the device look
        byte[] frame = Pattern(50, 3);
        Assert.True(dev.InjectFrame(frame));
        Assert.True(rig.Queues[Rx].TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal((uint)(NetSpec.HeaderBytes + frame.Length), len);
        Assert.Equal(frame, rig.ReadBytes(VirtioDeviceRig.Buf(0x2000 + NetSpec.HeaderBytes), frame.Length));
        // The source link offers its own frames only at kicks: the second chain stays available.
        Assert.False(rig.Queues[Rx].TryGetUsed(rig.Memory, out _, out _));
        Assert.Equal(1, dev.FramesReceived);
    }

    [Fact]
    public void InjectFrame_WithoutBuffer_WaitsAndIsDeliveredFirstAtTheNextReceiveKick()
    {
        var (rig, dev) = Make(Flavour.Robust, NetBackendMode.Source);
        byte[] frame = Pattern(30, 9);
        Assert.True(dev.InjectFrame(frame));
        Assert.Equal(1, dev.Backend.PendingCount);
        rig.PostAndKick(Rx, [], [new(RxBuf, 100)]);
        Assert.True(rig.Queues[Rx].TryGetUsed(rig.Memory, out _, out uint len));
        Assert.Equal((uint)(NetSpec.HeaderBytes + frame.Length), len);
        Assert.Equal(frame, rig.ReadBytes(new GuestAddress(RxBuf.Value + NetSpec.HeaderBytes), frame.Length));
    }
}
