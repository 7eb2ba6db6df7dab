using FsCheck;
using FsCheck.Fluent;
using MessagePack;
using Sim.Engine.Trace.Codec;

namespace Sim.Engine.Tests.Trace;

/// <summary>A test-side model of any MessagePack value, with an encoder and a decoder through the
/// codec under test, and a generator of arbitrary (nested) values.</summary>
internal abstract record MpValue
{
    public sealed record Nil : MpValue;

    public sealed record Bool(bool V) : MpValue;

    public sealed record Int(Int128 V) : MpValue;

    public sealed record F64(double V) : MpValue
    {
        public bool Equals(F64? o) =>
            o is not null && BitConverter.DoubleToInt64Bits(V) == BitConverter.DoubleToInt64Bits(o.V);

        public override int GetHashCode() => V.GetHashCode();
    }

    public sealed record Str(string V) : MpValue;

    public sealed record Bin(byte[] V) : MpValue
    {
        public bool Equals(Bin? o) => o is not null && V.AsSpan().SequenceEqual(o.V);

        public override int GetHashCode() => V.Length;

        public override string ToString() => $"Bin({Convert.ToHexString(V)})";
    }

    public sealed record Arr(MpValue[] Items) : MpValue
    {
        public bool Equals(Arr? o) => o is not null && Items.SequenceEqual(o.Items);

        public override int GetHashCode() => Items.Length;

        public override string ToString() => $"[{string.Join(", ", Items.Select(i => i.ToString()))}]";
    }

    public sealed record Map((MpValue Key, MpValue Value)[] Entries) : MpValue
    {
        public bool Equals(Map? o) => o is not null && Entries.SequenceEqual(o.Entries);

        public override int GetHashCode() => Entries.Length;

        public override string ToString() => $"{{{string.Join(", ", Entries.Select(e => $"{e.Key}: {e.Value}"))}}}";
    }

    public sealed record Ext(sbyte Type, byte[] Data) : MpValue
    {
        public bool Equals(Ext? o) => o is not null && Type == o.Type && Data.AsSpan().SequenceEqual(o.Data);

        public override int GetHashCode() => Type;

        public override string ToString() => $"Ext({Type}, {Convert.ToHexString(Data)})";
    }

