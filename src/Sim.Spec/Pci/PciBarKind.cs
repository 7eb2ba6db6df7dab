namespace Sim.Spec.Pci;

/// <summary>What a Base Address Register decodes (PCI 3.0 §6.2.5.1).</summary>
public enum PciBarKind : byte
{
    /// <summary>I/O space BAR (bit 0 = 1): a range of x86 ports, at most 256 bytes.</summary>
    Io = 0,

    /// <summary>32-bit memory BAR (type 00b): placed anywhere below 4 GiB.</summary>
    Memory32 = 1,

    /// <summary>64-bit memory BAR (type 10b): uses this slot and the next for the upper dword.</summary>
    Memory64 = 2,
}
