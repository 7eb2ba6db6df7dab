using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Sim.Engine.Trace.MessagePack;

/// <summary>
/// Writes MessagePack (msgpack spec.md) into an <see cref="IBufferWriter{T}"/> with the canonical,
/// smallest encoding of every value: a non-negative integer always in the unsigned family (positive
/// fixint, uint 8/16/32/64), a negative one in negative fixint or int 8/16/32/64, as msgpack-python
/// does; str/bin/array/map/ext headers in their shortest form. Multi-byte fields are big-endian.
/// Part of the narrow codec seam the trace code uses (traces/README.md): its method names follow
/// MessagePack-CSharp's <c>MessagePackWriter</c> so that package could replace it.
/// No allocation per value. Call <see cref="Flush"/> to commit the bytes to the output.
/// </summary>
public sealed class MsgPackWriter
{
    /// <summary>How much to ask the output for at once.</summary>
    private const int ChunkBytesMin = 4096;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly IBufferWriter<byte> _output;
    private Memory<byte> _buffer;
    private int _used;
    private long _committed;

    public MsgPackWriter(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    /// <summary>Bytes written so far, flushed or not.</summary>
    public long BytesWritten => _committed + _used;

    /// <summary>Commits the written bytes to the output (<see cref="IBufferWriter{T}.Advance"/>).</summary>
    public void Flush()
    {
        if (_used > 0) _output.Advance(_used);
        _committed += _used;
        _used = 0;
        _buffer = default;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> Reserve(int length)
    {
        if (_buffer.Length - _used < length) Refill(length);
        return _buffer.Span.Slice(_used, length);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Refill(int length)
    {
        Flush();
        _buffer = _output.GetMemory(Math.Max(length, ChunkBytesMin));
        if (_buffer.Length < length) throw new InvalidOperationException("the output returned less memory than requested");
    }

    public void WriteNil() { Reserve(1)[0] = MsgPackCode.Nil; _used += 1; }

    public void Write(bool value) { Reserve(1)[0] = value ? MsgPackCode.True : MsgPackCode.False; _used += 1; }

    /// <summary>Smallest unsigned form: positive fixint, uint 8, uint 16, uint 32, uint 64.</summary>
    public void Write(ulong value)
    {
        if (value <= MsgPackCode.PositiveFixIntMax)
        {
            Reserve(1)[0] = unchecked((byte)value);
            _used += 1;
        }
        else if (value <= byte.MaxValue)
        {
            Span<byte> s = Reserve(2);
            s[0] = MsgPackCode.UInt8;
            s[1] = unchecked((byte)value);
            _used += 2;
        }
        else if (value <= ushort.MaxValue)
        {
            Span<byte> s = Reserve(3);
            s[0] = MsgPackCode.UInt16;
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], unchecked((ushort)value));
            _used += 3;
        }
        else if (value <= uint.MaxValue)
        {
            Span<byte> s = Reserve(5);
            s[0] = MsgPackCode.UInt32;
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], unchecked((uint)value));
            _used += 5;
        }
        else
        {
            Span<byte> s = Reserve(9);
            s[0] = MsgPackCode.UInt64;
            BinaryPrimitives.WriteUInt64BigEndian(s[1..], value);
            _used += 9;
        }
    }

    /// <summary>Non-negative values in the unsigned family (canonical, as msgpack-python); negative
    /// ones in the smallest of negative fixint, int 8, int 16, int 32, int 64.</summary>
    public void Write(long value)
    {
        if (value >= 0)
        {
            Write(unchecked((ulong)value));
        }
        else if (value >= MsgPackCode.NegativeFixIntValueMin)
        {
            Reserve(1)[0] = unchecked((byte)value);
            _used += 1;
        }
        else if (value >= sbyte.MinValue)
        {
            Span<byte> s = Reserve(2);
            s[0] = MsgPackCode.Int8;
            s[1] = unchecked((byte)value);
            _used += 2;
        }
        else if (value >= short.MinValue)
        {
            Span<byte> s = Reserve(3);
            s[0] = MsgPackCode.Int16;
            BinaryPrimitives.WriteInt16BigEndian(s[1..], unchecked((short)value));
            _used += 3;
        }
        else if (value >= int.MinValue)
        {
            Span<byte> s = Reserve(5);
            s[0] = MsgPackCode.Int32;
            BinaryPrimitives.WriteInt32BigEndian(s[1..], unchecked((int)value));
            _used += 5;
        }
        else
        {
            Span<byte> s = Reserve(9);
            s[0] = MsgPackCode.Int64;
            BinaryPrimitives.WriteInt64BigEndian(s[1..], value);
            _used += 9;
        }
    }

    public void Write(uint value) => Write(unchecked((ulong)value));

    public void Write(int value) => Write(unchecked((long)value));

    /// <summary>float 64 (0xcb), big-endian IEEE 754.</summary>
    public void Write(double value)
    {
        Span<byte> s = Reserve(9);
        s[0] = MsgPackCode.Float64;
        BinaryPrimitives.WriteDoubleBigEndian(s[1..], value);
        _used += 9;
    }

    /// <summary>float 32 (0xca), big-endian IEEE 754.</summary>
    public void Write(float value)
    {
        Span<byte> s = Reserve(5);
        s[0] = MsgPackCode.Float32;
        BinaryPrimitives.WriteSingleBigEndian(s[1..], value);
        _used += 5;
    }

    /// <summary>A str: UTF-8 of <paramref name="value"/>, encoded straight into the output.
    /// Lone surrogates are host misuse and throw.</summary>
    public void Write(ReadOnlySpan<char> value)
    {
        int byteCount = Utf8.GetByteCount(value);
        WriteStringHeader(unchecked((uint)byteCount));
        if (byteCount == 0) return;
        int written = Utf8.GetBytes(value, Reserve(byteCount));
        _used += written;
    }

    public void Write(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Write(value.AsSpan());
    }

    /// <summary>A str from bytes that are already UTF-8 (not validated: the caller's responsibility).</summary>
    public void WriteString(ReadOnlySpan<byte> utf8)
    {
        WriteStringHeader(unchecked((uint)utf8.Length));
        WriteRaw(utf8);
    }

    /// <summary>fixstr, str 8, str 16 or str 32 header for <paramref name="byteCount"/> bytes.</summary>
    public void WriteStringHeader(uint byteCount)
    {
        if (byteCount <= MsgPackCode.FixStrBytesMax)
        {
            Reserve(1)[0] = unchecked((byte)(MsgPackCode.FixStrMin | byteCount));
            _used += 1;
        }
        else
        {
            WriteLengthHeader(MsgPackCode.Str8, byteCount);
        }
    }

    /// <summary>A bin (bin 8/16/32 by length) holding <paramref name="bytes"/>.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        WriteBinHeader(unchecked((uint)bytes.Length));
        WriteRaw(bytes);
    }

    /// <summary>bin 8, bin 16 or bin 32 header; the caller then writes exactly <paramref name="length"/> raw bytes.</summary>
    public void WriteBinHeader(uint length) => WriteLengthHeader(MsgPackCode.Bin8, length);

    /// <summary>Writes code8/code16/code32 (consecutive codes) with a big-endian length: the layout
    /// shared by str 8/16/32, bin 8/16/32 and (after the fix forms) array and map 16/32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteLengthHeader(byte code8, uint length)
    {
        if (length <= byte.MaxValue)
        {
            Span<byte> s = Reserve(2);
            s[0] = code8;
            s[1] = unchecked((byte)length);
            _used += 2;
        }
        else if (length <= ushort.MaxValue)
        {
            Span<byte> s = Reserve(3);
            s[0] = unchecked((byte)(code8 + 1));
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], unchecked((ushort)length));
            _used += 3;
        }
        else
        {
            Span<byte> s = Reserve(5);
            s[0] = unchecked((byte)(code8 + 2));
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], length);
            _used += 5;
        }
    }

    /// <summary>fixarray, array 16 or array 32 header; the caller then writes <paramref name="count"/> values.</summary>
    public void WriteArrayHeader(uint count)
    {
        if (count <= MsgPackCode.FixArrayItemsMax)
        {
            Reserve(1)[0] = unchecked((byte)(MsgPackCode.FixArrayMin | count));
            _used += 1;
        }
        else
        {
            WriteCountHeader(MsgPackCode.Array16, count);
        }
    }

    /// <summary>fixmap, map 16 or map 32 header; the caller then writes <paramref name="count"/> key/value pairs.</summary>
    public void WriteMapHeader(uint count)
    {
        if (count <= MsgPackCode.FixMapEntriesMax)
        {
            Reserve(1)[0] = unchecked((byte)(MsgPackCode.FixMapMin | count));
            _used += 1;
        }
        else
        {
            WriteCountHeader(MsgPackCode.Map16, count);
        }
    }

    private void WriteCountHeader(byte code16, uint count)
    {
        if (count <= ushort.MaxValue)
        {
            Span<byte> s = Reserve(3);
            s[0] = code16;
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], unchecked((ushort)count));
            _used += 3;
        }
        else
        {
            Span<byte> s = Reserve(5);
            s[0] = unchecked((byte)(code16 + 1));
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], count);
            _used += 5;
        }
    }

    /// <summary>ext header: fixext 1/2/4/8/16 when the length is exactly one of those, else ext 8/16/32.
    /// The caller then writes exactly <paramref name="length"/> raw bytes.</summary>
    public void WriteExtensionFormatHeader(sbyte type, uint length)
    {
        byte fix = length switch
        {
            1 => MsgPackCode.FixExt1,
            2 => MsgPackCode.FixExt2,
            4 => MsgPackCode.FixExt4,
            8 => MsgPackCode.FixExt8,
            16 => MsgPackCode.FixExt16,
            _ => 0,
        };
        if (fix != 0)
        {
            Span<byte> s = Reserve(2);
            s[0] = fix;
            s[1] = unchecked((byte)type);
            _used += 2;
            return;
        }
        WriteLengthHeader(MsgPackCode.Ext8, length);
        Reserve(1)[0] = unchecked((byte)type);
        _used += 1;
    }

    public void WriteExtensionFormat(sbyte type, ReadOnlySpan<byte> data)
    {
        WriteExtensionFormatHeader(type, unchecked((uint)data.Length));
        WriteRaw(data);
    }

    /// <summary>Copies bytes as they are (the body after a str/bin/ext header), in pieces that fit
    /// the output's buffer, so a large body never needs a buffer of its size.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            int room = _buffer.Length - _used;
            if (room == 0)
            {
                Refill(1);
                room = _buffer.Length - _used;
            }
            int n = Math.Min(room, bytes.Length);
            bytes[..n].CopyTo(_buffer.Span.Slice(_used, n));
            _used += n;
            bytes = bytes[n..];
        }
    }
}
