using Sim.Spec.Pci;

namespace Sim.Devices.Pci;

/// <summary>Sends an unmasked MSI-X message (QEMU msix_notify → msi_send_message, or an irqfd bound to
/// the vector's route). Called by <see cref="MsixCapability"/> only when the vector is enabled and
/// unmasked, including when a pending vector is unmasked.</summary>
public interface IMsixDelivery
{
    /// <summary>Delivers MSI-X <paramref name="vector"/> with the address/data <paramref name="message"/> the guest
    /// programmed.</summary>
    void DeliverMsix(int vector, MsiMessage message);
}
