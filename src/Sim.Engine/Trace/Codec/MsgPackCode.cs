namespace Sim.Engine.Trace.Codec;

/// <summary>
/// The first-byte codes of the MessagePack format (msgpack spec.md, "Formats" overview table).
/// Multi-byte lengths and values that follow a code are big-endian. Fixed-size families carry
/// their value or length in the code's low bits.
/// </summary>
public static class MsgPackCode
{
    /// <summary>positive fixint 0xxxxxxx: 0x00 - 0x7f, values 0..127.</summary>
    public const byte PositiveFixIntMax = 0x7f;

    /// <summary>fixmap 1000xxxx: 0x80 - 0x8f, up to 15 entries.</summary>
    public const byte FixMapMin = 0x80;

    /// <summary>msgpack "fixmap: its last code" (0x8f).</summary>
    public const byte FixMapMax = 0x8f;

    /// <summary>fixarray 1001xxxx: 0x90 - 0x9f, up to 15 items.</summary>
    public const byte FixArrayMin = 0x90;

    /// <summary>msgpack "fixarray: its last code" (0x9f).</summary>
    public const byte FixArrayMax = 0x9f;

    /// <summary>fixstr 101xxxxx: 0xa0 - 0xbf, up to 31 bytes.</summary>
    public const byte FixStrMin = 0xa0;

    /// <summary>msgpack "fixstr: its last code" (0xbf).</summary>
    public const byte FixStrMax = 0xbf;

    /// <summary>msgpack "nil" (0xc0).</summary>
    public const byte Nil = 0xc0;

    /// <summary>"(never used)": a decoder must reject it.</summary>
    public const byte NeverUsed = 0xc1;

    /// <summary>msgpack "false" (0xc2).</summary>
    public const byte False = 0xc2;

    /// <summary>msgpack "true" (0xc3).</summary>
    public const byte True = 0xc3;

    /// <summary>bin 8/16/32: length (u8/u16/u32) then bytes.</summary>
    public const byte Bin8 = 0xc4;

    /// <summary>msgpack "bin 16" (0xc5), of the family above.</summary>
    public const byte Bin16 = 0xc5;

    /// <summary>msgpack "bin 32" (0xc6), of the family above.</summary>
    public const byte Bin32 = 0xc6;

    /// <summary>ext 8/16/32: length (u8/u16/u32), type (i8), then data.</summary>
    public const byte Ext8 = 0xc7;

    /// <summary>msgpack "ext 16" (0xc8), of the family above.</summary>
    public const byte Ext16 = 0xc8;

    /// <summary>msgpack "ext 32" (0xc9), of the family above.</summary>
    public const byte Ext32 = 0xc9;

    /// <summary>float 32/64: IEEE 754 single/double, big-endian.</summary>
    public const byte Float32 = 0xca;

    /// <summary>msgpack "float 64" (0xcb), of the family above.</summary>
    public const byte Float64 = 0xcb;

    /// <summary>msgpack "uint 8" (0xcc): a big-endian unsigned 8-bit value follows.</summary>
    public const byte UInt8 = 0xcc;

    /// <summary>msgpack "uint 16" (0xcd): a big-endian unsigned 16-bit value follows.</summary>
    public const byte UInt16 = 0xcd;

    /// <summary>msgpack "uint 32" (0xce): a big-endian unsigned 32-bit value follows.</summary>
    public const byte UInt32 = 0xce;

    /// <summary>msgpack "uint 64" (0xcf): a big-endian unsigned 64-bit value follows.</summary>
    public const byte UInt64 = 0xcf;

    /// <summary>msgpack "int 8" (0xd0): a big-endian signed 8-bit value follows.</summary>
    public const byte Int8 = 0xd0;

    /// <summary>msgpack "int 16" (0xd1): a big-endian signed 16-bit value follows.</summary>
    public const byte Int16 = 0xd1;

    /// <summary>msgpack "int 32" (0xd2): a big-endian signed 32-bit value follows.</summary>
    public const byte Int32 = 0xd2;

    /// <summary>msgpack "int 64" (0xd3): a big-endian signed 64-bit value follows.</summary>
    public const byte Int64 = 0xd3;

    /// <summary>fixext 1/2/4/8/16: type (i8) then exactly 1/2/4/8/16 data bytes.</summary>
    public const byte FixExt1 = 0xd4;

    /// <summary>msgpack "fixext 2" (0xd5), of the family above.</summary>
    public const byte FixExt2 = 0xd5;

    /// <summary>msgpack "fixext 4" (0xd6), of the family above.</summary>
    public const byte FixExt4 = 0xd6;

    /// <summary>msgpack "fixext 8" (0xd7), of the family above.</summary>
    public const byte FixExt8 = 0xd7;

    /// <summary>msgpack "fixext 16" (0xd8), of the family above.</summary>
    public const byte FixExt16 = 0xd8;

    /// <summary>str 8/16/32: length (u8/u16/u32) then UTF-8 bytes.</summary>
    public const byte Str8 = 0xd9;

    /// <summary>msgpack "str 16" (0xda), of the family above.</summary>
    public const byte Str16 = 0xda;

    /// <summary>msgpack "str 32" (0xdb), of the family above.</summary>
    public const byte Str32 = 0xdb;

    /// <summary>array 16/32: item count (u16/u32) then the items.</summary>
    public const byte Array16 = 0xdc;

    /// <summary>msgpack "array 32" (0xdd), of the family above.</summary>
    public const byte Array32 = 0xdd;

    /// <summary>map 16/32: entry count (u16/u32) then key, value, key, value...</summary>
    public const byte Map16 = 0xde;

    /// <summary>msgpack "map 32" (0xdf), of the family above.</summary>
    public const byte Map32 = 0xdf;

    /// <summary>negative fixint 111xxxxx: 0xe0 - 0xff, values -32..-1.</summary>
    public const byte NegativeFixIntMin = 0xe0;

    /// <summary>Smallest value a negative fixint holds.</summary>
    public const int NegativeFixIntValueMin = -32;

    /// <summary>Most items a fixarray holds, entries a fixmap holds (15), bytes a fixstr holds (31).</summary>
    public const int FixArrayItemsMax = 15;

    /// <summary>Most entries a fixmap holds.</summary>
    public const int FixMapEntriesMax = 15;

    /// <summary>Most bytes a fixstr holds.</summary>
    public const int FixStrBytesMax = 31;

    /// <summary>"map (0x81)", "uint (0xce)": names a code byte for error messages.</summary>
    public static string Describe(byte code)
    {
        string name = code switch
        {
            <= PositiveFixIntMax => "positive fixint",
            <= FixMapMax => "fixmap",
            <= FixArrayMax => "fixarray",
            <= FixStrMax => "fixstr",
            Nil => "nil",
            NeverUsed => "reserved byte",
            False or True => "bool",
            >= Bin8 and <= Bin32 => "bin",
            >= Ext8 and <= Ext32 => "ext",
            >= Float32 and <= Float64 => "float",
            >= UInt8 and <= UInt64 => "uint",
            >= Int8 and <= Int64 => "int",
            >= FixExt1 and <= FixExt16 => "fixext",
            >= Str8 and <= Str32 => "str",
            >= Array16 and <= Array32 => "array",
            >= Map16 and <= Map32 => "map",
            _ => "negative fixint",
        };
        return $"{name} (0x{code:x2})";
    }
}
