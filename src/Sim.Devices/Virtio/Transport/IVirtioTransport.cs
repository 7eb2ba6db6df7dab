using Sim.Machine.Kvm;

namespace Sim.Devices.Virtio.Transport;

/// <summary>What a <see cref="VirtioDevice"/> needs from the transport it is plugged into (QEMU's
/// VirtioBusClass as seen from virtio.c): delivering an interrupt vector and whether the device may
/// access guest memory.</summary>
public interface IVirtioTransport
{
    /// <summary>QEMU virtio_notify_vector → virtio_pci_notify: raise <paramref name="vector"/> (MSI-X),
    /// or, without MSI-X, drive INTx from the device's ISR. <see cref="Sim.Spec.Virtio.VirtioPciLayout.NoVector"/> with
    /// MSI-X enabled raises nothing.</summary>
    void NotifyVector(ushort vector);

    /// <summary>True while the device may DMA (PCI bus master enable).</summary>
    bool DmaEnabled { get; }

    /// <summary>Number of MSI-X vectors (0 without MSI-X): a vector written by the driver must be below it.</summary>
    int VectorCount { get; }

    /// <summary>QEMU virtio_bus_set_host_notifier: the eventfd KVM signals for a kick of queue
    /// <paramref name="queueIndex"/> (the ioeventfd's), or null when the transport has none (QEMU:
    /// "binding does not support host notifiers"). What a vhost backend polls as its kick fd.</summary>
    EventFd? GetHostNotifier(int queueIndex);

    /// <summary>QEMU virtio_queue_set_host_notifier_fd_handler: whether QEMU's own main-loop handler reads
    /// the host notifier (false while a vhost backend owns it: vhost_dev_enable_notifiers).</summary>
    void SetHostNotifierHandler(int queueIndex, bool attached);

    /// <summary>QEMU kvm_virtio_pci_vector_use (set_guest_notifiers with irqfd): binds an irqfd for MSI-X
    /// <paramref name="vector"/> to the GSI its current message names and returns its eventfd, for a vhost
    /// backend to signal as its call fd. Null when no irqfd can serve it (no MSI-X, MSI-X disabled or
    /// masked, no vector, irqfds off, an unroutable message): the caller then falls back to a userspace
    /// guest-notifier handler, as QEMU does.</summary>
    EventFd? UseVectorIrqFd(ushort vector);
}
