using System.Numerics;

namespace Sim.Engine.Random;

/// <summary>
/// The project's own PRNG: xoshiro256** seeded through SplitMix64 (Blackman and Vigna). Owned so
/// that a seed means the same stream on every .NET version and machine (System.Random's algorithm
/// may change). Integer-only API; probabilities go through <see cref="Ratio"/>. Passed explicitly;
/// subsystems get their own stream with <see cref="Fork"/> (STYLE.md item 8).
/// </summary>
public sealed class Prng
{
    private ulong _s0,
        _s1,
        _s2,
        _s3;

    /// <summary>A generator whose stream is fixed by <paramref name="seed"/>.</summary>
    public Prng(ulong seed)
    {
        Seed = seed;
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The seed this generator was created from.</summary>
    public ulong Seed { get; }

    /// <summary>A seed for subsystem <paramref name="subsystem"/>, derived from <paramref name="rootSeed"/>
    /// alone (not from how much of the root stream was consumed), so adding draws in one subsystem
    /// never shifts another's stream.</summary>
    public static ulong DeriveSeed(ulong rootSeed, ulong subsystem)
    {
        ulong x = unchecked(rootSeed ^ (subsystem * 0xD1B54A32D192ED03UL));
        _ = SplitMix64(ref x);
        return SplitMix64(ref x);
    }

    /// <summary>An independent generator for <paramref name="subsystem"/>, derived from this one's seed.</summary>
    public Prng Fork(ulong subsystem) => new(DeriveSeed(Seed, subsystem));

    /// <summary>One SplitMix64 step: advances <paramref name="state"/> and returns the next output (Vigna's seeding
    /// generator).</summary>
    public static ulong SplitMix64(ref ulong state)
    {
        unchecked
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Next 64 uniformly random bits.</summary>
    public ulong NextUInt64()
    {
        unchecked
        {
            ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0;
            _s3 ^= _s1;
            _s1 ^= _s2;
            _s0 ^= _s3;
            _s2 ^= t;
            _s3 = BitOperations.RotateLeft(_s3, 45);
            return result;
        }
    }

    /// <summary>A uniformly random 32-bit value (the high half of the next output).</summary>
    public uint NextUInt32() => Narrow.LowUInt32(NextUInt64() >> 32);

    /// <summary>A uniformly random byte (the top byte of the next output).</summary>
    public byte NextByte() => Narrow.LowByte(NextUInt64() >> 56);

    /// <summary>A fair coin (the top bit of the next output).</summary>
    public bool NextBool() => (NextUInt64() >> 63) != 0;

    /// <summary>Uniform in [0, <paramref name="bound"/>), unbiased (Lemire's multiply-shift with rejection).</summary>
    public ulong UInt64LessThan(ulong bound)
    {
        if (bound == 0)
            throw new ArgumentOutOfRangeException(nameof(bound), "bound must be positive");
        unchecked
        {
            ulong x = NextUInt64();
            UInt128 m = (UInt128)x * bound;
            ulong low = (ulong)m;
            if (low < bound)
            {
                ulong threshold = (0 - bound) % bound;
                while (low < threshold)
                {
                    x = NextUInt64();
                    m = (UInt128)x * bound;
                    low = (ulong)m;
                }
            }
            return (ulong)(m >> 64);
        }
    }

    /// <summary>Uniform in [0, <paramref name="bound"/>).</summary>
    public int IntLessThan(int bound)
    {
        if (bound <= 0)
            throw new ArgumentOutOfRangeException(nameof(bound), "bound must be positive");
        return Narrow.LowInt32(UInt64LessThan(Narrow.AsUInt64Bits(bound)));
    }

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>] inclusive.</summary>
    public ulong UInt64InRange(ulong min, ulong max)
    {
        if (min > max)
            throw new ArgumentOutOfRangeException(nameof(min), "min must not exceed max");
        ulong span = max - min;
        return span == ulong.MaxValue ? NextUInt64() : min + UInt64LessThan(span + 1);
    }

    /// <summary>True with probability <paramref name="ratio"/>.</summary>
    public bool Chance(Ratio ratio) => ratio.Numerator != 0 && UInt64LessThan(ratio.Denominator) < ratio.Numerator;

    /// <summary>Fills <paramref name="destination"/> with random bytes.</summary>
    public void NextBytes(Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = NextByte();
    }
}
