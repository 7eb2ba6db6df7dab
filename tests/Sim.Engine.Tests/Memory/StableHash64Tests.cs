using System.Buffers.Binary;
using System.Numerics;
using Sim.Engine.Memory;
using Sim.Engine.Random;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.Memory;

/// <summary>StableHash64.Add's word loop (words in place, the xor of a zero word skipped) gives the hash of its
/// definition — multiply-xorshift over little-endian 8-byte words, a length-tagged tail — for every length and mix
/// of zero and non-zero words: traces carry these hashes, so a faster loop must not change one.</summary>
public class StableHash64Tests(ITestOutputHelper output)
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;

    /// <summary>The definition, word by word, as first written.</summary>
    private static ulong Reference(ReadOnlySpan<byte> bytes, ulong state = 0x27D4EB2F165667C5UL, ulong length = 0)
    {
        unchecked
        {
            int i = 0;
            for (; i + 8 <= bytes.Length; i += 8)
            {
                state ^= BinaryPrimitives.ReadUInt64LittleEndian(bytes.Slice(i, 8)) * Prime2;
                state = BitOperations.RotateLeft(state, 31) * Prime1;
            }
            if (i < bytes.Length)
            {
                ulong tail = 0;
                for (int k = bytes.Length - 1; k >= i; k--)
                    tail = (tail << 8) | bytes[k];
                state ^= (tail * Prime2) ^ (ulong)(bytes.Length - i);
                state = BitOperations.RotateLeft(state, 31) * Prime1;
            }
            ulong z = state ^ (length + (ulong)bytes.Length);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    [Fact]
    public void Add_MatchesTheDefinition_ForRandomMostlyZeroBuffers()
    {
        const ulong seed = 20261207;
        output.WriteLine($"seed {seed}");
        var prng = new Prng(seed);
        for (int round = 0; round < 300; round++)
        {
            var bytes = new byte[(int)prng.UInt64LessThan(4096)];
            for (int i = 0; i < bytes.Length; i++)
            {
                if (prng.UInt64LessThan(4) == 0)
                    bytes[i] = prng.NextByte();
            }
            // Whole zero words and whole non-zero words too, and an unaligned start.
            if (bytes.Length > 64)
                Array.Clear(bytes, 8, 32);
            int start = bytes.Length > 3 ? (int)prng.UInt64LessThan(3) : 0;
            var h = new StableHash64();
            h.Add(bytes.AsSpan(start));
            Assert.True(
                Reference(bytes.AsSpan(start)) == h.Finish(),
                $"seed {seed} round {round}: {bytes.Length - start} bytes"
            );
        }
    }
}
