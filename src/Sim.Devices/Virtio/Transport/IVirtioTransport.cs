namespace Sim.Devices.Virtio.Transport;

/// <summary>What a <see cref="VirtioDevice"/> needs from the transport it is plugged into (QEMU's
/// VirtioBusClass as seen from virtio.c): delivering an interrupt vector and whether the device may
/// access guest memory.</summary>
public interface IVirtioTransport
{
    /// <summary>QEMU virtio_notify_vector → virtio_pci_notify: raise <paramref name="vector"/> (MSI-X),
    /// or, without MSI-X, drive INTx from the device's ISR. <see cref="VirtioPciLayout.NoVector"/> with
    /// MSI-X enabled raises nothing.</summary>
    void NotifyVector(ushort vector);

    /// <summary>True while the device may DMA (PCI bus master enable).</summary>
    bool DmaEnabled { get; }

    /// <summary>Number of MSI-X vectors (0 without MSI-X): a vector written by the driver must be below it.</summary>
    int VectorCount { get; }
}
