namespace Sim.Spec.Blk;

/// <summary>
/// virtio-blk constants (VIRTIO 1.2 §5.2; Linux include/uapi/linux/virtio_blk.h). A request is
/// <c>struct virtio_blk_outhdr { le32 type; le32 reserved; le64 sector; }</c> (device-readable, 16 bytes), then the
/// data buffers, then <c>u8 status</c> (device-writable, last).
/// </summary>
public static class BlkSpec
{
    /// <summary>Virtio device id of a block device (VIRTIO 1.2 §5.2.1).</summary>
    public const ushort DeviceId = 2;

    /// <summary>Transitional PCI device id (VIRTIO 1.2 §4.1.2.1: 0x1001 for block).</summary>
    public const ushort LegacyPciDeviceId = 0x1001;

    /// <summary>PCI class of QEMU's virtio-blk-pci: mass storage, SCSI (PCI_CLASS_STORAGE_SCSI).</summary>
    public const uint PciClassStorageScsi = 0x010000;

    /// <summary>Bytes of a sector: the unit of <c>sector</c> and of capacity, whatever blk_size says
    /// (§5.2.6).</summary>
    public const int SectorSize = 512;

    /// <summary>log2 of <see cref="SectorSize"/>.</summary>
    public const int SectorShift = 9;

    /// <summary>Size of the request header: type (le32) + reserved (le32) + sector (le64).</summary>
    public const int OutHeaderSize = 16;

    /// <summary>Offset of type in the header.</summary>
    public const int OutHeaderTypeOffset = 0;

    /// <summary>Offset of reserved (legacy: ioprio) in the header.</summary>
    public const int OutHeaderReservedOffset = 4;

    /// <summary>Offset of sector in the header.</summary>
    public const int OutHeaderSectorOffset = 8;

    /// <summary>Size of the status trailer (struct virtio_blk_inhdr { u8 status; }).</summary>
    public const int InHeaderSize = 1;

    /// <summary>Bytes a GET_ID request returns at most (VIRTIO_BLK_ID_BYTES).</summary>
    public const int IdBytes = 20;

    /// <summary>VIRTIO_BLK_T_IN: read sectors into the writable data buffers.</summary>
    public const uint TypeIn = 0;

    /// <summary>VIRTIO_BLK_T_OUT: write the readable data buffers to sectors.</summary>
    public const uint TypeOut = 1;

    /// <summary>VIRTIO_BLK_T_SCSI_CMD (legacy, §5.2.6.3): QEMU answers UNSUPP.</summary>
    public const uint TypeScsiCmd = 2;

    /// <summary>VIRTIO_BLK_T_FLUSH.</summary>
    public const uint TypeFlush = 4;

    /// <summary>VIRTIO_BLK_T_GET_ID: the device id string into the writable buffer.</summary>
    public const uint TypeGetId = 8;

    /// <summary>VIRTIO_BLK_T_BARRIER flag of legacy drivers (§5.2.6.3); QEMU masks it off.</summary>
    public const uint TypeBarrier = 0x8000_0000;

    /// <summary>VIRTIO_BLK_S_OK.</summary>
    public const byte StatusOk = 0;

    /// <summary>VIRTIO_BLK_S_IOERR.</summary>
    public const byte StatusIoErr = 1;

    /// <summary>VIRTIO_BLK_S_UNSUPP.</summary>
    public const byte StatusUnsupp = 2;

    /// <summary>VIRTIO_BLK_F_SEG_MAX: seg_max is valid.</summary>
    public const int FSegMax = 2;

    /// <summary>VIRTIO_BLK_F_RO: the disk is read-only.</summary>
    public const int FRo = 5;

    /// <summary>VIRTIO_BLK_F_BLK_SIZE: blk_size is valid.</summary>
    public const int FBlkSize = 6;

    /// <summary>VIRTIO_BLK_F_FLUSH: the device handles FLUSH.</summary>
    public const int FFlush = 9;

    /// <summary>Device configuration used here: capacity (le64) + size_max (le32) + seg_max (le32) + geometry
    /// (cylinders le16, heads u8, sectors u8) + blk_size (le32) (VIRTIO 1.2 §5.2.4, up to blk_size).</summary>
    public const int ConfigSize = 24;

    /// <summary>Offset of capacity (le64, in 512-byte sectors).</summary>
    public const int ConfigCapacityOffset = 0;

    /// <summary>Offset of size_max (le32).</summary>
    public const int ConfigSizeMaxOffset = 8;

    /// <summary>Offset of seg_max (le32).</summary>
    public const int ConfigSegMaxOffset = 12;

    /// <summary>Offset of geometry.</summary>
    public const int ConfigGeometryOffset = 16;

    /// <summary>Offset of blk_size (le32).</summary>
    public const int ConfigBlkSizeOffset = 20;
}
