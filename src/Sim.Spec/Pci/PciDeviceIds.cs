namespace Sim.Spec.Pci;

/// <summary>The read-only identity a function presents in its configuration header.</summary>
/// <param name="VendorId">Vendor ID (0xFFFF is invalid: it means "no device").</param>
/// <param name="DeviceId">Device ID.</param>
/// <param name="ClassCode">24-bit class code: base class &lt;&lt; 16 | sub-class &lt;&lt; 8 | programming
/// interface.</param>
/// <param name="RevisionId">Revision ID.</param>
/// <param name="SubsystemVendorId">Subsystem vendor ID.</param>
/// <param name="SubsystemId">Subsystem ID.</param>
/// <param name="InterruptPin">0 = no INTx, 1..4 = INTA#..INTD#.</param>
public readonly record struct PciDeviceIds(
    ushort VendorId,
    ushort DeviceId,
    uint ClassCode,
    byte RevisionId = 0,
    ushort SubsystemVendorId = PciDeviceIds.QemuSubsystemVendorId,
    ushort SubsystemId = PciDeviceIds.QemuSubsystemId,
    byte InterruptPin = 0
)
{
    /// <summary>QEMU's default subsystem vendor (PCI_SUBVENDOR_ID_REDHAT_QUMRANET), set by
    /// pci_set_default_subsystem_id when a device class names none.</summary>
    public const ushort QemuSubsystemVendorId = 0x1AF4;

    /// <summary>QEMU's default subsystem id (PCI_SUBDEVICE_ID_QEMU).</summary>
    public const ushort QemuSubsystemId = 0x1100;

    /// <summary>Class code 0xFF0000: "device does not fit any defined class" (QEMU PCI_CLASS_OTHERS).</summary>
    public const uint ClassOther = 0xFF0000;
}
