using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MessagePack;
using Sim.Engine.Trace.Codec;
using Xunit;

namespace Sim.Engine.Tests.Trace;

/// <summary>The writer's encodings as properties (FsCheck.Xunit: each [Property] pins its seed in Replay;
/// a failure prints the seed and size that reproduce it).</summary>
public sealed class MsgPackPropertyTests
{
    private static byte[] Encode(MpValue v)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new Packer(buffer);
        MpValue.Encode(w, v);
        Packer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    [Property(MaxTest = 400, Replay = "(1592590337,11400714819323198485)")]
    public Property RoundTrip_ArbitraryValues()
    {
        return Prop.ForAll(Arb.From(MpValue.Any()), v =>
        {
            byte[] bytes = Encode(v);
            var r = new MessagePackReader(bytes);
            MpValue back = MpValue.Decode(ref r);
            return back.Equals(v) && r.End && r.Consumed == bytes.Length;
        });
    }

    /// <summary>The encoded length is the smallest any MessagePack form allows (spec.md table).</summary>
    [Property(MaxTest = 2000, Replay = "(1592590339,11400714819323198485)")]
    public Property Integers_UseSmallestEncoding()
    {
        return Prop.ForAll(Arb.From(PropertyCheck.Int64()), v =>
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
    }

    [Property(MaxTest = 2000, Replay = "(1592590340,11400714819323198485)")]
    public Property UnsignedIntegers_UseSmallestEncoding()
    {
        return Prop.ForAll(Arb.From(PropertyCheck.UInt64()), v =>
        {
            byte[] bytes = Encode(new MpValue.Int(v));
            int smallest =
                v <= 127 ? 1
                : v <= byte.MaxValue ? 2
                : v <= ushort.MaxValue ? 3
                : v <= uint.MaxValue ? 5
                : 9;
            return bytes.Length == smallest;
        });
    }

    [Property(MaxTest = 300, Replay = "(1592590341,11400714819323198485)")]
    public Property Lengths_UseSmallestHeader()
    {
        return Prop.ForAll(
            Arb.From(
                Gen.OneOf(
                    Gen.Choose(0, 300),
                    Gen.Elements(15, 16, 31, 32, 255, 256, 65535, 65536),
                    Gen.Choose(0, 70000)
                )
            ),
            n =>
            {
                int str = Encode(new MpValue.Str(new string('x', n))).Length - n;
                int bin = Encode(new MpValue.Bin(new byte[n])).Length - n;
                var buffer = new ArrayBufferWriter<byte>();
                var w = new Packer(buffer);
                w.WriteArrayHeader((uint)n);
                Packer.Flush();
                int arr = buffer.WrittenCount;
                return str
                        == (
                            n <= 31 ? 1
                            : n <= 255 ? 2
                            : n <= 65535 ? 3
                            : 5
                        )
                    && bin
                        == (
                            n <= 255 ? 2
                            : n <= 65535 ? 3
                            : 5
                        )
                    && arr
                        == (
                            n <= 15 ? 1
                            : n <= 65535 ? 3
                            : 5
                        );
            }
        );
    }
}
