using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Sim.Engine.Trace.Codec;

/// <summary>
/// The replay's hot path through an event array (traces/README.md §3: [kind, time delta, source, address, value,
/// data]) decoded straight from the input window's bytes. It accepts only what a complete, well-formed event in
/// the window can be — the integer formats that hold each field's value (msgpack spec.md "int format family") and
/// a bin whose bytes all lie in the window — and returns false for anything else, which the caller then decodes
/// with MessagePack-CSharp's reader, the authority for every error message and every unusual encoding. For each
/// event it accepts, the values are those the reader would return. MessagePack-CSharp's reader costs most of its
/// time per event in building a sequence reader over the window, where this reads a few bytes.
/// </summary>
internal static class EventArrayDecoder
{
    /// <summary>One event array at the start of <paramref name="window"/>, all of it inside the window, each field
    /// in range (kind below <see cref="TraceFormat.KindsMax"/>, source a uint 32, data at most
    /// <see cref="TraceFormat.EventDataBytesMax"/> bytes); <paramref name="consumed"/> is its length.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> window, out DecodedEvent ev, out int consumed)
    {
        ev = default;
        consumed = 0;
        int at = 1;
        if (window.Length < 7 || window[0] != MsgPackCode.FixArrayMin + TraceFormat.EventFields)
            return false;
        if (!TryUInt(window, ref at, out ulong kind) || kind >= TraceFormat.KindsMax)
            return false;
        if (!TryInt(window, ref at, out long delta))
            return false;
        if (!TryUInt(window, ref at, out ulong source) || source > uint.MaxValue)
            return false;
        if (!TryUInt(window, ref at, out ulong address) || !TryUInt(window, ref at, out ulong value))
            return false;
        if (!TryBin(window, ref at, out int dataAt, out int dataLength))
            return false;
        ev = new DecodedEvent(checked((int)kind), delta, checked((uint)source), address, value, dataAt, dataLength);
        consumed = at;
        return true;
    }

    /// <summary>A positive fixint or uint 8/16/32/64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryUInt(ReadOnlySpan<byte> w, ref int at, out ulong value)
    {
        value = 0;
        if (at >= w.Length)
            return false;
        byte code = w[at];
        if (code <= MsgPackCode.PositiveFixIntMax)
        {
            value = code;
            at++;
            return true;
        }
        int size = code switch
        {
            MsgPackCode.UInt8 => 1,
            MsgPackCode.UInt16 => 2,
            MsgPackCode.UInt32 => 4,
            MsgPackCode.UInt64 => 8,
            _ => 0,
        };
        if (size == 0 || w.Length - at - 1 < size)
            return false;
        ReadOnlySpan<byte> b = w.Slice(at + 1, size);
        value = size switch
        {
            1 => b[0],
            2 => BinaryPrimitives.ReadUInt16BigEndian(b),
            4 => BinaryPrimitives.ReadUInt32BigEndian(b),
            _ => BinaryPrimitives.ReadUInt64BigEndian(b),
        };
        at += 1 + size;
        return true;
    }

    /// <summary>Any fixint, int 8/16/32/64, or uint 8/16/32/64 up to <see cref="long.MaxValue"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryInt(ReadOnlySpan<byte> w, ref int at, out long value)
    {
        value = 0;
        if (at >= w.Length)
            return false;
        byte code = w[at];
        if (code >= MsgPackCode.NegativeFixIntMin)
        {
            value = code - 256L; // negative fixint 111xxxxx: -32..-1
            at++;
            return true;
        }
        int size = code switch
        {
            MsgPackCode.Int8 => 1,
            MsgPackCode.Int16 => 2,
            MsgPackCode.Int32 => 4,
            MsgPackCode.Int64 => 8,
            _ => 0,
        };
        if (size == 0)
        {
            if (!TryUInt(w, ref at, out ulong u) || u > long.MaxValue)
                return false;
            value = checked((long)u);
            return true;
        }
        if (w.Length - at - 1 < size)
            return false;
        ReadOnlySpan<byte> b = w.Slice(at + 1, size);
        value = size switch
        {
            1 => b[0] < 0x80 ? b[0] : b[0] - 256L,
            2 => BinaryPrimitives.ReadInt16BigEndian(b),
            4 => BinaryPrimitives.ReadInt32BigEndian(b),
            _ => BinaryPrimitives.ReadInt64BigEndian(b),
        };
        at += 1 + size;
        return true;
    }

    /// <summary>A bin 8/16/32 of at most <see cref="TraceFormat.EventDataBytesMax"/> bytes, all in the
    /// window.</summary>
    private static bool TryBin(ReadOnlySpan<byte> w, ref int at, out int dataAt, out int dataLength)
    {
        dataAt = 0;
        dataLength = 0;
        if (at >= w.Length)
            return false;
        int header = w[at] switch
        {
            MsgPackCode.Bin8 => 2,
            MsgPackCode.Bin16 => 3,
            MsgPackCode.Bin32 => 5,
            _ => 0,
        };
        if (header == 0 || w.Length - at < header)
            return false;
        ReadOnlySpan<byte> b = w.Slice(at + 1, header - 1);
        uint length = header switch
        {
            2 => b[0],
            3 => BinaryPrimitives.ReadUInt16BigEndian(b),
            _ => BinaryPrimitives.ReadUInt32BigEndian(b),
        };
        if (length > TraceFormat.EventDataBytesMax || length > checked((uint)(w.Length - at - header)))
            return false;
        dataAt = at + header;
        dataLength = checked((int)length);
        at = dataAt + dataLength;
        return true;
    }
}

/// <summary>The fields of one event array as <see cref="EventArrayDecoder"/> found them: the data is
/// [<see cref="DataAt"/>, +<see cref="DataLength"/>) of the window.</summary>
internal readonly record struct DecodedEvent(
    int Kind,
    long Delta,
    uint Source,
    ulong Address,
    ulong Value,
    int DataAt,
    int DataLength
);
