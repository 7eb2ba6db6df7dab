namespace Sim.Kvm.Tests;

/// <summary>The machine's irqfds become real KVM_IRQFDs on this host's KVM: an MSI GSI through a KVM_SET_GSI_ROUTING
/// MSI route (the table keeps the default pin routes), a pin GSI (INTx) through the irqchip's default route; a
/// resampling irqfd is left on KVM_IRQ_LINE; deassigning removes the route again.</summary>
public class KvmIrqForwarderTests
{
    [KvmFact]
    public void MachineIrqFds_AreRealIrqFds_OnMsiAndPinRoutes()
    {
        Assert.True(KvmSystem.TryOpen(out KvmSystem? kvm, out string reason), reason);
        using (kvm)
        using (KvmVm vm = kvm!.CreateVm())
        {
            vm.CreateIrqchip();
            using KvmVcpu vcpu = vm.CreateVcpu(0); // an MSI needs a LAPIC to address (KVM_SIGNAL_MSI: EPERM without)
            using var irq = new KvmIrqForwarder(vm);
            irq.IrqFdRegistered(0, 25, resample: false); // MSI-X vector 1's GSI
            irq.IrqFdRegistered(1, 10, resample: false); // a PCI INTx pin
            irq.IrqFdRegistered(2, 11, resample: true); // level: not mirrored
            Assert.Equal(2, irq.IrqFdsAssigned);
            irq.IrqFdInject(0, 25, 0x39);
            irq.IrqFdInject(1, 10, 0x2A);
            Assert.Equal(2, irq.IrqFdSignals);
            irq.IrqFdInject(2, 11, 0x2B); // falls back to KVM_SIGNAL_MSI
            Assert.Equal(2, irq.IrqFdSignals);
            Assert.Equal(3, irq.Sent);
            irq.IrqFdUnregistered(0);
            irq.IrqFdUnregistered(1);
            irq.IrqFdRegistered(3, 26, resample: false); // a new MSI route after the old one went
            Assert.Equal(3, irq.IrqFdsAssigned);
            irq.IrqFdInject(3, 26, 0x3A);
            Assert.Equal(3, irq.IrqFdSignals);
        }
    }
}
