namespace Sim.Devices.Pci;

/// <summary>Receives a device's INTx# line level (QEMU pci_set_irq → the bus's set_irq). The level
/// already accounts for the command register's interrupt-disable bit. Level-triggered: the sink
/// sees every change and nothing else.</summary>
public interface IPciIntxSink
{
    /// <summary>The INTx# pin of <paramref name="device"/> (its
    /// <see cref="Sim.Spec.Pci.PciDeviceIds.InterruptPin"/>) went to <paramref name="asserted"/>.</summary>
    void SetIntx(PciDevice device, bool asserted);
}
