using Sim.Engine;
using Sim.Spec.Blk;

namespace Sim.Devices.Virtio.Blk;

/// <summary>A disk image held in host memory (QEMU's null-co/ram-like backend), zero-filled or copied from an
/// image.</summary>
public sealed class MemoryBlockBackend : IBlockBackend
{
    /// <summary>Largest in-memory image (a host-side bound; the size is a host option, never a guest value).</summary>
    public const ulong SizeBytesMax = 1UL << 30;

    private readonly byte[] _data;

    /// <summary>A zeroed disk of <paramref name="sizeBytes"/> (a positive multiple of 512, at most
    /// <see cref="SizeBytesMax"/>).</summary>
    public MemoryBlockBackend(ulong sizeBytes, bool readOnly = false)
    {
        if (sizeBytes == 0 || sizeBytes > SizeBytesMax || sizeBytes % BlkSpec.SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(sizeBytes),
                $"must be a positive multiple of {BlkSpec.SectorSize} up to {SizeBytesMax}"
            );
        }
        _data = new byte[sizeBytes];
        IsReadOnly = readOnly;
    }

    /// <summary>A disk holding a copy of <paramref name="image"/> (its length a positive multiple of 512).</summary>
    public MemoryBlockBackend(ReadOnlySpan<byte> image, bool readOnly = false)
        : this(Narrow.AsUInt64Bits(image.Length), readOnly)
    {
        image.CopyTo(_data);
    }

    /// <inheritdoc/>
    public ulong SizeBytes => Narrow.AsUInt64Bits(_data.Length);

    /// <inheritdoc/>
    public bool IsReadOnly { get; }

    /// <summary>Flushes so far.</summary>
    public long Flushes { get; private set; }

    /// <summary>The image bytes (for tests and reports).</summary>
    public ReadOnlySpan<byte> Contents => _data;

    /// <inheritdoc/>
    public bool TryRead(ulong offset, Span<byte> data)
    {
        if (!InRange(offset, data.Length))
            return false;
        _data.AsSpan(Narrow.LowInt32(offset), data.Length).CopyTo(data);
        return true;
    }

    /// <inheritdoc/>
    public bool TryWrite(ulong offset, ReadOnlySpan<byte> data)
    {
        if (IsReadOnly || !InRange(offset, data.Length))
            return false;
        data.CopyTo(_data.AsSpan(Narrow.LowInt32(offset)));
        return true;
    }

    /// <inheritdoc/>
    public bool TryFlush()
    {
        Flushes++;
        return true;
    }

    private bool InRange(ulong offset, int length) =>
        Narrow.AsUInt64Bits(length) <= SizeBytes && offset <= SizeBytes - Narrow.AsUInt64Bits(length);
}
