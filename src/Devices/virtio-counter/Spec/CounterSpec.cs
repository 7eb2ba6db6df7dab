namespace Sim.Spec.Counter;

/// <summary>
/// Identity and layout of the virtio counter device (seed 002, "virtio-test"): QEMU
/// include/standard-headers/linux/virtio_ids.h VIRTIO_ID_TEST 21, include/hw/pci/pci.h
/// PCI_DEVICE_ID_VIRTIO_TEST 0x1013, include/standard-headers/linux/virtio_test.h.
/// </summary>
public static class CounterSpec
{
    /// <summary>Virtio device id (seed: VIRTIO_ID_TEST).</summary>
    public const ushort DeviceId = 21;

    /// <summary>Transitional PCI device id (seed: PCI_DEVICE_ID_VIRTIO_TEST; a legacy id below 0x1040).</summary>
    public const ushort LegacyPciDeviceId = 0x1013;

    /// <summary>Feature bit VIRTIO_TEST_F_CAN_PRINT: the driver creates its "print" queue only when
    /// negotiated.</summary>
    public const int FCanPrint = 0;

    /// <summary>Size of the one queue (seed: virtio_add_queue(vdev, 128, ...)).</summary>
    public const int QueueSize = 128;

    /// <summary>Index of the print queue.</summary>
    public const int PrintQueue = 0;

    /// <summary>Bytes of one number in a request's out buffer (seed: iov_to_buf(..., &amp;pfn, 4),
    /// virtio_ldl_p).</summary>
    public const int NumberSize = 4;

    /// <summary>QEMU's struct virtio_test_config: num_pages (le32) + actual (le32) + event (le32). The seed's Linux
    /// header declares only num_pages and actual (8 bytes): the two sides disagree, harmlessly, since the driver reads
    /// neither.</summary>
    public const int ConfigSize = 12;

    /// <summary>Offset of num_pages (le32) in the configuration.</summary>
    public const int ConfigNumPagesOffset = 0;

    /// <summary>Offset of actual (le32).</summary>
    public const int ConfigActualOffset = 4;

    /// <summary>Offset of event (le32).</summary>
    public const int ConfigEventOffset = 8;

    /// <summary>Seed: the timer is first armed at realize, 30 s of virtual time ahead (test_stats_change_timer(s,
    /// 30)).</summary>
    public const long SeedFirstDelayNs = 30_000_000_000;

    /// <summary>Seed: the callback re-arms it 1 s ahead (test_stats_change_timer(s, 1)).</summary>
    public const long SeedPeriodNs = 1_000_000_000;
}
