using System.Buffers;
using Sim.Engine.Trace.MessagePack;
using Xunit;

namespace Sim.Engine.Tests.Trace;

/// <summary>Canonical encodings checked byte for byte against msgpack spec.md's format table.</summary>
public sealed class MsgPackSpecTests
{
    private static byte[] Encode(Action<MsgPackWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MsgPackWriter(buffer);
        write(w);
        w.Flush();
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
    public void Spec_Int_UnsignedFamily_SmallestForm(ulong value, string hex) => Assert.Equal(Hex(hex), Encode(w => w.Write(value)));

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
    public void Spec_Int_SignedValues_SmallestForm(long value, string hex) => Assert.Equal(Hex(hex), Encode(w => w.Write(value)));

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

    [Fact]
    public void Spec_Reader_DecodesEveryFormInBothDirections()
    {
        byte[] bytes = Hex("c0 c3 c2 7f cc 80 cd 01 00 ce 00 01 00 00 cf ff ff ff ff ff ff ff ff e0 d0 df d1 80 00 d2 80 00 00 00 d3 80 00 00 00 00 00 00 00 ca 3f c0 00 00 cb 3f f8 00 00 00 00 00 00 a2 68 69 d9 01 61 c4 01 07 c7 01 03 09 d4 fe 08 92 01 02 81 a1 6b c0");
        var r = new MsgPackReader(new MemoryStream(bytes));
        Assert.True(r.TryReadNil());
        Assert.True(r.TryReadBoolean(out bool t) && t);
        Assert.True(r.TryReadBoolean(out bool f) && !f);
        Assert.True(r.TryReadUInt64(out ulong a) && a == 127);
        Assert.True(r.TryReadUInt64(out ulong b) && b == 128);
        Assert.True(r.TryReadUInt32(out uint c) && c == 256);
        Assert.True(r.TryReadInt64(out long d) && d == 65536);
        Assert.True(r.TryReadUInt64(out ulong e) && e == ulong.MaxValue);
        Assert.True(r.TryReadInt64(out long g) && g == -32);
        Assert.True(r.TryReadInt64(out long h) && h == -33);
        Assert.True(r.TryReadInt64(out long i) && i == -32768);
        Assert.True(r.TryReadInteger(out Int128 j) && j == int.MinValue);
        Assert.True(r.TryReadInt64(out long k) && k == long.MinValue);
        Assert.True(r.TryReadDouble(out double l) && l == 1.5);
        Assert.True(r.TryReadDouble(out double m) && m == 1.5);
        Assert.True(r.TryReadString(out string? n) && n == "hi");
        Assert.True(r.TryReadString(out string? o) && o == "a");
        Assert.True(r.TryReadBinSpan(out ReadOnlySpan<byte> p) && p.Length == 1 && p[0] == 7);
        Assert.True(r.TryReadExtensionFormatHeader(out sbyte q, out int ql) && q == 3 && ql == 1 && r.TryReadRawSpan(1, out ReadOnlySpan<byte> qb) && qb[0] == 9);
        Assert.True(r.TryReadExtensionFormatHeader(out sbyte s, out int sl) && s == -2 && sl == 1 && r.TryReadRawSpan(1, out _));
        Assert.True(r.TrySkip()); // [1, 2]
        Assert.True(r.TrySkip()); // {"k": nil}
        Assert.True(r.IsAtEnd());
        Assert.Null(r.Error);
    }

    [Fact]
    public void Spec_Reader_ReservedByte0xC1_IsAnErrorWithOffset()
    {
        var r = new MsgPackReader(new MemoryStream(Hex("01 c1")));
        Assert.True(r.TryReadUInt64(out _));
        Assert.False(r.TryReadUInt64(out _));
        Assert.Equal(MsgPackErrorKind.ReservedByte, r.Error!.Kind);
        Assert.Equal(1, r.Error.Offset);
        Assert.Equal("byte 1: expected unsigned integer, found reserved byte 0xc1", r.Error.Message);
    }

    [Fact]
    public void Reader_WrongType_SaysExpectedAndFound()
    {
        var r = new MsgPackReader(new MemoryStream(Hex("81 a1 6b c0")));
        Assert.False(r.TryReadArrayHeader(out _));
        Assert.Equal("byte 0: expected array, found fixmap (0x81)", r.Error!.Message);
        Assert.False(r.TryReadMapHeader(out _)); // faulted: sticky
    }

    [Fact]
    public void Reader_NegativeIntoUnsigned_IsOutOfRange()
    {
        var r = new MsgPackReader(new MemoryStream(Hex("d0 80")));
        Assert.False(r.TryReadUInt64(out _));
        Assert.Equal(MsgPackErrorKind.OutOfRange, r.Error!.Kind);
        var r2 = new MsgPackReader(new MemoryStream(Hex("cf ff ff ff ff ff ff ff ff")));
        Assert.False(r2.TryReadInt64(out _));
        Assert.Equal(MsgPackErrorKind.OutOfRange, r2.Error!.Kind);
    }

    [Fact]
    public void Reader_Bin32Of4GiBInTenBytes_FailsCleanlyWithoutAllocating()
    {
        byte[] bytes = Hex("c6 ff ff ff ff 01 02 03 04 05");
        var r = new MsgPackReader(new MemoryStream(bytes)) { BinBytesMax = int.MaxValue };
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(r.TryReadBinSpan(out _));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(MsgPackErrorKind.LimitExceeded, r.Error!.Kind); // 2^32-1 > int.MaxValue
        Assert.True(allocated < 64 * 1024, $"allocated {allocated} bytes");

        var r2 = new MsgPackReader(new MemoryStream(Hex("c6 7f ff ff ff 01 02 03 04 05"))) { BinBytesMax = int.MaxValue };
        before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(r2.TryReadBinSpan(out _));
        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(MsgPackErrorKind.Truncated, r2.Error!.Kind);
        Assert.True(allocated < 64 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Reader_LimitsAreNamedInTheError()
    {
        var r = new MsgPackReader(new MemoryStream(Hex("dd 00 10 00 00"))) { ArrayItemsMax = 100 };
        Assert.False(r.TryReadArrayHeader(out _));
        Assert.Equal("byte 0: expected array of at most 100 items, found 1048576 items", r.Error!.Message);
    }

    [Fact]
    public void Reader_SkipBeyondDepthMax_Fails()
    {
        byte[] nested = Enumerable.Repeat((byte)0x91, 100).Append((byte)0xc0).ToArray();
        var r = new MsgPackReader(new MemoryStream(nested)) { DepthMax = 64 };
        Assert.False(r.TrySkip());
        Assert.Equal(MsgPackErrorKind.LimitExceeded, r.Error!.Kind);
        var ok = new MsgPackReader(new MemoryStream(nested)) { DepthMax = 100 };
        Assert.True(ok.TrySkip());
        Assert.True(ok.IsAtEnd());
    }

    [Fact]
    public void Reader_Truncated_ReportsValueOffset()
    {
        var r = new MsgPackReader(new MemoryStream(Hex("01 cd 01")));
        Assert.True(r.TryReadUInt64(out _));
        Assert.False(r.TryReadUInt64(out _));
        Assert.Equal(MsgPackErrorKind.Truncated, r.Error!.Kind);
        Assert.Equal(1, r.Error.Offset);
    }

    [Fact]
    public void Reader_InvalidUtf8_IsAnError()
    {
        var r = new MsgPackReader(new MemoryStream(Hex("a2 c3 28")));
        Assert.False(r.TryReadString(out _));
        Assert.Equal(MsgPackErrorKind.InvalidUtf8, r.Error!.Kind);
    }
}
