using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Engine.Random;
using Sim.Engine.Tests.SimulationTests;
using Xunit;

namespace Sim.Engine.Tests.Random;

public sealed class PrngTests
{
    /// <summary>Pinned outputs. The seed-0 values were cross-checked against an independent
    /// implementation of SplitMix64 seeding + xoshiro256** (Blackman and Vigna's reference
    /// algorithm); if they change, every recorded seed means a different run.</summary>
    [Fact]
    public void KnownAnswers_NeverDrift()
    {
        var p = new Prng(0);
        Assert.Equal(
            new[] { 0x99EC5F36CB75F2B4UL, 0xBF6E1F784956452AUL, 0x1A5F849D4933E6E0UL, 0x6AA594F1262D2D2CUL },
            new[] { p.NextUInt64(), p.NextUInt64(), p.NextUInt64(), p.NextUInt64() }
        );
        p = new Prng(42);
        Assert.Equal(
            new[] { 0x15780B2E0C2EC716UL, 0x6104D9866D113A7EUL, 0xAE17533239E499A1UL, 0xECB8AD4703B360A1UL },
            new[] { p.NextUInt64(), p.NextUInt64(), p.NextUInt64(), p.NextUInt64() }
        );
        p = new Prng(42);
        Assert.Equal(
            new ulong[] { 83, 378, 680, 924, 991, 769, 719, 850 },
            Enumerable.Range(0, 8).Select(_ => p.UInt64LessThan(1000))
        );
        Assert.Equal(0x1DCEB68A1771C478UL, Prng.DeriveSeed(42, 7));
    }

    [Fact]
    public void SplitMix64_KnownAnswer()
    {
        ulong state = 0;
        Assert.Equal(0xE220A8397B1DCDAFUL, Prng.SplitMix64(ref state)); // the published first output for seed 0
    }

    [Property(MaxTest = 200, Replay = "(24301,1)")]
    public Property UInt64LessThan_StaysInBounds()
    {
        FsCheck.Gen<ulong> bound = SeededProperty.UInt64.Where(b => b != 0);
        return Prop.ForAll(Gen.Zip(bound, SeededProperty.UInt64).ToArbitrary(), t =>
        {
            var p = new Prng(t.Item2);
            for (int i = 0; i < 16; i++)
            {
                if (p.UInt64LessThan(t.Item1) >= t.Item1)
                    return false;
            }
            return true;
        });
    }

    [Fact]
    public void UInt64LessThan_ZeroBound_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Prng(1).UInt64LessThan(0));

    [Fact]
    public void SmallBound_HitsEveryValue()
    {
        var p = new Prng(7);
        var seen = new bool[5];
        for (int i = 0; i < 200; i++)
            seen[p.UInt64LessThan(5)] = true;
        Assert.All(seen, Assert.True);
        Assert.Equal(ulong.MaxValue, new Prng(1).UInt64InRange(ulong.MaxValue, ulong.MaxValue));
    }

    [Fact]
    public void Fork_IsDeterministic_AndIndependentOfConsumption()
    {
        var a = new Prng(99);
        var b = new Prng(99);
        for (int i = 0; i < 10; i++)
            b.NextUInt64(); // consuming the parent does not move its forks
        Prng fa = a.Fork(3),
            fb = b.Fork(3),
            other = a.Fork(4);
        ulong[] sa = Take(fa),
            sb = Take(fb),
            so = Take(other),
            parent = Take(new Prng(99));
        Assert.Equal(sa, sb);
        Assert.NotEqual(sa, so);
        Assert.NotEqual(sa, parent);
        Assert.NotEqual(Take(new Prng(100).Fork(3)), sa);
    }

    [Fact]
    public void Chance_ZeroAndOne()
    {
        var p = new Prng(5);
        for (int i = 0; i < 100; i++)
        {
            Assert.False(p.Chance(new Ratio(0, 3)));
            Assert.True(p.Chance(new Ratio(3, 3)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new Ratio(2, 1));
    }

    private static ulong[] Take(Prng p) => Enumerable.Range(0, 8).Select(_ => p.NextUInt64()).ToArray();
}
