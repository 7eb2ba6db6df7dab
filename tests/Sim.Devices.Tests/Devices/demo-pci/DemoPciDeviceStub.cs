using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;

namespace Sim.Devices.Tests.Demo;

/// <summary>A one-BAR device that remembers the last offset it was accessed at.</summary>
internal sealed class DemoPciDeviceStub : PciDevice, IBusDevice
{
    public DemoPciDeviceStub()
        : base(new PciDeviceIds(0x1234, 0x0001, PciDeviceIds.ClassOther))
    {
        RegisterBar(0, PciBarKind.Memory32, 0x1000, this);
    }

    public ulong LastOffset { get; private set; } = ulong.MaxValue;

    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        LastOffset = offset;
        data.Clear();
    }

    public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data) => LastOffset = offset;
}
