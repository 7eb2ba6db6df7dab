namespace Sim.Guest.Drivers;

/// <summary>Which virtio-pci interface the guest driver uses (Linux virtio_pci_modern vs virtio_pci_legacy).</summary>
public enum VirtioDriverTransport : byte
{
    /// <summary>VIRTIO 1.2 §4.1.4: vendor capabilities in a memory BAR, FEATURES_OK, 64-bit ring addresses.</summary>
    Modern = 0,

    /// <summary>VIRTIO 1.2 §4.1.4.8: the I/O BAR 0 registers, QUEUE_PFN with 4096 alignment, no FEATURES_OK.</summary>
    Legacy = 1,
}
