using Sim.Engine;
using Sim.Spec.Blk;

namespace Sim.Devices.Virtio.Blk;

/// <summary>
/// A disk image in a seekable host <see cref="Stream"/> (a file: QEMU's file-posix backend). The capacity is the
/// stream's length at construction rounded down to whole sectors, at most <see cref="SizeBytesMax"/>; the stream is
/// never grown. Host I/O failures become I/O errors for the guest, not exceptions.
/// </summary>
public sealed class StreamBlockBackend : IBlockBackend, IDisposable
{
    /// <summary>Largest image used (host-side bound).</summary>
    public const ulong SizeBytesMax = 1UL << 40;

    private readonly Stream _stream;
    private readonly bool _ownsStream;

    /// <param name="stream">Readable, seekable; writable unless <paramref name="readOnly"/>.</param>
    /// <param name="readOnly">Refuse writes (VIRTIO_BLK_F_RO).</param>
    /// <param name="ownsStream">Dispose the stream with the backend.</param>
    public StreamBlockBackend(Stream stream, bool readOnly = false, bool ownsStream = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead || !stream.CanSeek)
            throw new ArgumentException("the stream must be readable and seekable", nameof(stream));
        if (!readOnly && !stream.CanWrite)
            throw new ArgumentException("a writable disk needs a writable stream", nameof(stream));
        ulong length = Narrow.AsUInt64Bits(stream.Length);
        SizeBytes = Math.Min(length, SizeBytesMax) / BlkSpec.SectorSize * BlkSpec.SectorSize;
        if (SizeBytes == 0)
            throw new ArgumentException($"the image holds no whole {BlkSpec.SectorSize}-byte sector", nameof(stream));
        _stream = stream;
        IsReadOnly = readOnly;
        _ownsStream = ownsStream;
    }

    /// <summary>Opens the image file at <paramref name="path"/> (it must exist; it is never resized).</summary>
    public static StreamBlockBackend Open(string path, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        var stream = new FileStream(
            path,
            FileMode.Open,
            readOnly ? FileAccess.Read : FileAccess.ReadWrite,
            readOnly ? FileShare.Read : FileShare.None
        );
        try
        {
            return new StreamBlockBackend(stream, readOnly, ownsStream: true);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public ulong SizeBytes { get; }

    /// <inheritdoc/>
    public bool IsReadOnly { get; }

    /// <inheritdoc/>
    public bool TryRead(ulong offset, Span<byte> data)
    {
        if (!InRange(offset, data.Length))
            return false;
        try
        {
            _stream.Position = Narrow.AsInt64Bits(offset);
            _stream.ReadExactly(data);
            return true;
        }
        catch (IOException)
        {
            return false; // EndOfStreamException included: the file shrank under us
        }
    }

    /// <inheritdoc/>
    public bool TryWrite(ulong offset, ReadOnlySpan<byte> data)
    {
        if (IsReadOnly || !InRange(offset, data.Length))
            return false;
        try
        {
            _stream.Position = Narrow.AsInt64Bits(offset);
            _stream.Write(data);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public bool TryFlush()
    {
        try
        {
            _stream.Flush();
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_ownsStream)
            _stream.Dispose();
    }

    private bool InRange(ulong offset, int length) =>
        Narrow.AsUInt64Bits(length) <= SizeBytes && offset <= SizeBytes - Narrow.AsUInt64Bits(length);
}
