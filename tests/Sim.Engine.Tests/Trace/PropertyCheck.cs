using FsCheck;
using FsCheck.Fluent;

namespace Sim.Engine.Tests.Trace;

/// <summary>Generators shared by the trace codec's properties. The properties themselves are FsCheck.Xunit
/// [Property] tests whose Replay pins the seed (the gamma is FsCheck's default, 0x9E3779B97F4A7C15): the run
/// is the same every time, and a failure prints the "(seed,gamma,size)" that replays it.</summary>
internal static class PropertyCheck
{
    /// <summary>Any 64 bits, with the boundaries of every MessagePack integer form over-represented.</summary>
    public static Gen<ulong> UInt64() =>
        Gen.OneOf(
            Gen.Elements(
                0UL,
                1UL,
                0x7fUL,
                0x80UL,
                0xffUL,
                0x100UL,
                0xffffUL,
                0x10000UL,
                0xffffffffUL,
                0x100000000UL,
                (ulong)long.MaxValue,
                (ulong)long.MaxValue + 1,
                ulong.MaxValue
            ),
            Gen.Choose(0, 64)
                .SelectMany(bits =>
                    Gen.Two(Gen.Choose(int.MinValue, int.MaxValue))
                        .Select(t =>
                        {
                            ulong v = ((ulong)(uint)t.Item1 << 32) | (uint)t.Item2;
                            return bits == 64 ? v : v & ((1UL << bits) - 1);
                        })
                )
        );

    public static Gen<long> Int64() =>
        Gen.OneOf(
            UInt64().Select(v => unchecked((long)v)),
            Gen.Elements(
                -1L,
                -32L,
                -33L,
                -128L,
                -129L,
                short.MinValue,
                short.MinValue - 1L,
                int.MinValue,
                int.MinValue - 1L,
                long.MinValue
            )
        );

    public static Gen<byte[]> Bytes(int maxLength) =>
        Gen.Choose(0, maxLength).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n));
}
