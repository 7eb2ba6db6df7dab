namespace Sim.Spec.Pci;

/// <summary>
/// Layout of the PCI type 0 configuration header and the bits the model implements
/// (PCI Local Bus Specification 3.0 §6.1, §6.2; capability ids from the PCI Code and ID Assignment
/// Specification). Offsets are byte offsets into the 256-byte configuration space.
/// </summary>
public static class PciConfigRegisters
{
    /// <summary>Bytes of conventional PCI configuration space (PCI 3.0 §6.1): header + device-specific area.</summary>
    public const int SpaceSize = 256;

    /// <summary>Bytes of the predefined type 0 header (0x00-0x3F); capabilities live above it.</summary>
    public const int HeaderSize = 0x40;

    /// <summary>Vendor ID (le16). 0xFFFF is never assigned: host bridges return it for absent devices.</summary>
    public const int VendorId = 0x00;

    /// <summary>Device ID (le16).</summary>
    public const int DeviceId = 0x02;

    /// <summary>Command register (le16), PCI 3.0 §6.2.2.</summary>
    public const int Command = 0x04;

    /// <summary>Status register (le16), PCI 3.0 §6.2.3.</summary>
    public const int Status = 0x06;

    /// <summary>Revision ID (u8).</summary>
    public const int RevisionId = 0x08;

    /// <summary>Class code (3 bytes): programming interface (0x09), sub-class (0x0A), base class (0x0B).</summary>
    public const int ClassCode = 0x09;

    /// <summary>Cache line size (u8, read/write, no effect in the model).</summary>
    public const int CacheLineSize = 0x0C;

    /// <summary>Latency timer (u8).</summary>
    public const int LatencyTimer = 0x0D;

    /// <summary>Header type (u8): 0x00 = type 0 single function; bit 7 = multi-function.</summary>
    public const int HeaderType = 0x0E;

    /// <summary>First Base Address Register (le32); six BARs at 0x10, 0x14, ..., 0x24 (PCI 3.0 §6.2.5.1).</summary>
    public const int Bar0 = 0x10;

    /// <summary>Number of BAR slots in a type 0 header.</summary>
    public const int BarCount = 6;

    /// <summary>Subsystem vendor ID (le16, read-only).</summary>
    public const int SubsystemVendorId = 0x2C;

    /// <summary>Subsystem ID (le16, read-only).</summary>
    public const int SubsystemId = 0x2E;

    /// <summary>Expansion ROM base address (le32); unimplemented (reads 0, read-only).</summary>
    public const int ExpansionRom = 0x30;

    /// <summary>Capabilities pointer (u8), valid when <see cref="StatusCapabilitiesList"/> is set (PCI 3.0
    /// §6.7).</summary>
    public const int CapabilitiesPointer = 0x34;

    /// <summary>Interrupt line (u8, read/write scratch for the OS).</summary>
    public const int InterruptLine = 0x3C;

    /// <summary>Interrupt pin (u8, read-only): 0 = none, 1..4 = INTA#..INTD#.</summary>
    public const int InterruptPin = 0x3D;

    /// <summary>Command: I/O space enable (bit 0): the device decodes its I/O BARs.</summary>
    public const ushort CommandIoSpace = 1 << 0;

    /// <summary>Command: memory space enable (bit 1): the device decodes its memory BARs.</summary>
    public const ushort CommandMemorySpace = 1 << 1;

    /// <summary>Command: bus master enable (bit 2): the device may DMA.</summary>
    public const ushort CommandBusMaster = 1 << 2;

    /// <summary>Command: SERR# enable (bit 8).</summary>
    public const ushort CommandSerr = 1 << 8;

    /// <summary>Command: interrupt disable (bit 10): INTx# is not asserted while set (PCI 3.0 §6.2.2).</summary>
    public const ushort CommandIntxDisable = 1 << 10;

    /// <summary>Command bits the guest may change (QEMU pci_init_wmask: IO, MEMORY, MASTER, SERR,
    /// INTX_DISABLE).</summary>
    public const ushort CommandWritable =
        CommandIoSpace | CommandMemorySpace | CommandBusMaster | CommandSerr | CommandIntxDisable;

    /// <summary>Status: interrupt status (bit 3, read-only): the device's INTx# request, regardless of
    /// <see cref="CommandIntxDisable"/>.</summary>
    public const ushort StatusInterrupt = 1 << 3;

    /// <summary>Status: capabilities list (bit 4, read-only): <see cref="CapabilitiesPointer"/> is valid.</summary>
    public const ushort StatusCapabilitiesList = 1 << 4;

    /// <summary>Status error bits that are write-one-to-clear (PCI 3.0 §6.2.3; QEMU pci_init_w1cmask):
    /// master data parity error (8), signaled/received target abort (11, 12), received master abort (13),
    /// signaled system error (14), detected parity error (15).</summary>
    public const ushort StatusWriteOneToClear = (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

    /// <summary>BAR bit 0: 1 = I/O space, 0 = memory space.</summary>
    public const uint BarSpaceIo = 0x1;

    /// <summary>Memory BAR type bits 2:1 = 10b: 64-bit BAR occupying two slots.</summary>
    public const uint BarMemoryType64 = 0x4;

    /// <summary>Memory BAR bit 3: prefetchable.</summary>
    public const uint BarMemoryPrefetchable = 0x8;

    /// <summary>Read-only low bits of an I/O BAR (bit 0 space, bit 1 reserved).</summary>
    public const uint BarIoFlagsMask = 0x3;

    /// <summary>Read-only low bits of a memory BAR (bit 0 space, bits 2:1 type, bit 3 prefetchable).</summary>
    public const uint BarMemoryFlagsMask = 0xF;

    /// <summary>Capability ID: MSI-X (PCI 3.0 §6.8.2).</summary>
    public const byte CapabilityIdMsix = 0x11;

    /// <summary>Capability ID: vendor specific (used by virtio-pci, VIRTIO 1.2 §4.1.4).</summary>
    public const byte CapabilityIdVendor = 0x09;

    /// <summary>Offset of the "next" pointer inside every capability (id u8, next u8, ...).</summary>
    public const int CapabilityNext = 1;

    /// <summary>Most capabilities a list walk follows: 48 dwords fit between 0x40 and 0xFF, so a longer
    /// walk has looped (the bound Linux's pci_find_next_cap_ttl uses).</summary>
    public const int CapabilityWalkMax = 48;
}
