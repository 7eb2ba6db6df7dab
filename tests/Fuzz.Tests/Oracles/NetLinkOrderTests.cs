using Sim.Devices;
using Sim.Devices.Virtio.Net;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary><c>response/net-rx-link-order</c> (<see cref="NetReceiveOracle"/>): the source link offers its frames in
/// turn and the device takes the link's frames first in, first out (QEMU qemu_flush_queued_packets), so the source
/// frames taken come in the cycle's order (issue 12 net sample: the link's cursor stepping by 2 survived 60 s, since
/// the oracle accepted any documented frame).</summary>
public sealed class NetLinkOrderTests
{
    /// <summary>A frame shaped like the source link's frame of <paramref name="length"/> bytes (broadcast, ethertype
    /// 0x88b5 at 12..13, every other byte its offset), as NetBackend's documentation describes it.</summary>
    private static byte[] SourceShaped(int length)
    {
        var frame = new byte[length];
        for (int i = 0; i < length; i++)
            frame[i] = (byte)(
                i < 6 ? 0xFF
                : i == 12 ? 0x88
                : i == 13 ? 0xB5
                : i & 0xFF
            );
        return frame;
    }

    private static void Take(NetBackend link)
    {
        Assert.True(link.TryPeek(out _));
        link.Dequeue(); // the device takes the frame: the oracle's record of it
    }

    [Fact]
    public void QemuFlushQueuedPackets_SourceFramesInTurn_NoFinding_ASkippedOne_FiresLinkOrder()
    {
        var link = new NetBackend(NetBackendMode.Source);
        var device = new VirtioNetDevice(link, Flavour.Robust);
        var context = new FuzzContext();
        var judge = new NetLogJudge();
        judge.Begin(new DeviceLog(), context);
        var oracle = new NetReceiveOracle();
        oracle.Begin(link, judge, GuestMemory.CreateFlat(0x1000), context);
        var checker = new VirtqueueChecker(8);
        Take(link); // 60 bytes
        Take(link); // 14 bytes
        oracle.AfterDeviceOp(device, checker, checker);
        Assert.Null(context.Finding);
        // A link that skipped its third frame (1514 bytes) offers the fourth (42) now: pending, so taken first.
        Assert.True(link.TryInject(SourceShaped(NetBackend.SourceFrameLengths[3])));
        Take(link);
        oracle.AfterDeviceOp(device, checker, checker);
        Assert.Equal("response/net-rx-link-order", context.Finding?.Site);
    }

    /// <summary>The same source-shaped frame, when the input injected it (op 13), is the input's and not judged
    /// against the cycle.</summary>
    [Fact]
    public void InjectedSourceShapedFrame_IsTheInputs_NotJudgedAgainstTheCycle()
    {
        var link = new NetBackend(NetBackendMode.Source);
        var device = new VirtioNetDevice(link, Flavour.Robust);
        var context = new FuzzContext();
        var judge = new NetLogJudge();
        judge.Begin(new DeviceLog(), context);
        var oracle = new NetReceiveOracle();
        oracle.Begin(link, judge, GuestMemory.CreateFlat(0x1000), context);
        byte[] frame = SourceShaped(NetBackend.SourceFrameLengths[3]);
        oracle.Injected(frame);
        Assert.True(link.TryInject(frame));
        Take(link);
        Take(link); // then the source link's first frame (60 bytes)
        oracle.AfterDeviceOp(device, new VirtqueueChecker(8), new VirtqueueChecker(8));
        Assert.Null(context.Finding);
    }

    /// <summary>QEMU virtio_net_flush_tx: a frame of exactly the model's largest size (VirtioNetDevice.FrameBytesMax,
    /// header + 65,536 bytes in two overlapping buffers) is sent, not dropped, and the execution is clean.</summary>
    [Fact]
    public void QemuVirtioNetFlushTx_LargestFrame_IsSentWhole()
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create("virtio-net-qemu-robust")!;
        var context = new FuzzContext();
        target.Execute(Virtsim.Fuzz.Qemu.NetSeeds.TransmitLargestFrame(), context);
        Assert.Null(context.Finding);
    }
}
