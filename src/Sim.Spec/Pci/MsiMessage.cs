using Sim.Machine.Kvm;

namespace Sim.Spec.Pci;

/// <summary>
/// An MSI/MSI-X message: the address/data pair a device writes to raise an interrupt (PCI 3.0
/// §6.8.3). On x86 the address selects the local APIC window 0xFEEx_xxxx and data bits 7:0 are the
/// vector (Intel SDM vol. 3 §11.11). The simulated irqchip delivers vector
/// <see cref="InterruptController.VectorBase"/> + GSI, so a message maps back to the GSI whose
/// vector it names: this plays the part of KVM's MSI routing entry (kvm_irqchip_add_msi_route).
/// </summary>
/// <param name="Address">Message address (le64 from the table's address low/high dwords).</param>
/// <param name="Data">Message data.</param>
public readonly record struct MsiMessage(ulong Address, uint Data)
{
    /// <summary>Base of the x86 interrupt-message address window.</summary>
    public const ulong ApicWindowBase = 0xFEE0_0000;

    /// <summary>Mask selecting the window bits of an address (0xFEE in bits 31:20; bits 63:32 zero).</summary>
    public const ulong ApicWindowMask = 0xFFFF_FFFF_FFF0_0000;

    /// <summary>The message a guest programs to get <paramref name="gsi"/>'s vector.</summary>
    public static MsiMessage ForGsi(uint gsi) => new(ApicWindowBase, InterruptController.VectorOf(gsi));

    /// <summary>The GSI this message reaches, or false when the address is outside the APIC window or
    /// the vector names no GSI (the write goes nowhere, as a misprogrammed MSI does on real hardware).</summary>
    public bool TryGetGsi(out uint gsi)
    {
        gsi = 0;
        if ((Address & ApicWindowMask) != ApicWindowBase)
            return false;
        uint vector = Data & 0xFF;
        if (vector < InterruptController.VectorBase)
            return false;
        uint candidate = vector - InterruptController.VectorBase;
        if (!InterruptController.IsValidGsi(candidate))
            return false;
        gsi = candidate;
        return true;
    }
}
