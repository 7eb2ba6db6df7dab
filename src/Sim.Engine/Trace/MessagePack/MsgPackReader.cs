using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;

namespace Sim.Engine.Trace.MessagePack;

/// <summary>
/// Streaming MessagePack (msgpack spec.md) decoder over a <see cref="Stream"/>. It buffers a window
/// of the stream (never the whole of it), tracks the absolute byte offset, and reports every failure
/// as a <see cref="MsgPackError"/> ("byte N: expected X, found Y") instead of throwing: input is
/// untrusted. Every length and count is checked against a named limit before it is used, and no
/// buffer is ever sized by a length field: the window grows only as real bytes arrive, so a bin 32
/// declaring 4 GiB in a 10-byte file costs nothing. Every call consumes at least one byte or fails,
/// so no loop over hostile input can hang.
/// After the first failure the reader is faulted: every later call fails with the same
/// <see cref="Error"/> (no resynchronisation on garbage).
/// Part of the narrow codec seam the trace code uses (traces/README.md).
/// </summary>
public sealed class MsgPackReader
{
    public const int StringBytesMaxDefault = 1 << 20;
    public const int BinBytesMaxDefault = 16 << 20;
    public const int ExtBytesMaxDefault = 1 << 20;
    public const int ArrayItemsMaxDefault = 1 << 20;
    public const int MapEntriesMaxDefault = 1 << 16;
    public const int DepthMaxDefault = 64;

    /// <summary>Hard bound on <see cref="DepthMax"/>: <see cref="TrySkip"/> keeps one counter per level on the stack.</summary>
    public const int DepthMaxLimit = 512;

    /// <summary>Initial window size; the window grows (doubling) only to hold one long value.</summary>
    public const int BufferBytesInitial = 64 * 1024;

    private static readonly MsgPackType[] TypeOfCode = BuildTypeTable();

    private readonly Stream _stream;
    private byte[] _buffer;
    private int _position;
    private int _end;
    private long _bufferOffset;
    private bool _endOfStream;
    private int _depthMax = DepthMaxDefault;

    /// <param name="stream">Read from its current position; never seeked.</param>
    /// <param name="startOffset">Absolute offset of the stream's current position, for error messages.</param>
    public MsgPackReader(Stream stream, long startOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegative(startOffset);
        _stream = stream;
        _buffer = new byte[BufferBytesInitial];
        _bufferOffset = startOffset;
    }

    /// <summary>Longest str accepted, in bytes.</summary>
    public int StringBytesMax { get; set; } = StringBytesMaxDefault;

    /// <summary>Longest bin accepted, in bytes.</summary>
    public int BinBytesMax { get; set; } = BinBytesMaxDefault;

    /// <summary>Longest ext payload accepted, in bytes.</summary>
    public int ExtBytesMax { get; set; } = ExtBytesMaxDefault;

    /// <summary>Most items an array header may declare.</summary>
    public int ArrayItemsMax { get; set; } = ArrayItemsMaxDefault;

    /// <summary>Most entries a map header may declare.</summary>
    public int MapEntriesMax { get; set; } = MapEntriesMaxDefault;

