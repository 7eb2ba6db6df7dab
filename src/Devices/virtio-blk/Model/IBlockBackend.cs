namespace Sim.Devices.Virtio.Blk;

/// <summary>
/// Host storage behind a virtio-blk device (QEMU's BlockBackend): a byte array of <see cref="SizeBytes"/>. Offsets
/// and lengths come from the device after its range checks, but a backend checks them again and answers false
/// (an I/O error) rather than throwing.
/// </summary>
public interface IBlockBackend
{
    /// <summary>Bytes of storage (a multiple of 512).</summary>
    ulong SizeBytes { get; }

    /// <summary>True when writes are refused (VIRTIO_BLK_F_RO).</summary>
    bool IsReadOnly { get; }

    /// <summary>Reads <paramref name="data"/>.Length bytes at <paramref name="offset"/>; false when out of range or
    /// failed.</summary>
    bool TryRead(ulong offset, Span<byte> data);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>; false when out of range, read-only or
    /// failed.</summary>
    bool TryWrite(ulong offset, ReadOnlySpan<byte> data);

    /// <summary>Makes written data durable; false on failure.</summary>
    bool TryFlush();
}
