namespace Sim.Spec.Virtio;

/// <summary>
/// Register layout of the virtio PCI transport (VIRTIO 1.2 §4.1) and of QEMU's virtio-pci placement
/// of its regions. Offsets are bytes; every field is little-endian.
/// </summary>
public static class VirtioPciLayout
{
    // ---- Identity, VIRTIO 1.2 §4.1.2 ----

    /// <summary>PCI vendor of every virtio device (Red Hat / Qumranet).</summary>
    public const ushort VendorId = 0x1AF4;

    /// <summary>Modern (non-transitional) device ids are 0x1040 + virtio device id (§4.1.2).</summary>
    public const ushort ModernDeviceIdBase = 0x1040;

    /// <summary>No MSI-X vector assigned (VIRTIO_MSI_NO_VECTOR, §4.1.5.1.2).</summary>
    public const ushort NoVector = 0xFFFF;

    // ---- Vendor-specific capability, §4.1.4 ----

    /// <summary>virtio_pci_cap: cap_vndr, cap_next, cap_len, cfg_type (u8 each), bar (u8), id (u8), padding[2],
    /// offset (le32), length (le32) = 16 bytes.</summary>
    public const int CapLength = 16;

    /// <summary>virtio_pci_notify_cap: virtio_pci_cap + notify_off_multiplier (le32) = 20 bytes.</summary>
    public const int NotifyCapLength = 20;

    /// <summary>virtio_pci_cfg_cap: virtio_pci_cap + pci_cfg_data[4] = 20 bytes.</summary>
    public const int PciCfgCapLength = 20;

    /// <summary>Offset of cap_len.</summary>
    public const int CapLenOffset = 2;

    /// <summary>Offset of cfg_type.</summary>
    public const int CapCfgTypeOffset = 3;

    /// <summary>Offset of bar.</summary>
    public const int CapBarOffset = 4;

    /// <summary>Offset of offset (le32).</summary>
    public const int CapOffsetOffset = 8;

    /// <summary>Offset of length (le32).</summary>
    public const int CapLengthOffset = 12;

    /// <summary>Offset of notify_off_multiplier (le32) in the notify capability.</summary>
    public const int CapNotifyMultiplierOffset = 16;

    /// <summary>Offset of pci_cfg_data (4 bytes) in the PCI configuration access capability.</summary>
    public const int CapPciCfgDataOffset = 16;

    /// <summary>VIRTIO_PCI_CAP_COMMON_CFG.</summary>
    public const byte CapCommonCfg = 1;

    /// <summary>VIRTIO_PCI_CAP_NOTIFY_CFG.</summary>
    public const byte CapNotifyCfg = 2;

    /// <summary>VIRTIO_PCI_CAP_ISR_CFG.</summary>
    public const byte CapIsrCfg = 3;

    /// <summary>VIRTIO_PCI_CAP_DEVICE_CFG.</summary>
    public const byte CapDeviceCfg = 4;

    /// <summary>VIRTIO_PCI_CAP_PCI_CFG.</summary>
    public const byte CapPciCfg = 5;

    // ---- QEMU's placement (hw/virtio/virtio-pci.c) ----

    /// <summary>BAR of the legacy I/O registers (QEMU: BAR 0).</summary>
    public const int LegacyBar = 0;

    /// <summary>BAR of the MSI-X table and PBA (QEMU msix_init_exclusive_bar: BAR 1).</summary>
    public const int MsixBar = 1;

    /// <summary>BAR of the modern regions (QEMU modern_mem_bar_idx: BAR 4, 64-bit prefetchable).</summary>
    public const int ModernBar = 4;

    /// <summary>Each modern region occupies its own 4 KiB (QEMU: common, ISR, device, notify at 0x0000,
    /// 0x1000, 0x2000, 0x3000).</summary>
    public const int ModernRegionSize = 0x1000;

    /// <summary>The common configuration structure (VIRTIO 1.2 §4.1.4.3) at the start of the modern BAR.</summary>
    public const int ModernCommonOffset = 0x0000;

    /// <summary>The ISR status byte (VIRTIO 1.2 §4.1.4.5), in the second region.</summary>
    public const int ModernIsrOffset = 0x1000;

    /// <summary>The device-specific configuration (VIRTIO 1.2 §4.1.4.6), in the third region.</summary>
    public const int ModernDeviceOffset = 0x2000;

    /// <summary>The notification area (VIRTIO 1.2 §4.1.4.4), in the fourth region.</summary>
    public const int ModernNotifyOffset = 0x3000;

    /// <summary>QEMU's modern BAR: four 4 KiB regions.</summary>
    public const ulong ModernBarSize = 0x4000;

