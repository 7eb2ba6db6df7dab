using System.Buffers;

namespace Sim.Engine.Trace.Codec;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> that collects bytes in one reused buffer and writes them to a
/// <see cref="Stream"/> when the buffer fills or on <see cref="Flush"/>: a trace is streamed, never
/// held whole. The buffer grows only when one request is larger than it (a long header string).
/// </summary>
public sealed class StreamBufferWriter : IBufferWriter<byte>
{
    /// <summary>Default buffer size: large enough that stream writes are rare, small enough to stay out of the
    /// LOH.</summary>
    public const int BufferBytesDefault = 64 * 1024;

    private readonly Stream _stream;
    private byte[] _buffer;
    private int _count;

    /// <summary>A writer into <paramref name="stream"/> with a buffer of <paramref name="bufferBytes"/>.</summary>
    public StreamBufferWriter(Stream stream, int bufferBytes = BufferBytesDefault)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, 16);
        _stream = stream;
        _buffer = new byte[bufferBytes];
    }

    /// <summary>Bytes handed to the stream so far (not counting the ones still buffered).</summary>
    public long BytesFlushed { get; private set; }

    /// <summary>Bytes written so far, buffered or not.</summary>
    public long BytesWritten => BytesFlushed + _count;

    /// <summary>Commits <paramref name="count"/> bytes of the last span or memory handed out.</summary>
    public void Advance(int count)
    {
        if (Narrow.AsUInt32Bits(count) > unchecked((uint)(_buffer.Length - _count)))
            throw new ArgumentOutOfRangeException(nameof(count), "advanced past the buffer that was handed out");
        _count += count;
    }

    /// <summary>Room for at least <paramref name="sizeHint"/> bytes (at least one byte when 0).</summary>
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_count);
    }

    /// <summary>Room for at least <paramref name="sizeHint"/> bytes (at least one byte when 0).</summary>
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_count);
    }

    private void Reserve(int sizeHint)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        if (sizeHint == 0)
            sizeHint = 1;
        if (_buffer.Length - _count >= sizeHint)
            return;
        Flush();
        if (_buffer.Length < sizeHint)
            _buffer = new byte[sizeHint];
    }

    /// <summary>Writes the buffered bytes to the stream (does not flush the stream itself).</summary>
    public void Flush()
    {
        if (_count == 0)
            return;
        _stream.Write(_buffer, 0, _count);
        BytesFlushed += _count;
        _count = 0;
    }
}
