using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Xunit;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Pci;

public sealed class MsixCapabilityTests
{
    private sealed class MsixDevice : PciDevice, IMsixDelivery
    {
        public MsixDevice(int vectors)
            : base(new PciDeviceIds(0x1234, 0x5678, PciDeviceIds.ClassOther))
        {
            Cap = AddMsix(vectors, 1, this);
        }

        public MsixCapability Cap { get; }

        public List<(int Vector, MsiMessage Message)> Sent { get; } = [];

        public void DeliverMsix(int vector, MsiMessage message) => Sent.Add((vector, message));
    }

    private static ulong Read(MsixCapability m, ulong offset, int size)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        m.Read(BusKind.Mmio, offset, b[..size]);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    private static void Write(MsixCapability m, ulong offset, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        m.Write(BusKind.Mmio, offset, b[..size]);
    }

    [Fact]
    public void Pci_6_8_2_CapabilityLayoutAndExclusiveBar()
    {
        var d = new MsixDevice(3);
        MsixCapability m = d.Cap;
        Assert.Equal(R.CapabilityIdMsix, d.Config.GetByte(m.CapabilityOffset));
        Assert.Equal(2, d.Config.GetUInt16(m.CapabilityOffset + MsixCapability.ControlOffset)); // N - 1
        Assert.Equal(1u, d.Config.GetUInt32(m.CapabilityOffset + MsixCapability.TableOffsetOffset)); // offset 0, BIR 1
        // QEMU: PBA at half the page.
        Assert.Equal(0x801u, d.Config.GetUInt32(m.CapabilityOffset + MsixCapability.PbaOffsetOffset));
        Assert.Equal(4096ul, d.GetBar(1)!.Size);
        Assert.Equal(1ul, Read(m, 12, 4)); // vectors start masked
        Assert.True(m.IsMasked(0));
    }

    [Fact]
    public void Pci_6_8_2_OnlyEnableAndFunctionMaskAreWritable()
    {
        var d = new MsixDevice(3);
        int control = d.Cap.CapabilityOffset + MsixCapability.ControlOffset;
        d.ConfigWrite(control, [0xFF, 0xFF]);
        Assert.Equal(0xC002, d.Config.GetUInt16(control));
        Assert.True(d.Cap.Enabled);
        Assert.True(d.Cap.FunctionMasked);
    }

    [Fact]
    public void Qemu_TableTakesDwordAndQwordAccesses_NarrowerOnesAreInvalid()
    {
        var d = new MsixDevice(3);
        MsixCapability m = d.Cap;
        Write(m, 0, 8, 0x0000_0001_FEE0_0000);
        Assert.Equal(0x0000_0001_FEE0_0000ul, Read(m, 0, 8));
        Assert.Equal(0xFEE0_0000ul, Read(m, 0, 4));
        Assert.Equal(0ul, Read(m, 0, 2)); // below valid.min_access_size: reads 0
        Write(m, 8, 2, 0xFFFF); // dropped
        Assert.Equal(0ul, Read(m, 8, 4));
        Write(m, m.PbaOffset, 4, 0xFFFF_FFFF); // PBA is read-only
        Assert.Equal(0ul, Read(m, m.PbaOffset, 4));
        Assert.Equal(0ul, Read(m, 0x100, 4)); // between table and PBA
    }

    [Fact]
    public void Pci_6_8_2_FunctionMaskAndEnableGateDelivery()
    {
        var d = new MsixDevice(2);
        MsixCapability m = d.Cap;
        int control = m.CapabilityOffset + MsixCapability.ControlOffset;
        Write(m, 16, 8, MsiMessage.ApicWindowBase);
        Write(m, 24, 4, 0x31);
        Write(m, 28, 4, 0); // vector 1 unmasked, but MSI-X still disabled
        m.Notify(1);
        Assert.Empty(d.Sent);
        Assert.True(m.IsPending(1));
        d.ConfigWrite(control, [0x00, 0xC0]); // enable + function mask
        Assert.Empty(d.Sent);
        d.ConfigWrite(control, [0x00, 0x80]); // enable, unmask the function
        Assert.Equal([(1, new MsiMessage(MsiMessage.ApicWindowBase, 0x31))], d.Sent);
        Assert.False(m.IsPending(1));
        Assert.True(new MsiMessage(MsiMessage.ApicWindowBase, 0x31).TryGetGsi(out uint gsi));
        Assert.Equal(0x11u, gsi);
        m.Notify(7); // no such vector: ignored
        d.Reset();
        Assert.False(m.Enabled);
        Assert.True(m.IsMasked(1));
    }
}
