using System.Buffers;
using FsCheck.Fluent;
using Sim.Engine.Trace.MessagePack;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.Trace;

public sealed class MsgPackPropertyTests(ITestOutputHelper output)
{
    private static byte[] Encode(MpValue v)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MsgPackWriter(buffer);
        MpValue.Encode(w, v);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void RoundTrip_ArbitraryValues()
    {
        PropertyCheck.Run(output, nameof(RoundTrip_ArbitraryValues), seed: 0x5eed_0001, cases: 400, MpValue.Any(), v =>
        {
            byte[] bytes = Encode(v);
            var r = new MsgPackReader(new MemoryStream(bytes)) { BinBytesMax = 1 << 20, StringBytesMax = 1 << 20 };
            MpValue? back = MpValue.Decode(r);
            return back is not null && back.Equals(v) && r.IsAtEnd() && r.Offset == bytes.Length;
        });
    }

    [Fact]
    public void Skip_ConsumesExactlyOneValue()
    {
        PropertyCheck.Run(output, nameof(Skip_ConsumesExactlyOneValue), seed: 0x5eed_0002, cases: 300, MpValue.Any(), v =>
        {
            byte[] bytes = [.. Encode(v), 0x2a];
            var r = new MsgPackReader(new MemoryStream(bytes));
            return r.TrySkip() && r.Offset == bytes.Length - 1 && r.TryReadUInt64(out ulong tail) && tail == 0x2a;
        });
    }

    /// <summary>The encoded length is the smallest any MessagePack form allows (spec.md table).</summary>
    [Fact]
    public void Integers_UseSmallestEncoding()
    {
        PropertyCheck.Run(output, nameof(Integers_UseSmallestEncoding), seed: 0x5eed_0003, cases: 2000, PropertyCheck.Int64(), v =>
        {
            byte[] bytes = Encode(new MpValue.Int(v));
            int smallest = v switch
            {
                >= 0 and <= 127 => 1,
                >= -32 and < 0 => 1,
                >= 0 and <= byte.MaxValue => 2,
                >= sbyte.MinValue and < 0 => 2,
                >= 0 and <= ushort.MaxValue => 3,
                >= short.MinValue and < 0 => 3,
                >= 0 and <= uint.MaxValue => 5,
                >= int.MinValue and < 0 => 5,
                _ => 9,
            };
            bool unsignedFamily = bytes[0] <= 0x7f || bytes[0] is >= 0xcc and <= 0xcf;
            return bytes.Length == smallest && (v >= 0) == unsignedFamily;
        });
        PropertyCheck.Run(output, nameof(Integers_UseSmallestEncoding) + "/u64", seed: 0x5eed_0004, cases: 2000, PropertyCheck.UInt64(), v =>
        {
            byte[] bytes = Encode(new MpValue.Int(v));
            int smallest = v <= 127 ? 1 : v <= byte.MaxValue ? 2 : v <= ushort.MaxValue ? 3 : v <= uint.MaxValue ? 5 : 9;
            return bytes.Length == smallest;
        });
    }

    [Fact]
    public void Lengths_UseSmallestHeader()
    {
        PropertyCheck.Run(output, nameof(Lengths_UseSmallestHeader), seed: 0x5eed_0005, cases: 300, Gen.OneOf(Gen.Choose(0, 300), Gen.Elements(15, 16, 31, 32, 255, 256, 65535, 65536), Gen.Choose(0, 70000)), n =>
        {
            int str = Encode(new MpValue.Str(new string('x', n))).Length - n;
            int bin = Encode(new MpValue.Bin(new byte[n])).Length - n;
            var buffer = new ArrayBufferWriter<byte>();
            var w = new MsgPackWriter(buffer);
            w.WriteArrayHeader((uint)n);
            w.Flush();
            int arr = buffer.WrittenCount;
            return str == (n <= 31 ? 1 : n <= 255 ? 2 : n <= 65535 ? 3 : 5)
                && bin == (n <= 255 ? 2 : n <= 65535 ? 3 : 5)
                && arr == (n <= 15 ? 1 : n <= 65535 ? 3 : 5);
        });
    }

    /// <summary>Arbitrary bytes: the reader returns values or a structured error; it never throws
    /// and never hangs (every call consumes a byte or fails).</summary>
    [Fact]
    public void Reader_OnArbitraryBytes_OnlyReturnsErrors()
    {
        PropertyCheck.Run(output, nameof(Reader_OnArbitraryBytes_OnlyReturnsErrors), seed: 0x5eed_0006, cases: 3000, PropertyCheck.Bytes(64), bytes =>
        {
            var r = new MsgPackReader(new MemoryStream(bytes)) { DepthMax = 8 };
            for (int i = 0; i <= bytes.Length; i++)
            {
                if (r.IsAtEnd()) return r.Error is null;
                if (MpValue.Decode(r) is null) return r.Error is not null && r.Error.Offset >= 0 && r.Error.Offset <= bytes.Length;
            }
            return false; // more values than bytes: impossible
        });
        PropertyCheck.Run(output, nameof(Reader_OnArbitraryBytes_OnlyReturnsErrors) + "/skip", seed: 0x5eed_0007, cases: 3000, PropertyCheck.Bytes(64), bytes =>
        {
            var r = new MsgPackReader(new MemoryStream(bytes)) { DepthMax = 8 };
            for (int i = 0; i <= bytes.Length; i++)
            {
                if (r.IsAtEnd()) return true;
                if (!r.TrySkip()) return r.Error is not null;
            }
            return false;
        });
    }
}