    /// <summary>notify_off_multiplier: queue q is notified at notify base + q × 4 (QEMU without page-per-vq).</summary>
    public const int NotifyOffMultiplier = 4;

    // ---- Common configuration structure, §4.1.4.3 ----

    /// <summary>device_feature_select (le32, RW).</summary>
    public const int CommonDeviceFeatureSelect = 0x00;

    /// <summary>device_feature (le32, RO): 32 feature bits selected by device_feature_select.</summary>
    public const int CommonDeviceFeature = 0x04;

    /// <summary>driver_feature_select (le32, RW).</summary>
    public const int CommonDriverFeatureSelect = 0x08;

    /// <summary>driver_feature (le32, RW).</summary>
    public const int CommonDriverFeature = 0x0C;

    /// <summary>config_msix_vector (le16, RW).</summary>
    public const int CommonConfigMsixVector = 0x10;

    /// <summary>num_queues (le16, RO).</summary>
    public const int CommonNumQueues = 0x12;

    /// <summary>device_status (u8, RW).</summary>
    public const int CommonDeviceStatus = 0x14;

    /// <summary>config_generation (u8, RO).</summary>
    public const int CommonConfigGeneration = 0x15;

    /// <summary>queue_select (le16, RW).</summary>
    public const int CommonQueueSelect = 0x16;

    /// <summary>queue_size (le16, RW).</summary>
    public const int CommonQueueSize = 0x18;

    /// <summary>queue_msix_vector (le16, RW).</summary>
    public const int CommonQueueMsixVector = 0x1A;

    /// <summary>queue_enable (le16, RW).</summary>
    public const int CommonQueueEnable = 0x1C;

    /// <summary>queue_notify_off (le16, RO).</summary>
    public const int CommonQueueNotifyOff = 0x1E;

    /// <summary>queue_desc (le64, RW), accessed as two le32 halves.</summary>
    public const int CommonQueueDesc = 0x20;

    /// <summary>queue_driver (le64, RW): the available ring.</summary>
    public const int CommonQueueDriver = 0x28;

    /// <summary>queue_device (le64, RW): the used ring.</summary>
    public const int CommonQueueDevice = 0x30;

    // ---- Legacy interface, §4.1.4.8 (I/O BAR 0) ----

    /// <summary>HOST_FEATURES (le32, RO): device features bits 0..31.</summary>
    public const int LegacyHostFeatures = 0;

    /// <summary>GUEST_FEATURES (le32, RW).</summary>
    public const int LegacyGuestFeatures = 4;

    /// <summary>QUEUE_PFN (le32, RW): ring address >> 12; writing 0 resets the device (QEMU).</summary>
    public const int LegacyQueuePfn = 8;

    /// <summary>QUEUE_NUM (le16, RO): size of the selected queue.</summary>
    public const int LegacyQueueNum = 12;

    /// <summary>QUEUE_SEL (le16, RW).</summary>
    public const int LegacyQueueSel = 14;

    /// <summary>QUEUE_NOTIFY (le16, RW): write a queue index to kick it.</summary>
    public const int LegacyQueueNotify = 16;

    /// <summary>STATUS (u8, RW).</summary>
    public const int LegacyStatus = 18;

    /// <summary>ISR (u8, RO, read clears).</summary>
    public const int LegacyIsr = 19;

    /// <summary>CONFIG_VECTOR (le16, RW), only while MSI-X is enabled.</summary>
    public const int LegacyConfigVector = 20;

    /// <summary>QUEUE_VECTOR (le16, RW), only while MSI-X is enabled.</summary>
    public const int LegacyQueueVector = 22;

    /// <summary>Device config starts here without MSI-X (VIRTIO_PCI_CONFIG_OFF(false)).</summary>
    public const int LegacyConfigNoMsix = 20;

    /// <summary>Device config starts here with MSI-X enabled (VIRTIO_PCI_CONFIG_OFF(true)).</summary>
    public const int LegacyConfigMsix = 24;

    /// <summary>Legacy QUEUE_PFN shift: page number of the 4 KiB-aligned ring (VIRTIO_PCI_QUEUE_ADDR_SHIFT).</summary>
    public const int LegacyQueueAddressShift = 12;

    // ---- ISR, §4.1.4.5 ----

    /// <summary>ISR bit 0: a queue interrupt.</summary>
    public const byte IsrQueue = 1;

    /// <summary>ISR bit 1: a configuration change interrupt.</summary>
    public const byte IsrConfig = 2;

    // ---- Features the transport adds, §6 ----

    /// <summary>VIRTIO_F_ANY_LAYOUT (27, legacy only): QEMU offers it to legacy drivers and hides it from modern
    /// ones.</summary>
    public const int FAnyLayout = 27;
}
