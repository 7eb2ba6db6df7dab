using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Xunit;

namespace Sim.Devices.Tests.Pci;

/// <summary>A PCI device whose protected builders are opened up for tests.</summary>
internal sealed class TestPciDevice : PciDevice
{
    public static readonly PciDeviceIds TestIds = new(
        0x1AF4,
        0x1041,
        0x020000,
        RevisionId: 0x01,
        SubsystemVendorId: 0x1AF4,
        SubsystemId: 0x0001,
        InterruptPin: 1
    );

    public TestPciDevice(PciDeviceIds? ids = null)
        : base(ids ?? TestIds) { }

    public int Resets { get; private set; }

    public PciBar AddBar(int index, PciBarKind kind, ulong size, bool prefetchable = false) =>
        RegisterBar(index, kind, size, new NullRegion(), prefetchable);

    public int AddCap(byte id, int length, int offset = 0) => AddCapability(id, length, offset);

    public void Irq(bool level) => SetIntxRequest(level);

    protected override void OnReset() => Resets++;

    /// <summary>Reads zero, ignores writes.</summary>
    internal sealed class NullRegion : IBusDevice
    {
        public void Read(BusKind bus, ulong offset, Span<byte> data) => data.Clear();

        public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data) { }
    }
}