    /// <summary>Deepest nesting of arrays and maps <see cref="TrySkip"/> walks (1 = a flat container).</summary>
    public int DepthMax
    {
        get => _depthMax;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, DepthMaxLimit);
            _depthMax = value;
        }
    }

    /// <summary>Absolute offset of the next unread byte.</summary>
    public long Offset => _bufferOffset + _position;

    /// <summary>The first failure, or null while none happened.</summary>
    public MsgPackError? Error { get; private set; }

    [MemberNotNullWhen(true, nameof(Error))]
    public bool IsFaulted => Error is not null;

    // ---------------------------------------------------------------- buffering

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Ensure(int count) => _end - _position >= count || FillSlow(count);

    /// <summary>Makes <paramref name="count"/> bytes contiguous in the window, reading more of the
    /// stream. The window grows only when it is full of real bytes, so memory stays within twice the
    /// bytes actually present. False at end of stream (or a stream failure, then <see cref="Error"/> is set).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FillSlow(int count)
    {
        if (Error is not null) return false;
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
            if (_endOfStream) return false;
            if (_end == _buffer.Length)
            {
                int grown = unchecked((int)Math.Min(Math.Max((long)_buffer.Length * 2, 1), Math.Max(count, _buffer.Length + 1)));
                Array.Resize(ref _buffer, grown);
            }
            int read;
            try
            {
                read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            }
            catch (IOException e)
            {
                SetError(MsgPackErrorKind.Io, Offset + _end, "readable bytes", "I/O error: " + e.Message);
                return false;
            }
            if (read <= 0)
            {
                _endOfStream = true;
                return false;
            }
            _end += read;
        }
        return true;
    }

    // ---------------------------------------------------------------- errors

    private bool SetError(MsgPackErrorKind kind, long offset, string expected, string found)
    {
        Error ??= new MsgPackError(kind, offset, expected, found);
        return false;
    }

    /// <summary>Records a failure at the current offset (for callers validating decoded values,
    /// such as the trace reader). Always returns false.</summary>
    public bool Fail(MsgPackErrorKind kind, long offset, string expected, string found) => SetError(kind, offset, expected, found);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FailAtCode(string expected)
    {
        if (Error is not null) return false;
        if (_end - _position < 1) return SetError(MsgPackErrorKind.Truncated, Offset, expected, "end of stream");
        byte code = _buffer[_position];
        if (code == MsgPackCode.NeverUsed) return SetError(MsgPackErrorKind.ReservedByte, Offset, expected, "reserved byte 0xc1");
        return SetError(MsgPackErrorKind.WrongType, Offset, expected, Describe(code));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FailTruncated(long start, string expected, int needed) =>
        Error is not null ? false : SetError(MsgPackErrorKind.Truncated, start, expected, $"end of stream ({_end - _position} of {needed} bytes present)");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FailLimit(long start, string expected, string what, ulong length, int max) =>
        SetError(MsgPackErrorKind.LimitExceeded, start, $"{expected} of at most {max} {what}", $"{length} {what}");

    /// <summary>"map (0x81)", "uint 32 (0xce)": names a code byte for error messages.</summary>
    public static string Describe(byte code)
    {
        string name = code switch
        {
            <= MsgPackCode.PositiveFixIntMax => "positive fixint",
            <= MsgPackCode.FixMapMax => "fixmap",
            <= MsgPackCode.FixArrayMax => "fixarray",
            <= MsgPackCode.FixStrMax => "fixstr",
            MsgPackCode.Nil => "nil",
            MsgPackCode.NeverUsed => "reserved byte",
            MsgPackCode.False or MsgPackCode.True => "bool",
            >= MsgPackCode.Bin8 and <= MsgPackCode.Bin32 => "bin",
            >= MsgPackCode.Ext8 and <= MsgPackCode.Ext32 => "ext",
            >= MsgPackCode.Float32 and <= MsgPackCode.Float64 => "float",
            >= MsgPackCode.UInt8 and <= MsgPackCode.UInt64 => "uint",
            >= MsgPackCode.Int8 and <= MsgPackCode.Int64 => "int",
            >= MsgPackCode.FixExt1 and <= MsgPackCode.FixExt16 => "fixext",
            >= MsgPackCode.Str8 and <= MsgPackCode.Str32 => "str",
            >= MsgPackCode.Array16 and <= MsgPackCode.Array32 => "array",
            >= MsgPackCode.Map16 and <= MsgPackCode.Map32 => "map",
            _ => "negative fixint",
        };
        return $"{name} (0x{code:x2})";
    }

    // ---------------------------------------------------------------- peeking

    /// <summary>True when the stream has ended exactly here (between values). False with no error
    /// when a value follows; false with <see cref="Error"/> set on a stream failure.</summary>
    public bool IsAtEnd() => !IsFaulted && !Ensure(1) && !IsFaulted;

    /// <summary>The type of the next value, without consuming it. Fails on end of stream and on 0xc1.</summary>
    public bool TryPeekType(out MsgPackType type)
    {
        type = MsgPackType.Unused;
        if (Error is not null) return false;
        if (!Ensure(1)) return FailAtCode("a value");
        type = TypeOfCode[_buffer[_position]];
        return type != MsgPackType.Unused || FailAtCode("a value");
    }

    /// <summary>The next code byte, without consuming it. False at a clean end of stream (no error
    /// recorded: use <see cref="IsAtEnd"/> to tell) and after a failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPeekCode(out byte code)
    {
        if (Error is null && Ensure(1))
        {
            code = _buffer[_position];
            return true;
        }
        code = 0;
        return false;
    }

    // ---------------------------------------------------------------- scalars

    public bool TryReadNil()
    {
        if (Error is null && Ensure(1) && _buffer[_position] == MsgPackCode.Nil)
        {
            _position++;
            return true;
        }
        return FailAtCode("nil");
    }

    public bool TryReadBoolean(out bool value)
    {
        value = false;
        if (Error is null && Ensure(1))
        {
            byte code = _buffer[_position];
            if (code is MsgPackCode.True or MsgPackCode.False)
            {
                value = code == MsgPackCode.True;
                _position++;
                return true;
            }
        }
        return FailAtCode("bool");
    }

    /// <summary>Decodes any integer form into magnitude bits plus a sign flag: <paramref name="negative"/>
    /// true means <paramref name="bits"/> holds a negative <c>long</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryReadIntegerCore(string expected, out ulong bits, out bool negative)
    {
        bits = 0;
        negative = false;
        if (Error is not null || !Ensure(1)) return FailAtCode(expected);
        byte code = _buffer[_position];
        if (code <= MsgPackCode.PositiveFixIntMax)
        {
            bits = code;
            _position++;
            return true;
        }
        if (code >= MsgPackCode.NegativeFixIntMin)
        {
            bits = unchecked((ulong)(long)(sbyte)code);
            negative = true;
            _position++;
            return true;
        }
        return TryReadIntegerSlow(code, expected, out bits, out negative);
    }

    private bool TryReadIntegerSlow(byte code, string expected, out ulong bits, out bool negative)
    {
        bits = 0;
        negative = false;
        int size = code switch
        {
            MsgPackCode.UInt8 or MsgPackCode.Int8 => 1,
            MsgPackCode.UInt16 or MsgPackCode.Int16 => 2,
            MsgPackCode.UInt32 or MsgPackCode.Int32 => 4,
            MsgPackCode.UInt64 or MsgPackCode.Int64 => 8,
            _ => 0,
        };
        if (size == 0) return FailAtCode(expected);
        if (!Ensure(1 + size)) return FailTruncated(Offset, expected, 1 + size);
        ReadOnlySpan<byte> s = _buffer.AsSpan(_position + 1, size);
        long signed;
        switch (code)
        {
            case MsgPackCode.UInt8: bits = s[0]; break;
            case MsgPackCode.UInt16: bits = BinaryPrimitives.ReadUInt16BigEndian(s); break;
            case MsgPackCode.UInt32: bits = BinaryPrimitives.ReadUInt32BigEndian(s); break;
            case MsgPackCode.UInt64: bits = BinaryPrimitives.ReadUInt64BigEndian(s); break;
            default:
                signed = code switch
                {
                    MsgPackCode.Int8 => unchecked((sbyte)s[0]),
                    MsgPackCode.Int16 => BinaryPrimitives.ReadInt16BigEndian(s),
                    MsgPackCode.Int32 => BinaryPrimitives.ReadInt32BigEndian(s),
                    _ => BinaryPrimitives.ReadInt64BigEndian(s),
                };
                bits = unchecked((ulong)signed);
                negative = signed < 0;
                break;
        }
        _position += 1 + size;
        return true;
    }

    /// <summary>Any integer form whose value is in [0, 2^64).</summary>
    public bool TryReadUInt64(out ulong value)
    {
        long start = Offset;
        if (!TryReadIntegerCore("unsigned integer", out value, out bool negative)) return false;
        if (!negative) return true;
        long v = unchecked((long)value);
        value = 0;
        return SetError(MsgPackErrorKind.OutOfRange, start, "unsigned integer", $"negative integer {v}");
    }

    /// <summary>Any integer form whose value is in [0, 2^32).</summary>
    public bool TryReadUInt32(out uint value)
    {
        value = 0;
        long start = Offset;
        if (!TryReadIntegerCore("uint32", out ulong bits, out bool negative)) return false;
        if (negative || bits > uint.MaxValue) return SetError(MsgPackErrorKind.OutOfRange, start, "integer in [0, 2^32)", negative ? $"integer {unchecked((long)bits)}" : $"integer {bits}");
        value = unchecked((uint)bits);
        return true;
    }

    /// <summary>Any integer form whose value is in [-2^63, 2^63).</summary>
    public bool TryReadInt64(out long value)
    {
        value = 0;
        long start = Offset;
        if (!TryReadIntegerCore("signed integer", out ulong bits, out bool negative)) return false;
        if (!negative && bits > long.MaxValue) return SetError(MsgPackErrorKind.OutOfRange, start, "integer in [-2^63, 2^63)", $"integer {bits}");
        value = unchecked((long)bits);
        return true;
    }

    /// <summary>Any integer form, exactly (the union of the int 64 and uint 64 ranges).</summary>
    public bool TryReadInteger(out Int128 value)
    {
        value = 0;
        if (!TryReadIntegerCore("integer", out ulong bits, out bool negative)) return false;
        value = negative ? unchecked((long)bits) : bits;
        return true;
    }

    /// <summary>float 64, or float 32 widened (exact).</summary>
    public bool TryReadDouble(out double value)
    {
        value = 0;
        if (Error is not null || !Ensure(1)) return FailAtCode("float");
        byte code = _buffer[_position];
        int size = code switch { MsgPackCode.Float32 => 4, MsgPackCode.Float64 => 8, _ => 0 };
        if (size == 0) return FailAtCode("float");
        if (!Ensure(1 + size)) return FailTruncated(Offset, "float", 1 + size);
        ReadOnlySpan<byte> s = _buffer.AsSpan(_position + 1, size);
        value = size == 4 ? BinaryPrimitives.ReadSingleBigEndian(s) : BinaryPrimitives.ReadDoubleBigEndian(s);
        _position += 1 + size;
        return true;
    }

    // ---------------------------------------------------------------- headers

    /// <summary>Reads a length field of <paramref name="size"/> bytes after the code byte and consumes both.</summary>
    private bool TryReadLength(int size, string expected, out uint length)
    {
        length = 0;
        if (!Ensure(1 + size)) return FailTruncated(Offset, expected, 1 + size);
        ReadOnlySpan<byte> s = _buffer.AsSpan(_position + 1, size);
        length = size switch
        {
            1 => s[0],
            2 => BinaryPrimitives.ReadUInt16BigEndian(s),
            _ => BinaryPrimitives.ReadUInt32BigEndian(s),
        };
        _position += 1 + size;
        return true;
    }

    /// <summary>fixstr / str 8/16/32 header; the byte count is checked against <see cref="StringBytesMax"/>.</summary>
    public bool TryReadStringHeader(out int byteCount)
    {
        byteCount = 0;
        if (Error is not null || !Ensure(1)) return FailAtCode("str");
        long start = Offset;
        byte code = _buffer[_position];
        uint length;
        if (code is >= MsgPackCode.FixStrMin and <= MsgPackCode.FixStrMax)
        {
            length = unchecked((uint)(code & 0x1f));
            _position++;
        }
        else
        {
            int size = code switch { MsgPackCode.Str8 => 1, MsgPackCode.Str16 => 2, MsgPackCode.Str32 => 4, _ => 0 };
            if (size == 0) return FailAtCode("str");
            if (!TryReadLength(size, "str", out length)) return false;
        }
        if (length > unchecked((uint)StringBytesMax)) return FailLimit(start, "str", "bytes", length, StringBytesMax);
        byteCount = unchecked((int)length);
        return true;
    }

    /// <summary>A str's UTF-8 bytes, validated, pointing into the reader's window: valid until the next call.</summary>
    public bool TryReadStringSpan(out ReadOnlySpan<byte> utf8)
    {
        utf8 = default;
        long start = Offset;
        if (!TryReadStringHeader(out int length)) return false;
        if (!TryReadRawSpan(length, "str body", out utf8)) return false;
        if (!System.Text.Unicode.Utf8.IsValid(utf8))
        {
            utf8 = default;
            return SetError(MsgPackErrorKind.InvalidUtf8, start, "str of valid UTF-8", "invalid UTF-8");
        }
        return true;
    }

    /// <summary>A str as a new <see cref="string"/> (allocates: for headers and tools, not per event).</summary>
    public bool TryReadString([NotNullWhen(true)] out string? value)
    {
        value = null;
        if (!TryReadStringSpan(out ReadOnlySpan<byte> utf8)) return false;
        value = Encoding.UTF8.GetString(utf8);
        return true;
    }

    /// <summary>bin 8/16/32 header; the length is checked against <see cref="BinBytesMax"/>.</summary>
    public bool TryReadBinHeader(out int length)
    {
        length = 0;
        if (Error is not null || !Ensure(1)) return FailAtCode("bin");
        long start = Offset;
        int size = _buffer[_position] switch { MsgPackCode.Bin8 => 1, MsgPackCode.Bin16 => 2, MsgPackCode.Bin32 => 4, _ => 0 };
        if (size == 0) return FailAtCode("bin");
        if (!TryReadLength(size, "bin", out uint declared)) return false;
        if (declared > unchecked((uint)BinBytesMax)) return FailLimit(start, "bin", "bytes", declared, BinBytesMax);
        length = unchecked((int)declared);
        return true;
    }

    /// <summary>A whole bin, pointing into the reader's window: valid until the next call.</summary>
    public bool TryReadBinSpan(out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        return TryReadBinHeader(out int length) && TryReadRawSpan(length, "bin body", out bytes);
    }

    /// <summary>fixarray / array 16/32 header; the count is checked against <see cref="ArrayItemsMax"/>.</summary>
    public bool TryReadArrayHeader(out int count)
    {
        count = 0;
        if (Error is not null || !Ensure(1)) return FailAtCode("array");
        long start = Offset;
        byte code = _buffer[_position];
        uint declared;
        if (code is >= MsgPackCode.FixArrayMin and <= MsgPackCode.FixArrayMax)
        {
            declared = unchecked((uint)(code & 0x0f));
            _position++;
        }
        else
        {
            int size = code switch { MsgPackCode.Array16 => 2, MsgPackCode.Array32 => 4, _ => 0 };
            if (size == 0) return FailAtCode("array");
            if (!TryReadLength(size, "array", out declared)) return false;
        }
        if (declared > unchecked((uint)ArrayItemsMax)) return FailLimit(start, "array", "items", declared, ArrayItemsMax);
        count = unchecked((int)declared);
        return true;
    }

    /// <summary>fixmap / map 16/32 header; the count is checked against <see cref="MapEntriesMax"/>.</summary>
    public bool TryReadMapHeader(out int count)
    {
        count = 0;
        if (Error is not null || !Ensure(1)) return FailAtCode("map");
        long start = Offset;
        byte code = _buffer[_position];
        uint declared;
        if (code is >= MsgPackCode.FixMapMin and <= MsgPackCode.FixMapMax)
        {
            declared = unchecked((uint)(code & 0x0f));
            _position++;
        }
        else
        {
            int size = code switch { MsgPackCode.Map16 => 2, MsgPackCode.Map32 => 4, _ => 0 };
            if (size == 0) return FailAtCode("map");
            if (!TryReadLength(size, "map", out declared)) return false;
        }
        if (declared > unchecked((uint)MapEntriesMax)) return FailLimit(start, "map", "entries", declared, MapEntriesMax);
        count = unchecked((int)declared);
        return true;
    }

    /// <summary>fixext 1/2/4/8/16 or ext 8/16/32 header; the length is checked against <see cref="ExtBytesMax"/>.</summary>
    public bool TryReadExtensionFormatHeader(out sbyte type, out int length)
    {
        type = 0;
        length = 0;
        if (Error is not null || !Ensure(1)) return FailAtCode("ext");
        long start = Offset;
        byte code = _buffer[_position];
        uint declared;
        int fixLength = code switch
        {
            MsgPackCode.FixExt1 => 1,
            MsgPackCode.FixExt2 => 2,
            MsgPackCode.FixExt4 => 4,
            MsgPackCode.FixExt8 => 8,
            MsgPackCode.FixExt16 => 16,
            _ => 0,
        };
        if (fixLength != 0)
        {
            if (!Ensure(2)) return FailTruncated(start, "fixext", 2);
            declared = unchecked((uint)fixLength);
            type = unchecked((sbyte)_buffer[_position + 1]);
            _position += 2;
        }
        else
        {
            int size = code switch { MsgPackCode.Ext8 => 1, MsgPackCode.Ext16 => 2, MsgPackCode.Ext32 => 4, _ => 0 };
            if (size == 0) return FailAtCode("ext");
            if (!Ensure(2 + size)) return FailTruncated(start, "ext", 2 + size);
            if (!TryReadLength(size, "ext", out declared)) return false;
            type = unchecked((sbyte)_buffer[_position]);
            _position++;
        }
        if (declared > unchecked((uint)ExtBytesMax)) return FailLimit(start, "ext", "bytes", declared, ExtBytesMax);
        length = unchecked((int)declared);
        return true;
    }

    // ---------------------------------------------------------------- raw bytes

    /// <summary><paramref name="length"/> raw bytes (a str/bin/ext body), contiguous in the window,
    /// valid until the next call. The caller must have bounded <paramref name="length"/> (the header
    /// readers do); the window grows only as the bytes actually arrive.</summary>
    public bool TryReadRawSpan(int length, out ReadOnlySpan<byte> bytes) => TryReadRawSpan(length, "raw bytes", out bytes);

    private bool TryReadRawSpan(int length, string expected, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (Error is not null) return false;
        if (!Ensure(length)) return FailTruncated(Offset, $"{expected} of {length} bytes", length);
        bytes = _buffer.AsSpan(_position, length);
        _position += length;
        return true;
    }

    /// <summary>Copies exactly <paramref name="destination"/>.Length raw bytes, a window at a time
    /// (the window does not grow).</summary>
    public bool TryReadRaw(Span<byte> destination)
    {
        if (Error is not null) return false;
        long start = Offset;
        int total = destination.Length;
        while (!destination.IsEmpty)
        {
            if (!Ensure(1)) return FailTruncated(start, $"{total} raw bytes", total);
            int n = Math.Min(_end - _position, destination.Length);
            _buffer.AsSpan(_position, n).CopyTo(destination);
            _position += n;
            destination = destination[n..];
        }
        return true;
    }

    /// <summary>Discards <paramref name="length"/> raw bytes, a window at a time.</summary>
    public bool TrySkipRaw(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (Error is not null) return false;
        long start = Offset;
        long left = length;
        while (left > 0)
        {
            if (!Ensure(1)) return FailTruncated(start, $"{length} raw bytes", unchecked((int)Math.Min(length, int.MaxValue)));
            int n = unchecked((int)Math.Min(_end - _position, left));
            _position += n;
            left -= n;
        }
        return true;
    }

    // ---------------------------------------------------------------- skipping

    /// <summary>Skips one whole value of any type. Iterative (a counter per open container on the
    /// stack, at most <see cref="DepthMax"/> of them), every length checked against its limit; every
    /// step consumes at least one byte, so it ends on any input.</summary>
    public bool TrySkip()
    {
        if (Error is not null) return false;
        Span<long> remaining = stackalloc long[_depthMax + 1];
        int depth = 0;
        remaining[0] = 1;
        while (true)
        {
            while (remaining[depth] == 0)
            {
                if (depth == 0) return true;
                depth--;
            }
            remaining[depth]--;
            if (!TryPeekType(out MsgPackType type)) return false;
            long start = Offset;
            switch (type)
            {
                case MsgPackType.Nil: _position++; break;
                case MsgPackType.Boolean: _position++; break;
                case MsgPackType.Integer: if (!TryReadInteger(out _)) return false; break;
                case MsgPackType.Float: if (!TryReadDouble(out _)) return false; break;
                case MsgPackType.String:
                    if (!TryReadStringHeader(out int strLength) || !TrySkipRaw(strLength)) return false;
                    break;
                case MsgPackType.Binary:
                    if (!TryReadBinHeader(out int binLength) || !TrySkipRaw(binLength)) return false;
                    break;
                case MsgPackType.Extension:
                    if (!TryReadExtensionFormatHeader(out _, out int extLength) || !TrySkipRaw(extLength)) return false;
                    break;
                case MsgPackType.Array:
                case MsgPackType.Map:
                    int count;
                    if (type == MsgPackType.Array ? !TryReadArrayHeader(out count) : !TryReadMapHeader(out count)) return false;
                    if (depth + 1 > _depthMax) return SetError(MsgPackErrorKind.LimitExceeded, start, $"nesting of at most {_depthMax} levels", "deeper nesting");
                    depth++;
                    remaining[depth] = type == MsgPackType.Array ? count : 2L * count;
                    break;
                default:
                    return FailAtCode("a value");
            }
        }
    }

    private static MsgPackType[] BuildTypeTable()
    {
        var table = new MsgPackType[256];
        for (int c = 0; c < 256; c++)
        {
            table[c] = c switch
            {
                <= MsgPackCode.PositiveFixIntMax => MsgPackType.Integer,
                <= MsgPackCode.FixMapMax => MsgPackType.Map,
                <= MsgPackCode.FixArrayMax => MsgPackType.Array,
                <= MsgPackCode.FixStrMax => MsgPackType.String,
                MsgPackCode.Nil => MsgPackType.Nil,
                MsgPackCode.NeverUsed => MsgPackType.Unused,
                MsgPackCode.False or MsgPackCode.True => MsgPackType.Boolean,
                >= MsgPackCode.Bin8 and <= MsgPackCode.Bin32 => MsgPackType.Binary,
                >= MsgPackCode.Ext8 and <= MsgPackCode.Ext32 => MsgPackType.Extension,
                >= MsgPackCode.Float32 and <= MsgPackCode.Float64 => MsgPackType.Float,
                >= MsgPackCode.UInt8 and <= MsgPackCode.Int64 => MsgPackType.Integer,
                >= MsgPackCode.FixExt1 and <= MsgPackCode.FixExt16 => MsgPackType.Extension,
                >= MsgPackCode.Str8 and <= MsgPackCode.Str32 => MsgPackType.String,
                >= MsgPackCode.Array16 and <= MsgPackCode.Array32 => MsgPackType.Array,
                >= MsgPackCode.Map16 and <= MsgPackCode.Map32 => MsgPackType.Map,
                _ => MsgPackType.Integer,
            };
        }
        return table;
    }
}
