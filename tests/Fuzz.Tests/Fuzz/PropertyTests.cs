using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Engine.Random;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Mutation;

namespace Fuzz.Tests;

/// <summary>FsCheck.Xunit properties, each with its seed pinned in Replay (a failure prints the seed and size that
/// reproduce it; docs/architecture.md "Property tests").</summary>
public sealed class PropertyTests
{
    private static readonly Arbitrary<byte[]> Bytes = Gen.Choose(0, 255).Select(i => (byte)i).ArrayOf().ToArbitrary();

    private static readonly Arbitrary<int[]> Ops = Gen.Choose(0, 9).ArrayOf().ToArbitrary();

    [Property(MaxTest = 300, Replay = "(4028760065,1)")]
    public Property InputReader_NeverThrows_AndReturnsZerosWhenExhausted()
    {
        return Prop.ForAll(Bytes, Ops, (data, ops) =>
        {
            var reader = new FuzzInputReader(data);
            foreach (int op in ops)
            {
                bool wasExhausted = reader.IsExhausted;
                ulong v = op switch
                {
                    0 => reader.ReadByte(),
                    1 => reader.ReadU16(),
                    2 => reader.ReadU32(),
                    3 => reader.ReadU64(),
                    4 => reader.ReadBool() ? 1UL : 0UL,
                    5 => (ulong)reader.ReadChoice(7),
                    6 => (ulong)reader.ReadChoice(1000),
                    7 => reader.ReadRange(3, 9) - 3,
                    8 => (ulong)reader.ReadSlice(5).Length,
                    _ => (ulong)reader.ReadBytes(new byte[6]),
                };
                if (wasExhausted && v != 0)
                    return false;
                if (reader.Position > data.Length || reader.Remaining < 0)
                    return false;
            }
            return true;
        });
    }

    [Fact]
    public void InputReader_DecodesLittleEndianAndZeroPadsAPartialValue()
    {
        var reader = new FuzzInputReader([0x34, 0x12, 0x78, 0x56, 0x34]);
        Assert.Equal(0x1234, reader.ReadU16());
        Assert.Equal(0x345678u, reader.ReadU32());
        Assert.True(reader.IsExhausted);
        Assert.Equal(0UL, reader.ReadU64());
        Assert.Equal(0, reader.ReadChoice(5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FuzzInputReader([]).ReadChoice(0));
    }

    [Property(MaxTest = 300, Replay = "(4028760066,1)")]
    public Property Havoc_StaysWithinTheBuffer_ForAnyInputAndSeed()
    {
        var havoc = new HavocMutator();
        return Prop.ForAll(Bytes, Bytes, Gen.Choose(int.MinValue, int.MaxValue).ToArbitrary(), (data, partner, seed) =>
        {
            int capacity = (int)((uint)seed % 301);
            byte[] buffer = new byte[capacity];
            int length = Math.Min(data.Length, capacity);
            data.AsSpan(0, length).CopyTo(buffer);
            var prng = new Prng((ulong)(uint)seed);
            for (int round = 0; round < 20; round++)
            {
                length = havoc.Mutate(buffer, length, prng, partner);
                if (length < 0 || length > capacity)
                    return false;
            }
            return true;
        });
    }

    [Fact]
    public void Havoc_IsDeterministicForASeed()
    {
        var havoc = new HavocMutator();
        byte[] Run(ulong seed)
        {
            byte[] buffer = new byte[64];
            "hello, virtqueue"u8.CopyTo(buffer);
            int length = 16;
            var prng = new Prng(seed);
            for (int i = 0; i < 100; i++)
                length = havoc.Mutate(buffer, length, prng, "partner bytes"u8);
            return buffer[..length];
        }
        Assert.Equal(Run(9), Run(9));
        Assert.NotEqual(Run(9), Run(10));
    }
}
