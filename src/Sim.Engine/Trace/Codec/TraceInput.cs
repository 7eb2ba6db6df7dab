using System.Runtime.CompilerServices;

namespace Sim.Engine.Trace.Codec;

/// <summary>
/// The window of a trace stream that <see cref="TraceReader"/> hands to MessagePack-CSharp's
/// <c>MessagePackReader</c> (which decodes a buffer, not a stream): it holds the unread bytes
/// contiguously, tracks the absolute offset, and grows only when it is full of real bytes, so a
/// length field declaring 4 GiB in a 10-byte file costs nothing. Never seeks.
/// </summary>
internal sealed class TraceInput
{
    /// <summary>Initial window; it grows (doubling) only to hold one long object.</summary>
    public const int BufferBytesInitial = 64 * 1024;

    private readonly Stream _stream;
    private byte[] _buffer = new byte[BufferBytesInitial];
    private int _position;
    private int _end;
    private long _bufferOffset;

    public TraceInput(Stream stream) => _stream = stream;

    /// <summary>Absolute offset of the first unread byte.</summary>
    public long Offset => _bufferOffset + _position;

    /// <summary>Unread bytes in the window.</summary>
    public int Available => _end - _position;

    /// <summary>The stream has ended: the window holds every byte that is left.</summary>
    public bool EndOfStream { get; private set; }

    /// <summary>Why the stream failed, once it did.</summary>
    public string? IoError { get; private set; }

    public ReadOnlyMemory<byte> Window => _buffer.AsMemory(_position, _end - _position);

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(_position, _end - _position);

    public void Advance(long consumed) => _position = checked(_position + (int)consumed);

    /// <summary>Makes at least <paramref name="count"/> unread bytes contiguous, reading more of the
    /// stream; false when the stream ends (or fails: <see cref="IoError"/>) first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Fill(int count) => _end - _position >= count || FillSlow(count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FillSlow(int count)
    {
        if (_position > 0)
        {
            int kept = _end - _position;
            Buffer.BlockCopy(_buffer, _position, _buffer, 0, kept);
            _bufferOffset += _position;
            _position = 0;
            _end = kept;
        }
        while (_end < count)
        {
            if (EndOfStream)
                return false;
            if (_end == _buffer.Length)
                Array.Resize(
                    ref _buffer,
                    checked((int)Math.Min(Math.Max(_buffer.Length * 2L, count), int.MaxValue - 64))
                );
            int read;
            try
            {
                read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            }
            catch (IOException e)
            {
                IoError ??= e.Message;
                EndOfStream = true;
                return false;
            }
            if (read <= 0)
            {
                EndOfStream = true;
                return false;
            }
            _end += read;
        }
        return true;
    }
}
