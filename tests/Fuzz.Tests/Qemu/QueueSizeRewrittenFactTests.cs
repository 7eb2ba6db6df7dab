using Virtsim.Fuzz.Qemu;
using Xunit;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The input-level fact behind row <c>queue-size-rewritten</c>: which common-config writes QEMU 7.2 takes as a new
/// queue size (virtio_pci_common_write stores the piece at queue_size in a uint16_t whatever its width;
/// virtio_queue_set_num refuses 0 and sizes above 1024). No QEMU needed.
/// </summary>
public sealed class QueueSizeRewrittenFactTests
{
    [Theory]
    [InlineData(1, 0x5337c12ea386ce99UL, true)] // the triaged input: one byte, 0x99 = 153
    [InlineData(2, 0x0010UL, true)]
    [InlineData(4, 0xffff0010UL, true)] // 4 bytes: stored in the uint16_t num, 0x10
    [InlineData(8, 0x1234_0000_0000_0010UL, true)] // split into 4-byte pieces: the first is 0x10
    [InlineData(1, 0x08UL, false)] // the size it already has
    [InlineData(2, 0x0000UL, false)] // 0: refused (non-zero to zero)
    [InlineData(2, 0x0401UL, false)] // 1025 > VIRTQUEUE_MAX_SIZE
    public void QueueSizeRewritten_AtQueueSize_FollowsVirtioQueueSetNum(int width, ulong raw, bool resized) =>
        Assert.Equal(resized, LockstepDriver.QemuResizesQueue(0x18, width, raw, 8));

    [Fact]
    public void QueueSizeRewritten_OtherOffsets_AreNotQueueSizeWrites()
    {
        Assert.False(LockstepDriver.QemuResizesQueue(0x19, 1, 0x99, 8)); // no case for 0x19: ignored
        Assert.False(LockstepDriver.QemuResizesQueue(0x16, 2, 0x99, 8)); // queue_select
    }
}
