using Sim.Devices.Pci;
using Sim.Spec.Pci;

namespace Sim.Devices.Virtio.Transport;

/// <summary>How a <see cref="VirtioPciTransport"/> is built (QEMU virtio-pci properties).</summary>
public sealed record VirtioPciOptions
{
    /// <summary>Interfaces exposed.</summary>
    public VirtioPciMode Mode { get; init; } = VirtioPciMode.Transitional;

    /// <summary>MSI-X vectors (QEMU "vectors"; 0 = no MSI-X, interrupts through INTx and the ISR).</summary>
    public int MsixVectors { get; init; }

    /// <summary>QEMU ioeventfd=on: after DRIVER_OK, notify writes signal a per-queue eventfd inside KVM
    /// and the device runs later on the main loop; otherwise every notify is a userspace exit handled
    /// synchronously on the vCPU.</summary>
    public bool UseIoEventFd { get; init; } = true;

    /// <summary>Deliver MSI-X messages through irqfds (vector eventfd → KVM route → GSI), as QEMU does
    /// for vhost/dataplane; otherwise userspace injects them directly (msix_notify).</summary>
    public bool UseIrqFd { get; init; }

    /// <summary>PCI device id for transitional and legacy modes (QEMU: the proxy class's device_id, e.g.
    /// 0x1001 for block); 0 = 0x1000 + virtio id - 1.</summary>
    public ushort LegacyPciDeviceId { get; init; }

    /// <summary>PCI class code (QEMU: the proxy class's class_id).</summary>
    public uint ClassCode { get; init; } = PciDeviceIds.ClassOther;

    /// <summary>Behaviour of the virtio core: <see cref="Flavour.Seed"/> is QEMU's exactly (unoffered
    /// feature bits silently dropped, ISR 3 on config change, any ISR-region read clears, INTx from ISR
    /// bit 0); <see cref="Flavour.Robust"/> follows the spec's letter where QEMU is lax.</summary>
    public Flavour Flavour { get; init; } = Flavour.Robust;
}
