using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Pci;
using Xunit;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Pci;

public sealed class KvmBarHostTests
{
    private static void Write(PciDevice d, int offset, int size, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        d.ConfigWrite(offset, b[..size]);
    }

    [Fact]
    public void OverlappingBarsLeaveTheSecondInvisibleAndUnmapRemovesOnlyItsOwn()
    {
        var sim = new Simulation(new SimulationOptions { CheckpointInterval = 0 });
        var host = new KvmBarHost(sim.Kvm);
        var bridge = new PciHostBridge(host);
        var a = new Demo.DemoPciDeviceStub();
        var b = new Demo.DemoPciDeviceStub();
        bridge.Attach(1, a);
        bridge.Attach(2, b);
        foreach (PciDevice d in new PciDevice[] { a, b })
        {
            Write(d, R.Bar0, 4, 0xE000_0000);
            Write(d, R.Command, 2, R.CommandMemorySpace);
        }
        Assert.Equal(1, host.ConflictingMappings);
        Assert.Single(host.Registered);
        Write(b, R.Command, 2, 0); // unmapping the invisible BAR must not remove a's
        Assert.True(sim.Kvm.Mmio.TryFind(0xE000_0004, 4, out IBusDevice? found, out _));
        Assert.Same(a, found);
        Write(b, R.Bar0, 4, 0xE010_0000);
        Write(b, R.Command, 2, R.CommandMemorySpace);
        Assert.Equal(2, host.Registered.Count);
    }

    [Fact]
    public void IntxRouterSwizzlesAndWiresOr()
    {
        var sim = new Simulation(new SimulationOptions { CheckpointInterval = 0 });
        var router = new PciIntxRouter(sim.Kvm.Irqchip);
        Assert.Equal(10u, router.GsiFor(0, 1)); // PIRQA
        Assert.Equal(11u, router.GsiFor(1, 2)); // (1 + 2 - 1) & 3 = PIRQC
        Assert.Equal(10u, router.GsiFor(3, 2)); // wraps to PIRQA
        var bridge = new PciHostBridge(new RecordingBarHost(), router);
        var x = new TestPciDevice();
        var y = new TestPciDevice();
        bridge.Attach(0, x); // INTA → PIRQA → 10
        bridge.Attach(4, y); // INTA → PIRQA → 10 (shared)
        x.Irq(true);
        y.Irq(true);
        x.Irq(false);
        Assert.True(sim.Kvm.Irqchip.IsAsserted(10)); // y still holds the shared line
        y.Irq(false);
        Assert.False(sim.Kvm.Irqchip.IsAsserted(10));
    }
}
