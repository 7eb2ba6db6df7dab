using MessagePack;
using System.Buffers;
using FsCheck.Fluent;
using Sim.Engine.Trace.Codec;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.Trace;

public sealed class MsgPackPropertyTests(ITestOutputHelper output)
{
    private static byte[] Encode(MpValue v)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new Packer(buffer);
        MpValue.Encode(w, v);
        Packer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void RoundTrip_ArbitraryValues()
    {
        PropertyCheck.Run(output, nameof(RoundTrip_ArbitraryValues), seed: 0x5eed_0001, cases: 400, MpValue.Any(), v =>
        {
            byte[] bytes = Encode(v);
            var r = new MessagePackReader(bytes);
            MpValue back = MpValue.Decode(ref r);
            return back.Equals(v) && r.End && r.Consumed == bytes.Length;
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
            var w = new Packer(buffer);
            w.WriteArrayHeader((uint)n);
            Packer.Flush();
            int arr = buffer.WrittenCount;
            return str == (n <= 31 ? 1 : n <= 255 ? 2 : n <= 65535 ? 3 : 5)
                && bin == (n <= 255 ? 2 : n <= 65535 ? 3 : 5)
                && arr == (n <= 15 ? 1 : n <= 65535 ? 3 : 5);
        });
    }
}
