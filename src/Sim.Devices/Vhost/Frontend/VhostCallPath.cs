namespace Sim.Devices.Vhost.Frontend;

/// <summary>How a started vring's completions reach the guest (QEMU virtio_pci_set_guest_notifiers).</summary>
public enum VhostCallPath
{
    /// <summary>The vring is not started.</summary>
    None = 0,

    /// <summary>The call eventfd is the MSI-X vector's irqfd: vhost_signal → KVM irqfd → MSI, no userspace at all
    /// (QEMU with_irqfd).</summary>
    IrqFd,

    /// <summary>The call eventfd is QEMU's guest notifier read by its main loop, which sets ISR bit 0 and raises the
    /// vector or INTx (virtio_queue_guest_notifier_read → virtio_irq): the fallback without MSI-X or irqfds.</summary>
    Userspace,
}
