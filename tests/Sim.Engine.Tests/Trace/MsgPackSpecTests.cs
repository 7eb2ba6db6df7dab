using System.Buffers;
using Sim.Engine.Trace.Codec;
using Xunit;

namespace Sim.Engine.Tests.Trace;

/// <summary>Canonical encodings checked byte for byte against msgpack spec.md's format table.</summary>
public sealed class MsgPackSpecTests
{
    private static byte[] Encode(Action<Packer> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new Packer(buffer);
        write(w);
        Packer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    [Theory]
    [InlineData(0UL, "00")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "cc 80")]
    [InlineData(255UL, "cc ff")]
    [InlineData(256UL, "cd 01 00")]
    [InlineData(65535UL, "cd ff ff")]
    [InlineData(65536UL, "ce 00 01 00 00")]
    [InlineData(4294967295UL, "ce ff ff ff ff")]
    [InlineData(4294967296UL, "cf 00 00 00 01 00 00 00 00")]
    [InlineData(18446744073709551615UL, "cf ff ff ff ff ff ff ff ff")]
    public void Spec_Int_UnsignedFamily_SmallestForm(ulong value, string hex) =>
        Assert.Equal(Hex(hex), Encode(w => w.Write(value)));

    [Theory]
    [InlineData(0L, "00")]
    [InlineData(100L, "64")]
    [InlineData(200L, "cc c8")] // non-negative: unsigned family, as msgpack-python
    [InlineData(40000L, "cd 9c 40")]
    [InlineData(-1L, "ff")]
    [InlineData(-32L, "e0")]
    [InlineData(-33L, "d0 df")]
    [InlineData(-128L, "d0 80")]
    [InlineData(-129L, "d1 ff 7f")]
    [InlineData(-32768L, "d1 80 00")]
    [InlineData(-32769L, "d2 ff ff 7f ff")]
    [InlineData(-2147483648L, "d2 80 00 00 00")]
    [InlineData(-2147483649L, "d3 ff ff ff ff 7f ff ff ff")]
    [InlineData(long.MinValue, "d3 80 00 00 00 00 00 00 00")]
    [InlineData(long.MaxValue, "cf 7f ff ff ff ff ff ff ff")]
    public void Spec_Int_SignedValues_SmallestForm(long value, string hex) =>
        Assert.Equal(Hex(hex), Encode(w => w.Write(value)));

    [Fact]
    public void Spec_NilBoolFloat()
    {
        Assert.Equal(Hex("c0"), Encode(w => w.WriteNil()));
        Assert.Equal(Hex("c2"), Encode(w => w.Write(false)));
        Assert.Equal(Hex("c3"), Encode(w => w.Write(true)));
        Assert.Equal(Hex("cb 3f f8 00 00 00 00 00 00"), Encode(w => w.Write(1.5)));
        Assert.Equal(Hex("ca 3f c0 00 00"), Encode(w => w.Write(1.5f)));
    }

    [Theory]
    [InlineData(0, "a0")]
    [InlineData(31, "bf")]
    [InlineData(32, "d9 20")]
    [InlineData(255, "d9 ff")]
    [InlineData(256, "da 01 00")]
    [InlineData(65535, "da ff ff")]
    [InlineData(65536, "db 00 01 00 00")]
    public void Spec_Str_HeaderForms(int length, string hex)
    {
        byte[] bytes = Encode(w => w.Write(new string('x', length)));
        byte[] header = Hex(hex);
        Assert.Equal(header, bytes[..header.Length]);
        Assert.Equal(header.Length + length, bytes.Length);
    }

    [Fact]
    public void Spec_Str_IsUtf8() => Assert.Equal(Hex("a3 c3 a9 21"), Encode(w => w.Write("é!")));

    [Theory]
    [InlineData(0, "c4 00")]
    [InlineData(255, "c4 ff")]
    [InlineData(256, "c5 01 00")]
    [InlineData(65536, "c6 00 01 00 00")]
    public void Spec_Bin_HeaderForms(int length, string hex)
    {
        byte[] bytes = Encode(w => w.Write(new byte[length].AsSpan()));
        byte[] header = Hex(hex);
        Assert.Equal(header, bytes[..header.Length]);
        Assert.Equal(header.Length + length, bytes.Length);
    }

    [Theory]
    [InlineData(0u, "90", "80")]
    [InlineData(15u, "9f", "8f")]
    [InlineData(16u, "dc 00 10", "de 00 10")]
    [InlineData(65535u, "dc ff ff", "de ff ff")]
    [InlineData(65536u, "dd 00 01 00 00", "df 00 01 00 00")]
    public void Spec_ArrayAndMap_HeaderForms(uint count, string arrayHex, string mapHex)
    {
        Assert.Equal(Hex(arrayHex), Encode(w => w.WriteArrayHeader(count)));
        Assert.Equal(Hex(mapHex), Encode(w => w.WriteMapHeader(count)));
    }

    [Theory]
    [InlineData(1, "d4 05")]
    [InlineData(2, "d5 05")]
    [InlineData(4, "d6 05")]
    [InlineData(8, "d7 05")]
    [InlineData(16, "d8 05")]
    [InlineData(0, "c7 00 05")]
    [InlineData(3, "c7 03 05")]
    [InlineData(17, "c7 11 05")]
    [InlineData(256, "c8 01 00 05")]
    [InlineData(65536, "c9 00 01 00 00 05")]
    public void Spec_Ext_HeaderForms(int length, string hex)
    {
        byte[] bytes = Encode(w => w.WriteExtensionFormat(5, new byte[length]));
        byte[] header = Hex(hex);
        Assert.Equal(header, bytes[..header.Length]);
        Assert.Equal(header.Length + length, bytes.Length);
    }

    [Fact]
    public void Spec_Ext_TimestampTypeMinusOne()
    {
        // msgpack spec.md "Timestamp extension type": timestamp 32 is fixext 4 with type -1.
        Assert.Equal(Hex("d6 ff 00 00 00 01"), Encode(w => w.WriteExtensionFormat(-1, [0, 0, 0, 1])));
    }
}
