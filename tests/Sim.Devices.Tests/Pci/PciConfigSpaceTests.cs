using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Devices.Pci;
using Sim.Spec.Pci;
using Xunit;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Pci;

public sealed class PciConfigSpaceTests
{
    private static uint Read(PciDevice d, int offset, int size)
    {
        Span<byte> b = stackalloc byte[4];
        b.Clear();
        d.ConfigRead(offset, b[..size]);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    private static void Write(PciDevice d, int offset, int size, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        d.ConfigWrite(offset, b[..size]);
    }

    [Fact]
    public void Pci_6_2_1_IdentityRegistersReadAtEveryWidth()
    {
        var d = new TestPciDevice();
        Assert.Equal(0x1AF4u, Read(d, R.VendorId, 2));
        Assert.Equal(0x1041u, Read(d, R.DeviceId, 2));
        Assert.Equal(0x1041_1AF4u, Read(d, 0, 4));
        Assert.Equal(0xF4u, Read(d, 0, 1));
        Assert.Equal(0x1Au, Read(d, 1, 1));
        Assert.Equal(0x411Au, Read(d, 1, 2)); // unaligned 2-byte read spans vendor/device
        Assert.Equal(0x01u, Read(d, R.RevisionId, 1));
        Assert.Equal(0x0200_0001u, Read(d, R.RevisionId, 4)); // revision | class code << 8
        Assert.Equal(0x02u, Read(d, R.ClassCode + 2, 1));
        Assert.Equal(0x1AF4u, Read(d, R.SubsystemVendorId, 2));
        Assert.Equal(0x0001u, Read(d, R.SubsystemId, 2));
        Assert.Equal(1u, Read(d, R.InterruptPin, 1));
        Assert.Equal(0u, Read(d, R.HeaderType, 1));
    }

    [Fact]
    public void Pci_6_2_ReadOnlyRegistersIgnoreWrites()
    {
        var d = new TestPciDevice();
        byte[] before = d.Config.Bytes.ToArray();
        Write(d, R.VendorId, 4, 0xFFFF_FFFF);
        Write(d, R.RevisionId, 4, 0xFFFF_FFFF);
        Write(d, R.HeaderType, 1, 0xFF);
        Write(d, R.SubsystemVendorId, 4, 0xFFFF_FFFF);
        Write(d, R.ExpansionRom, 4, 0xFFFF_FFFF);
        Write(d, R.CapabilitiesPointer, 1, 0xFF);
        Write(d, R.InterruptPin, 1, 0x04);
        for (int bar = 0; bar < R.BarCount; bar++)
            Write(d, R.Bar0 + (bar * 4), 4, 0xFFFF_FFFF); // no BARs registered
        Assert.Equal(before, d.Config.Bytes.ToArray());
    }

    [Fact]
    public void Pci_6_2_2_CommandKeepsOnlyImplementedBits()
    {
        var d = new TestPciDevice();
        Write(d, R.Command, 2, 0xFFFF);
        Assert.Equal((uint)R.CommandWritable, Read(d, R.Command, 2));
        Assert.True(d.IoSpaceEnabled && d.MemorySpaceEnabled && d.BusMasterEnabled);
        Write(d, R.Command, 2, 0);
        Assert.False(d.IoSpaceEnabled || d.MemorySpaceEnabled || d.BusMasterEnabled);
    }

    [Fact]
    public void Pci_6_2_3_StatusErrorBitsAreWriteOneToClearAndCapabilityBitReadOnly()
    {
        var d = new TestPciDevice();
        d.AddCap(R.CapabilityIdVendor, 4);
        d.Config.SetUInt16(R.Status, (ushort)(R.StatusWriteOneToClear | R.StatusCapabilitiesList));
        Write(d, R.Status, 2, 1 << 13); // clear received master abort only
        Assert.Equal((uint)((R.StatusWriteOneToClear & ~(1 << 13)) | R.StatusCapabilitiesList), Read(d, R.Status, 2));
        Write(d, R.Status, 2, 0); // writing zeros changes nothing
        Write(d, R.Status, 2, 0xFFFF);
        Assert.Equal((uint)R.StatusCapabilitiesList, Read(d, R.Status, 2));
    }

    [Fact]
    public void Pci_6_2_ScratchRegistersAreWritable()
    {
        var d = new TestPciDevice();
        Write(d, R.InterruptLine, 1, 0x0B);
        Write(d, R.CacheLineSize, 1, 0x10);
        Assert.Equal(0x0Bu, Read(d, R.InterruptLine, 1));
        Assert.Equal(0x10u, Read(d, R.CacheLineSize, 1));
    }

    [Theory]
    [InlineData(PciBarKind.Io, 0x40ul, false, 0xFFFF_FFC1u)]
    [InlineData(PciBarKind.Io, 0x100ul, false, 0xFFFF_FF01u)]
    [InlineData(PciBarKind.Memory32, 0x100000ul, false, 0xFFF0_0000u)]
    [InlineData(PciBarKind.Memory32, 0x1000ul, true, 0xFFFF_F008u)]
    [InlineData(PciBarKind.Memory64, 0x4000ul, true, 0xFFFF_C00Cu)]
    public void Pci_6_2_5_1_BarSizingReadsBackSizeMaskAndTypeBits(
        PciBarKind kind,
        ulong size,
        bool prefetchable,
        uint expected
    )
    {
        var d = new TestPciDevice();
        d.AddBar(2, kind, size, prefetchable);
        uint typeBits = expected & (kind == PciBarKind.Io ? R.BarIoFlagsMask : R.BarMemoryFlagsMask);
        Assert.Equal(typeBits, Read(d, R.Bar0 + 8, 4)); // before sizing: address 0, type bits only
        Write(d, R.Bar0 + 8, 4, 0xFFFF_FFFF);
        Assert.Equal(expected, Read(d, R.Bar0 + 8, 4));
        if (kind == PciBarKind.Memory64)
        {
            Write(d, R.Bar0 + 12, 4, 0xFFFF_FFFF);
            Assert.Equal(0xFFFF_FFFFu, Read(d, R.Bar0 + 12, 4)); // upper dword: all address bits
        }
        Write(d, R.Bar0 + 8, 4, 0); // restore: type bits are read-only
        Assert.Equal(typeBits, Read(d, R.Bar0 + 8, 4));
    }

    [Fact]
    public void Pci_6_2_5_1_SizingByByteWritesMatchesDwordWrite()
    {
        var d = new TestPciDevice();
        d.AddBar(0, PciBarKind.Memory32, 0x100000);
        for (int i = 0; i < 4; i++)
            Write(d, R.Bar0 + i, 1, 0xFF);
        Assert.Equal(0xFFF0_0000u, Read(d, R.Bar0, 4));
        Assert.Equal(0xFFF0u, Read(d, R.Bar0 + 2, 2));
    }

    [Fact]
    public void Pci_6_2_5_1_BarAddressKeepsOnlyAlignedBits()
    {
        var d = new TestPciDevice();
        d.AddBar(0, PciBarKind.Io, 0x20);
        Write(d, R.Bar0, 4, 0xC0FF);
        Assert.Equal(0xC0E1u, Read(d, R.Bar0, 4));
    }

    [Fact]
    public void Pci_6_7_CapabilityListWalksNewestFirstAndEnds()
    {
        var d = new TestPciDevice();
        int a = d.AddCap(R.CapabilityIdMsix, 12);
        int b = d.AddCap(R.CapabilityIdVendor, 16);
        int c = d.AddCap(R.CapabilityIdVendor, 5);
        Assert.Equal(0x40, a);
        Assert.Equal(0x4C, b);
        Assert.Equal(0x5C, c); // dword aligned after a 16-byte capability
        Assert.NotEqual(0u, Read(d, R.Status, 2) & R.StatusCapabilitiesList);

        var walk = new List<(int Offset, uint Id)>();
        int next = (int)Read(d, R.CapabilitiesPointer, 1);
        for (int guard = 0; next != 0 && guard < R.CapabilityWalkMax; guard++)
        {
            walk.Add((next, Read(d, next, 1)));
            next = (int)(Read(d, next + R.CapabilityNext, 1) & 0xFC);
        }
        Assert.Equal([(c, R.CapabilityIdVendor), (b, R.CapabilityIdVendor), (a, R.CapabilityIdMsix)], walk);
    }

    [Fact]
    public void Pci_6_7_CapabilityBytesAreReadOnlyButFreeDeviceSpaceIsWritable()
    {
        var d = new TestPciDevice();
        int cap = d.AddCap(R.CapabilityIdVendor, 8);
        Write(d, cap, 4, 0xFFFF_FFFF);
        Assert.Equal((uint)R.CapabilityIdVendor, Read(d, cap, 1));
        Assert.Equal(0u, Read(d, cap + 1, 1));
        // QEMU pci_init_wmask: the device-specific area outside capabilities is guest-writable.
        Write(d, 0x80, 4, 0xA5A5_5A5A);
        Assert.Equal(0xA5A5_5A5Au, Read(d, 0x80, 4));
    }

    [Fact]
    public void NoCapabilities_StatusBitClearAndPointerZero()
    {
        var d = new TestPciDevice();
        Assert.Equal(0u, Read(d, R.Status, 2) & R.StatusCapabilitiesList);
        Assert.Equal(0u, Read(d, R.CapabilitiesPointer, 1));
    }

    [Fact]
    public void OutOfRangeBytesReadAllOnesAndAreNotWritten()
    {
        var d = new TestPciDevice();
        Assert.Equal(0xFFFF_FF00u | d.Config.Bytes[255], Read(d, 255, 4));
        Assert.Equal(uint.MaxValue, Read(d, -4, 4));
        Assert.Equal(uint.MaxValue, Read(d, 0x1000, 4));
        byte[] before = d.Config.Bytes.ToArray();
        Write(d, 0x100, 4, 0);
        Write(d, int.MinValue, 4, 0);
        Write(d, int.MaxValue - 1, 4, 0);
        Assert.Equal(before, d.Config.Bytes.ToArray());
    }

    [Fact]
    public void RegisterBarRejectsHostMisuse()
    {
        var d = new TestPciDevice();
        Assert.Throws<ArgumentOutOfRangeException>(() => d.AddBar(6, PciBarKind.Memory32, 0x1000));
        Assert.Throws<ArgumentException>(() => d.AddBar(0, PciBarKind.Memory32, 0x1800));
        Assert.Throws<ArgumentOutOfRangeException>(() => d.AddBar(0, PciBarKind.Io, 0x200));
        Assert.Throws<ArgumentOutOfRangeException>(() => d.AddBar(0, PciBarKind.Memory32, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => d.AddBar(5, PciBarKind.Memory64, 0x1000));
        d.AddBar(1, PciBarKind.Memory64, 0x1000);
        Assert.Throws<InvalidOperationException>(() => d.AddBar(2, PciBarKind.Io, 0x10));
        Assert.Throws<InvalidOperationException>(() => d.AddBar(0, PciBarKind.Memory64, 0x1000));
    }

    [Property(MaxTest = 500, Replay = "(1592590337,11400714819323198485)")]
    public Property GuestConfigAccessesNeverThrowAndRespectMasks()
    {
        // Any guest write sequence leaves read-only bytes untouched and never throws.
        Gen<(int Offset, int Size, uint Value)> access =
            from offset in Gen.Choose(-8, 270)
            from size in Gen.Elements(1, 2, 3, 4)
            from value in Gen.Choose(int.MinValue, int.MaxValue).Select(v => unchecked((uint)v))
            select (offset, size, value);
        return Prop.ForAll(Arb.From(Gen.ListOf(access).Select(l => l.ToArray())), ops =>
        {
            var d = new TestPciDevice();
            d.AddBar(0, PciBarKind.Io, 0x40);
            d.AddBar(1, PciBarKind.Memory32, 0x1000);
            d.AddBar(2, PciBarKind.Memory64, 0x4000, prefetchable: true);
            int cap = d.AddCap(R.CapabilityIdVendor, 16);
            d.Connect(new RecordingBarHost());
            foreach ((int offset, int size, uint value) in ops)
            {
                Write(d, offset, size, value);
                _ = Read(d, offset, size);
            }
            return Read(d, 0, 4) == 0x1041_1AF4u
                && (Read(d, R.Bar0, 4) & 3) == 1
                && (Read(d, R.Bar0 + 4, 4) & 0xFFF) == 0
                && (Read(d, R.Bar0 + 8, 4) & 0x3FFF) == 0xC
                && Read(d, cap, 2) == (uint)R.CapabilityIdVendor
                && (Read(d, R.Command, 2) & ~(uint)R.CommandWritable) == 0;
        });
    }
}
