using System.Buffers.Binary;
using Sim.Devices.Tests.Drivers;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Sim.Devices.Tests.VirtioDemo;

public sealed class VirtioDemoDeviceTests
{
    private static readonly GuestAddress Req = VirtioDeviceRig.Buf(0);
    private static readonly GuestAddress Resp = VirtioDeviceRig.Buf(0x100);

    private static (VirtioDeviceRig Rig, VirtioDemoDevice Dev) Make(Flavour flavour)
    {
        var dev = new VirtioDemoDevice(flavour);
        var rig = new VirtioDeviceRig(dev);
        rig.Init();
        return (rig, dev);
    }

    private static (ushort Head, uint Len, uint Opt, uint Buff) Request(VirtioDeviceRig rig, uint opt, uint buff)
    {
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(opt, buff));
        rig.Fill(Resp, new byte[8]);
        ushort head = rig.PostAndKick([new GuestBuffer(Req, 8)], [new GuestBuffer(Resp, 8)]);
        Assert.True(rig.TryUsed(out ushort used, out uint len));
        Assert.Equal(head, used);
        byte[] r = rig.ReadBytes(Resp, 8);
        return (
            head,
            len,
            BinaryPrimitives.ReadUInt32LittleEndian(r),
            BinaryPrimitives.ReadUInt32LittleEndian(r.AsSpan(4))
        );
    }

    [Fact]
    public void Spec_4_1_4_3_1_Robust_AStoreThatChangesTheConfig_AdvancesTheGeneration()
    {
        var (rig, dev) = Make(Flavour.Robust);
        byte generation = dev.ConfigGeneration;
        Request(rig, 0, 0);
        Assert.Equal(generation, dev.ConfigGeneration);
        Request(rig, 1, 0x2333); // the configuration mirrors buff
        Assert.NotEqual(generation, dev.ConfigGeneration);
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void WriteThenRead_ReturnsStoredValue_Len8(Flavour flavour)
    {
        var (rig, dev) = Make(flavour);
        Assert.Equal(VirtioDemoDevice.InitialBuff, dev.Buff);
        var read0 = Request(rig, 0, 0);
        Assert.Equal((8u, 0u, 0x1333u), (read0.Len, read0.Opt, read0.Buff));
        var write = Request(rig, 1, 0x2333);
        Assert.Equal((8u, 1u, 0x2333u), (write.Len, write.Opt, write.Buff));
        Assert.Equal(0x2333u, dev.Buff);
        var read = Request(rig, 0, 0);
        Assert.Equal((8u, 0u, 0x2333u), (read.Len, read.Opt, read.Buff));
        Assert.Equal(3, dev.Requests);
        Assert.False(dev.IsBroken);
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void UnknownOpt_EchoesRequest_StateUnchanged(Flavour flavour)
    {
        var (rig, dev) = Make(flavour);
        var r = Request(rig, 7, 0xBEEF);
        Assert.Equal((8u, 7u, 0xBEEFu), (r.Len, r.Opt, r.Buff));
        Assert.Equal(VirtioDemoDevice.InitialBuff, dev.Buff);
        Assert.Equal(1, dev.UnknownOpts);
        if (flavour == Flavour.Seed)
            Assert.Contains("opt: error!", dev.Log.Lines);
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void SplitBuffers_AcrossDescriptors_ProcessedAsOne(Flavour flavour)
    {
        var (rig, dev) = Make(flavour);
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0xABCD1234));
        rig.Fill(Resp, new byte[8]);
        var a = new GuestAddress(Req.Value);
        rig.PostAndKick(
            [
                new GuestBuffer(a, 3),
                new GuestBuffer(new GuestAddress(a.Value + 3), 2),
                new GuestBuffer(new GuestAddress(a.Value + 5), 3),
            ],
            [new GuestBuffer(Resp, 4), new GuestBuffer(new GuestAddress(Resp.Value + 4), 4)]
        );
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(8u, len);
        Assert.Equal(VirtioDeviceRig.Le32Pair(1, 0xABCD1234), rig.ReadBytes(Resp, 8));
        Assert.Equal(0xABCD1234u, dev.Buff);
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void LongBuffers_OnlyFirst8BytesUsed(Flavour flavour)
    {
        var (rig, dev) = Make(flavour);
        var big = new byte[64];
        VirtioDeviceRig.Le32Pair(1, 0x4444).CopyTo(big, 0);
        big.AsSpan(8).Fill(0x77);
        rig.Fill(Req, big);
        var resp = new byte[64];
        Array.Fill(resp, (byte)0xAA);
        rig.Fill(Resp, resp);
        rig.PostAndKick([new GuestBuffer(Req, 64)], [new GuestBuffer(Resp, 64)]);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(8u, len);
        byte[] got = rig.ReadBytes(Resp, 64);
        Assert.Equal(VirtioDeviceRig.Le32Pair(1, 0x4444), got[..8]);
        Assert.All(got[8..], b => Assert.Equal(0xAA, b));
        Assert.Equal(0x4444u, dev.Buff);
    }

    [Fact]
    public void Robust_ShortOut_CompletesWithLen0_NoWrite_StateUnchanged()
    {
        var (rig, dev) = Make(Flavour.Robust);
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0x9999));
        rig.Fill(Resp, [0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA]);
        rig.PostAndKick([new GuestBuffer(Req, 4)], [new GuestBuffer(Resp, 8)]);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(0u, len);
        Assert.All(rig.ReadBytes(Resp, 8), b => Assert.Equal(0xAA, b));
        Assert.Equal(VirtioDemoDevice.InitialBuff, dev.Buff);
        Assert.Equal(1, dev.ShortRequests);
    }

    [Fact]
    public void Robust_ShortIn_CompletesWithLen0_StateUnchanged()
    {
        var (rig, dev) = Make(Flavour.Robust);
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0x9999));
        rig.Fill(Resp, [0xAA, 0xAA, 0xAA, 0xAA]);
        rig.PostAndKick([new GuestBuffer(Req, 8)], [new GuestBuffer(Resp, 4)]);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(0u, len);
        Assert.All(rig.ReadBytes(Resp, 4), b => Assert.Equal(0xAA, b));
        Assert.Equal(VirtioDemoDevice.InitialBuff, dev.Buff);
    }

    [Fact]
    public void Seed_ShortOut_SkipsProcessing_ButPushesLen8()
    {
        var (rig, dev) = Make(Flavour.Seed);
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0x9999));
        rig.Fill(Resp, [0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA]);
        rig.PostAndKick([new GuestBuffer(Req, 4)], [new GuestBuffer(Resp, 8)]);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(8u, len); // used.len claims 8 bytes although none were written
        Assert.All(rig.ReadBytes(Resp, 8), b => Assert.Equal(0xAA, b));
        Assert.Equal(VirtioDemoDevice.InitialBuff, dev.Buff);
        Assert.Equal(1, dev.ShortRequests);
    }

    [Fact]
    public void Seed_ShortIn_PartialWrite_StillLen8_StateChanged()
    {
        var (rig, dev) = Make(Flavour.Seed);
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0x5555));
        rig.Fill(Resp, [0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA]);
        rig.PostAndKick([new GuestBuffer(Req, 8)], [new GuestBuffer(Resp, 4)]);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(8u, len);
        Assert.Equal(new byte[] { 1, 0, 0, 0, 0xAA, 0xAA, 0xAA, 0xAA }, rig.ReadBytes(Resp, 8));
        Assert.Equal(0x5555u, dev.Buff);
        Assert.Contains("iov_from_buf ret = 4", dev.Log.Lines);
    }

    [Fact]
    public void Seed_NoInBuffer_ProcessesAndPushesLen8()
    {
        var (rig, dev) = Make(Flavour.Seed);
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0x6666));
        rig.PostAndKick([new GuestBuffer(Req, 8)], []);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(8u, len);
        Assert.Equal(0x6666u, dev.Buff);
        Assert.Contains("iov_from_buf ret = 0", dev.Log.Lines);
    }

    [Fact]
    public void Seed_LogsLikeTheSeedPrintf()
    {
        var (rig, dev) = Make(Flavour.Seed);
        Request(rig, 1, 0x2333);
        Assert.Equal(
            [
                "recv opt: 1",
                "recv buff: 2333",
                "opt: write from guest",
                "iov_from_buf ret = 8",
                "buff: 2333",
                "exit virtio_demo_handle()",
            ],
            dev.Log.Lines
        );
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void BadRing_HeadOutOfRange_BreaksDevice(Flavour flavour)
    {
        var (rig, dev) = Make(flavour);
        // avail.ring[0] = 99 (>= queue size 16), avail.idx = 1.
        Assert.True(rig.Memory.TryWriteUInt16(rig.Queue.Layout.AvailEntry(0), 99));
        Assert.True(rig.Memory.TryWriteUInt16(rig.Queue.Layout.AvailIdx, 1));
        rig.Kick();
        Assert.True(dev.IsBroken);
        Assert.Equal(nameof(QueueError.HeadOutOfRange), dev.BrokenReason);
        Assert.True((dev.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.Equal(0, dev.Requests);
    }

    [Fact]
    public void BrokenDevice_IgnoresLaterKicks()
    {
        var (rig, dev) = Make(Flavour.Robust);
        dev.SetBroken("test");
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0x2));
        rig.PostAndKick([new GuestBuffer(Req, 8)], [new GuestBuffer(Resp, 8)]);
        Assert.False(rig.TryUsed(out _, out _));
        Assert.Equal(VirtioDemoDevice.InitialBuff, dev.Buff);
    }

    [Theory]
    [InlineData(Flavour.Robust, VirtioDemoDevice.InitialBuff)]
    [InlineData(Flavour.Seed, 0x7777u)]
    public void ResetMidRequest_DropsQueuedRequest_StateFollowsFlavour(Flavour flavour, uint buffAfterReset)
    {
        var dev = new VirtioDemoDevice(flavour);
        var rig = new VirtioDeviceRig(dev, ioEventFd: true);
        rig.Init();
        rig.Sim.Run(); // DRIVER_OK's initial host-notifier kick
        rig.Fill(Req, VirtioDeviceRig.Le32Pair(1, 0x7777));
        rig.PostAndKick([new GuestBuffer(Req, 8)], [new GuestBuffer(Resp, 8)]);
        rig.Sim.Run();
        Assert.Equal(0x7777u, dev.Buff);
        // A second request is published but the driver resets before kicking. (A kicked request would be run
        // by the reset itself: QEMU's stop_ioeventfd drains the host notifier first.)
        rig.Fill(VirtioDeviceRig.Buf(0x200), VirtioDeviceRig.Le32Pair(1, 0x8888));
        Assert.True(
            rig.Queue.TryAdd(
                rig.Memory,
                [new GuestBuffer(VirtioDeviceRig.Buf(0x200), 8)],
                [new GuestBuffer(Resp, 8)],
                out _
            )
        );
        rig.Queue.Publish(rig.Memory);
        rig.Common(L.CommonDeviceStatus, 1, 0);
        rig.Sim.Run();
        rig.Init();
        rig.Sim.Run(); // the new DRIVER_OK kick finds the re-initialised (empty) ring
        Assert.Equal(buffAfterReset, dev.Buff);
        Assert.Equal(0, dev.GetQueue(0).InUse);
        Assert.False(rig.TryUsed(out _, out _));
        Assert.Equal(1, dev.Requests);
    }
}
