namespace Sim.Spec.Pci;

/// <summary>
/// Layout of the MSI-X capability and table (PCI Local Bus 3.0 §6.8.2), shared by the device's
/// capability model and the guest driver that programs it.
/// </summary>
public static class MsixSpec
{
    /// <summary>Offset of message control in the capability.</summary>
    public const int ControlOffset = 2;

    /// <summary>Offset of the table offset/BIR dword in the capability.</summary>
    public const int TableOffsetOffset = 4;

    /// <summary>Message control bit 15: MSI-X enable.</summary>
    public const ushort ControlEnable = 1 << 15;

    /// <summary>Message control bit 14: function mask.</summary>
    public const ushort ControlFunctionMask = 1 << 14;

    /// <summary>One table entry: address low (le32) + address high (le32) + data (le32) + vector control
    /// (le32).</summary>
    public const int EntrySize = 16;

    /// <summary>Offset of vector control in an entry; bit 0 is the per-vector mask.</summary>
    public const int EntryVectorControl = 12;
}
