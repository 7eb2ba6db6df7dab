namespace Sim.Spec.Rng;

/// <summary>
/// Identity and layout of the virtio entropy device (VIRTIO 1.2 §5.4), shared by the device model and its driver.
/// The device has one queue, no feature bits (§5.4.3) and no configuration (§5.4.4).
/// </summary>
public static class RngSpec
{
    /// <summary>Virtio device id of the entropy source (VIRTIO 1.2 §5.4.1, §5 table "Device ID").</summary>
    public const ushort DeviceId = 4;

    /// <summary>Transitional PCI device id (VIRTIO 1.2 §4.1.2.1 table: 0x1005 entropy source; QEMU
    /// PCI_DEVICE_ID_VIRTIO_RNG).</summary>
    public const ushort LegacyPciDeviceId = 0x1005;

    /// <summary>Index of requestq, the only queue (VIRTIO 1.2 §5.4.2).</summary>
    public const int RequestQueue = 0;

    /// <summary>Size of requestq (QEMU hw/virtio/virtio-rng.c: virtio_add_queue(vdev, 8, handle_input)).</summary>
    public const int QueueSize = 8;
}
