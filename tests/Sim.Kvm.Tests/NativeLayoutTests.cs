using System.Runtime.CompilerServices;
using Sim.Kvm.Native;

namespace Sim.Kvm.Tests;

/// <summary>The blittable structs have linux/kvm.h's sizes, and each ioctl number encodes its argument's size
/// (_IOW/_IOR: size in bits 16-29, direction in 30-31, type 0xAE, number in bits 0-7).</summary>
public class NativeLayoutTests
{
    [Fact]
    public void Structs_HaveTheKernelSizes()
    {
        Assert.Equal(32, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDirtyLog>());
        Assert.Equal(8, Unsafe.SizeOf<KvmIrqLevel>());
        Assert.Equal(32, Unsafe.SizeOf<KvmMsi>());
        Assert.Equal(32, Unsafe.SizeOf<KvmIrqFd>());
        Assert.Equal(48, Unsafe.SizeOf<KvmIrqRoutingEntry>());
        Assert.Equal(64, Unsafe.SizeOf<KvmIoEventFd>());
        Assert.Equal(144, Unsafe.SizeOf<KvmRegs>());
        Assert.Equal(24, Unsafe.SizeOf<KvmSegment>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDtable>());
        Assert.Equal(312, Unsafe.SizeOf<KvmSregs>());
        Assert.Equal(12, Unsafe.SizeOf<EpollEvent>());
        Assert.Equal(32, Unsafe.SizeOf<ITimerSpec>());
    }

    [Theory]
    [InlineData(nameof(KvmIoctl.GetDirtyLog), 1u, 0x42u, 16)]
    [InlineData(nameof(KvmIoctl.SetUserMemoryRegion), 1u, 0x46u, 32)]
    [InlineData(nameof(KvmIoctl.IrqLine), 1u, 0x61u, 8)]
    [InlineData(nameof(KvmIoctl.IrqFd), 1u, 0x76u, 32)]
    [InlineData(nameof(KvmIoctl.SetGsiRouting), 1u, 0x6Au, 8)]
    [InlineData(nameof(KvmIoctl.IoEventFd), 1u, 0x79u, 64)]
    [InlineData(nameof(KvmIoctl.SignalMsi), 1u, 0xA5u, 32)]
    [InlineData(nameof(KvmIoctl.GetRegs), 2u, 0x81u, 144)]
    [InlineData(nameof(KvmIoctl.SetRegs), 1u, 0x82u, 144)]
    [InlineData(nameof(KvmIoctl.GetSregs), 2u, 0x83u, 312)]
    [InlineData(nameof(KvmIoctl.SetSregs), 1u, 0x84u, 312)]
    public void IoctlNumbers_EncodeTheirArgument(string name, uint direction, uint number, int size)
    {
        ulong actual = Convert.ToUInt64(
            typeof(KvmIoctl).GetField(name)!.GetValue(null)!,
            System.Globalization.CultureInfo.InvariantCulture
        );
        ulong expected = (ulong)((direction << 30) | ((uint)size << 16) | (0xAEu << 8) | number);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void RunLayout_MatchesKvmRun()
    {
        // struct kvm_run: request_interrupt_window(u8) immediate_exit(u8) padding1[6], exit_reason(u32) at 8,
        // ... the union at 32; io = {direction u8, size u8, port u16, count u32, data_offset u64}.
        Assert.Equal(8, KvmRunLayout.ExitReason);
        Assert.Equal(32, KvmRunLayout.Union);
        Assert.Equal(34, KvmRunLayout.IoPort);
        Assert.Equal(40, KvmRunLayout.IoDataOffset);
        Assert.Equal(40, KvmRunLayout.MmioData);
        Assert.Equal(48, KvmRunLayout.MmioLen);
        Assert.Equal(52, KvmRunLayout.MmioIsWrite);
    }
}
