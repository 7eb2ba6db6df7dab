using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>The robust net model's largest frame (issue 12 net sample: <c>Send</c>'s frame span starting at 1 survived
/// 60 s, since no input held a chain of header + <c>FrameBytesMax</c> bytes).</summary>
public sealed class NetLargestFrameTests
{
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
