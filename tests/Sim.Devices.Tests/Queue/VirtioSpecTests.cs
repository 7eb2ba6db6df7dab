using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

public sealed class VirtioSpecTests
{
    [Fact]
    public void Spec_2_7_5_DescriptorFieldsTileSixteenBytes()
    {
        Assert.Equal(0, VirtioSpec.DescAddrOffset);
        Assert.Equal(VirtioSpec.DescAddrOffset + sizeof(ulong), VirtioSpec.DescLenOffset);
        Assert.Equal(VirtioSpec.DescLenOffset + sizeof(uint), VirtioSpec.DescFlagsOffset);
        Assert.Equal(VirtioSpec.DescFlagsOffset + sizeof(ushort), VirtioSpec.DescNextOffset);
        Assert.Equal(VirtioSpec.DescNextOffset + sizeof(ushort), VirtioSpec.DescSize);
        Assert.Equal(VirtioSpec.DescSize, VirtioSpec.DescAlign);
    }

    [Fact]
    public void Spec_2_7_6_AvailRingLayout()
    {
        Assert.Equal(VirtioSpec.AvailFlagsOffset + sizeof(ushort), VirtioSpec.AvailIdxOffset);
        Assert.Equal(VirtioSpec.AvailIdxOffset + sizeof(ushort), VirtioSpec.AvailRingOffset);
        Assert.Equal(sizeof(ushort), VirtioSpec.AvailElemSize);
        Assert.Equal(sizeof(ushort), VirtioSpec.AvailUsedEventSize);
        Assert.Equal(6UL + (2UL * 256), VirtioSpec.AvailRingSize(256));
        Assert.Equal(
            VirtioSpec.AvailRingSize(256) - VirtioSpec.AvailUsedEventSize,
            VirtioSpec.AvailUsedEventOffset(256)
        );
    }

    [Fact]
    public void Spec_2_7_8_UsedRingLayout()
    {
        Assert.Equal(VirtioSpec.UsedFlagsOffset + sizeof(ushort), VirtioSpec.UsedIdxOffset);
        Assert.Equal(VirtioSpec.UsedIdxOffset + sizeof(ushort), VirtioSpec.UsedRingOffset);
        Assert.Equal(VirtioSpec.UsedElemIdOffset + sizeof(uint), VirtioSpec.UsedElemLenOffset);
        Assert.Equal(VirtioSpec.UsedElemLenOffset + sizeof(uint), VirtioSpec.UsedElemSize);
        Assert.Equal(6UL + (8UL * 256), VirtioSpec.UsedRingSize(256));
        Assert.Equal(
            VirtioSpec.UsedRingSize(256) - VirtioSpec.UsedAvailEventSize,
            VirtioSpec.UsedAvailEventOffset(256)
        );
        Assert.Equal(0, VirtioSpec.UsedRingOffset % VirtioSpec.UsedAlign);
    }

    [Fact]
    public void Spec_2_7_FlagsAreDistinctBits()
    {
        Assert.Equal(7, VirtioSpec.DescFNext | VirtioSpec.DescFWrite | VirtioSpec.DescFIndirect);
        Assert.Equal(1, VirtioSpec.AvailFNoInterrupt);
        Assert.Equal(1, VirtioSpec.UsedFNoNotify);
    }

    [Fact]
    public void Spec_2_7_QueueSizesArePowersOfTwoUpTo32768()
    {
        Assert.Equal(32768, VirtioSpec.QueueSizeMax);
        Assert.True(VirtioSpec.IsValidQueueSize(1));
        Assert.True(VirtioSpec.IsValidQueueSize(32768));
        Assert.False(VirtioSpec.IsValidQueueSize(0));
        Assert.False(VirtioSpec.IsValidQueueSize(3));
        Assert.False(VirtioSpec.IsValidQueueSize(65536));
        // The largest rings still fit the 16-bit index space and the used ring can hold every head.
        Assert.True(VirtioSpec.QueueSizeMax <= ushort.MaxValue + 1);
    }

    [Fact]
    public void Limits_AreConsistent()
    {
        Assert.Equal(1024, QueueLimits.IovecsMax);
        Assert.True(QueueLimits.IndirectDescriptorsMax <= VirtioSpec.QueueSizeMax);
        Assert.Equal(1 + QueueLimits.IndirectDescriptorsMax, QueueLimits.ChainDescriptorsMax);
        Assert.True((ulong)QueueLimits.IndirectDescriptorsMax * VirtioSpec.DescSize <= uint.MaxValue);
    }
}
