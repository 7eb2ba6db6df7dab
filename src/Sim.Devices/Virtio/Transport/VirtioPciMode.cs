namespace Sim.Devices.Virtio.Transport;

/// <summary>Which virtio PCI interfaces a transport exposes (VIRTIO 1.2 §4.1.2, QEMU's disable-legacy /
/// disable-modern properties).</summary>
public enum VirtioPciMode : byte
{
    /// <summary>Both the legacy I/O BAR and the modern capabilities; PCI device id from the transitional
    /// range, revision 0 (QEMU's default on a PCI bus).</summary>
    Transitional = 0,

    /// <summary>Modern only (disable-legacy=on): device id 0x1040 + virtio id, revision 1, VERSION_1 offered.</summary>
    Modern = 1,

    /// <summary>Legacy only (disable-modern=on): the I/O BAR of §4.1.4.8, no VERSION_1 (the seed 003 setup).</summary>
    Legacy = 2,
}
