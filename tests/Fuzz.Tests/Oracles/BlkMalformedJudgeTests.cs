using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Oracles;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>The robust blk's malformed-request rules (<see cref="BlkMalformedJudge"/>), as QEMU
/// virtio_blk_handle_request applies them: a device that breaks on a request outside them is reported.</summary>
public sealed class BlkMalformedJudgeTests
{
    private static Iovec V(uint len) => new(new GuestAddress(0x1000), len);

    /// <summary>QEMU virtio_blk_handle_request: "missing headers" (out_num &lt; 1 || in_num &lt; 1), then
    /// "outhdr too short" (iov_to_buf of 16 bytes), then "inhdr too short" (the last in iovec shorter than the
    /// status byte); a one-readable, one-writable chain of 16 and 1 bytes is well-formed (a FLUSH or a zero-length
    /// read), and the header may be split across iovecs.</summary>
    [Fact]
    public void QemuVirtioBlkHandleRequest_MalformedRules_InItsOrder()
    {
        Assert.Equal("virtio-blk missing headers", BlkMalformedJudge.Verdict([], [V(1)]));
        Assert.Equal("virtio-blk missing headers", BlkMalformedJudge.Verdict([V(16)], []));
        Assert.Equal("virtio-blk request outhdr too short", BlkMalformedJudge.Verdict([V(8), V(7)], [V(0)]));
        Assert.Equal("virtio-blk request inhdr too short", BlkMalformedJudge.Verdict([V(16)], [V(512), V(0)]));
        Assert.Null(BlkMalformedJudge.Verdict([V(16)], [V(1)]));
        Assert.Null(BlkMalformedJudge.Verdict([V(8), V(8)], [V(0), V(1)]));
        Assert.Null(BlkMalformedJudge.Verdict([V(16), V(512)], [V(1)]));
    }
}
