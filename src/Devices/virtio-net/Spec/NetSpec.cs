namespace Sim.Spec.Net;

/// <summary>
/// Identity and layout of the virtio network device (VIRTIO 1.2 §5.1), shared by the device model and its driver.
/// virtsim models the minimal device: one receiveq/transmitq pair, VIRTIO_NET_F_MAC, no control queue, no
/// mergeable receive buffers, no offloads. With VIRTIO_F_VERSION_1 every packet starts with the 12-byte
/// <c>struct virtio_net_hdr</c> (§5.1.6: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers).
/// </summary>
public static class NetSpec
{
    /// <summary>Virtio device id of the network card (VIRTIO 1.2 §5 table "Device ID").</summary>
    public const ushort DeviceId = 1;

    /// <summary>Transitional PCI device id (VIRTIO 1.2 §4.1.2.1 table: 0x1000 network card; QEMU
    /// PCI_DEVICE_ID_VIRTIO_NET).</summary>
    public const ushort LegacyPciDeviceId = 0x1000;

    /// <summary>Index of receiveq1 (VIRTIO 1.2 §5.1.2).</summary>
    public const int ReceiveQueue = 0;

    /// <summary>Index of transmitq1 (VIRTIO 1.2 §5.1.2).</summary>
    public const int TransmitQueue = 1;

    /// <summary>Size of each queue (QEMU hw/net/virtio-net.c: VIRTIO_NET_RX_QUEUE_DEFAULT_SIZE and
    /// VIRTIO_NET_TX_QUEUE_DEFAULT_SIZE, 256).</summary>
    public const int QueueSize = 256;

    /// <summary>VIRTIO_NET_F_MAC: the device has a MAC address in its configuration (VIRTIO 1.2 §5.1.3).</summary>
    public const int FMac = 5;

    /// <summary>VIRTIO_NET_F_MRG_RXBUF (VIRTIO 1.2 §5.1.3); never offered here, named for num_buffers.</summary>
    public const int FMrgRxBuf = 15;

    /// <summary>Offset of <c>mac[6]</c> in <c>struct virtio_net_config</c> (VIRTIO 1.2 §5.1.4).</summary>
    public const int ConfigMacOffset = 0;

    /// <summary>Bytes of a MAC address.</summary>
    public const int MacBytes = 6;

    /// <summary>Bytes of the configuration with only VIRTIO_NET_F_MAC: <c>mac[6]</c> (VIRTIO 1.2 §5.1.4; QEMU
    /// virtio_net_config_size with status, mq and mtu off).</summary>
    public const int ConfigBytes = MacBytes;

    /// <summary>Bytes of <c>struct virtio_net_hdr</c> with VIRTIO_F_VERSION_1 (VIRTIO 1.2 §5.1.6: flags u8,
    /// gso_type u8, hdr_len le16, gso_size le16, csum_start le16, csum_offset le16, num_buffers le16).</summary>
    public const int HeaderBytes = 12;

    /// <summary>Offset of num_buffers in the header (VIRTIO 1.2 §5.1.6).</summary>
    public const int HeaderNumBuffersOffset = 10;

    /// <summary>VIRTIO_NET_HDR_GSO_NONE (VIRTIO 1.2 §5.1.6).</summary>
    public const byte GsoNone = 0;

    /// <summary>Bytes of an Ethernet header (destination MAC, source MAC, ethertype).</summary>
    public const int EthernetHeaderBytes = 14;
}
