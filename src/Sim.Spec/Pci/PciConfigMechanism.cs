namespace Sim.Spec.Pci;

/// <summary>
/// PCI configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2): the CONFIG_ADDRESS / CONFIG_DATA I/O
/// ports through which a guest reaches configuration space, shared by the host bridge model and the
/// guest's enumerator.
/// </summary>
public static class PciConfigMechanism
{
    /// <summary>First port of CONFIG_ADDRESS.</summary>
    public const ushort ConfigAddressPort = 0xCF8;

    /// <summary>First port of CONFIG_DATA.</summary>
    public const ushort ConfigDataPort = 0xCFC;

    /// <summary>Device numbers on bus 0 (5 bits).</summary>
    public const int SlotCount = 32;

    /// <summary>CONFIG_ADDRESS bit 31: configuration cycles enabled.</summary>
    public const uint ConfigAddressEnable = 1u << 31;
}