    public static void Encode(Packer w, MpValue v)
    {
        switch (v)
        {
            case Nil:
                w.WriteNil();
                break;
            case Bool b:
                w.Write(b.V);
                break;
            case Int i when i.V >= 0:
                w.Write((ulong)i.V);
                break;
            case Int i:
                w.Write((long)i.V);
                break;
            case F64 f:
                w.Write(f.V);
                break;
            case Str s:
                w.Write(s.V);
                break;
            case Bin b:
                w.Write(b.V.AsSpan());
                break;
            case Arr a:
                w.WriteArrayHeader((uint)a.Items.Length);
                foreach (MpValue item in a.Items)
                    Encode(w, item);
                break;
            case Map m:
                w.WriteMapHeader((uint)m.Entries.Length);
                foreach ((MpValue key, MpValue value) in m.Entries)
                {
                    Encode(w, key);
                    Encode(w, value);
                }
                break;
            case Ext e:
                w.WriteExtensionFormat(e.Type, e.Data);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(v));
        }
    }

    /// <summary>Decodes one value with MessagePack-CSharp's reader (which throws on bad input).</summary>
    public static MpValue Decode(ref MessagePackReader r)
    {
        switch (r.NextMessagePackType)
        {
            case MessagePackType.Nil:
                r.ReadNil();
                return new Nil();
            case MessagePackType.Boolean:
                return new Bool(r.ReadBoolean());
            case MessagePackType.Integer:
                return
                    r.NextCode
                        is MsgPackCode.UInt64
                            or MsgPackCode.UInt32
                            or MsgPackCode.UInt16
                            or MsgPackCode.UInt8
                            or <= MsgPackCode.PositiveFixIntMax
                    ? new Int(r.ReadUInt64())
                    : new Int(r.ReadInt64());
            case MessagePackType.Float:
                return new F64(r.ReadDouble());
            case MessagePackType.String:
                return new Str(r.ReadString()!);
            case MessagePackType.Binary:
                return new Bin(System.Buffers.BuffersExtensions.ToArray(r.ReadBytes()!.Value));
            case MessagePackType.Extension:
            {
                ExtensionResult e = r.ReadExtensionFormat();
                return new Ext(e.TypeCode, System.Buffers.BuffersExtensions.ToArray(e.Data));
            }
            case MessagePackType.Array:
            {
                int n = r.ReadArrayHeader();
                var items = new MpValue[n];
                for (int k = 0; k < n; k++)
                    items[k] = Decode(ref r);
                return new Arr(items);
            }
            case MessagePackType.Map:
            {
                int n = r.ReadMapHeader();
                var entries = new (MpValue, MpValue)[n];
                for (int k = 0; k < n; k++)
                {
                    MpValue key = Decode(ref r);
                    entries[k] = (key, Decode(ref r));
                }
                return new Map(entries);
            }
            default:
                throw new MessagePackSerializationException($"code 0x{r.NextCode:x2}");
        }
    }

    private static readonly Gen<string> Strings = Gen.Frequency(
        (
            1,
            Gen.Elements(
                "",
                "a",
                "virtsim",
                "é",
                "日本語",
                "😀",
                new string('s', 31),
                new string('s', 32),
                new string('s', 255),
                new string('s', 256)
            )
        ),
        (1, Gen.Elements(new string('s', 65535), new string('s', 70000))),
        (
            40,
            Gen.Choose(0, 40)
                .SelectMany(n => Gen.ArrayOf(Gen.Choose(0x20, 0x7e).Select(c => (char)c), n))
                .Select(cs => new string(cs))
        )
    );

    private static readonly Gen<byte[]> BinBytes = Gen.Frequency(
        (40, PropertyCheck.Bytes(40)),
        (1, Gen.Elements(0, 255, 256).Select(Counting)),
        (1, Gen.Elements(65535, 65536, 70000).Select(Counting))
    );

    private static byte[] Counting(int n) => Enumerable.Range(0, n).Select(i => (byte)i).ToArray();

    private static readonly Gen<MpValue> Scalar = Gen.OneOf(
        Gen.Constant<MpValue>(new Nil()),
        Gen.Elements(true, false).Select(b => (MpValue)new Bool(b)),
        PropertyCheck.UInt64().Select(v => (MpValue)new Int(v)),
        PropertyCheck.Int64().Select(v => (MpValue)new Int(v)),
        PropertyCheck.UInt64().Select(v => (MpValue)new F64(BitConverter.Int64BitsToDouble(unchecked((long)v)))),
        Strings.Select(s => (MpValue)new Str(s)),
        BinBytes.Select(b => (MpValue)new Bin(b)),
        Gen.Choose(-128, 127)
            .SelectMany(t =>
                Gen.Frequency((10, Gen.Elements(0, 1, 2, 3, 4, 8, 16, 17, 255, 256)), (1, Gen.Constant(65536)))
                    .Select(n => (MpValue)new Ext((sbyte)t, new byte[n]))
            )
    );

    /// <summary>Mostly small; sometimes just past the fixarray/fixmap limit of 15.</summary>
    private static readonly Gen<int> ContainerCount = Gen.Frequency((5, Gen.Choose(0, 5)), (1, Gen.Choose(14, 17)));

    public static Gen<MpValue> Any() => Gen.Sized(size => Sized(Math.Min(size, 20)));

    private static Gen<MpValue> Sized(int size) =>
        size <= 1
            ? Scalar
            : Gen.Frequency(
                (3, Scalar),
                (
                    1,
                    ContainerCount
                        .SelectMany(n => Gen.ArrayOf(Sized(size / 3), n))
                        .Select(items => (MpValue)new Arr(items))
                ),
                (
                    1,
                    ContainerCount
                        .SelectMany(n => Gen.ArrayOf(Gen.Zip(Sized(size / 3), Sized(size / 3)), n))
                        .Select(es => (MpValue)new Map(es))
                )
            );
}
