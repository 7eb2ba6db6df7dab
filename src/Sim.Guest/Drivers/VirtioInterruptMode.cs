namespace Sim.Guest.Drivers;

/// <summary>How the device interrupts the guest driver (Linux vp_find_vqs: MSI-X first, INTx as the
/// fallback).</summary>
public enum VirtioInterruptMode : byte
{
    /// <summary>MSI-X: vector 0 for configuration changes, one vector per queue (shared when the table is
    /// small).</summary>
    Msix = 0,

    /// <summary>INTx: one level-triggered line; the handler reads (and so clears) the ISR to learn why (VIRTIO 1.2
    /// §4.1.4.5).</summary>
    Intx = 1,
}
