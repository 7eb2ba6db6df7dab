namespace Sim.Engine.Random;

/// <summary>A probability as an integer ratio (no floating point reaches a decision, so a seed
/// means the same choices everywhere).</summary>
public readonly record struct Ratio
{
    /// <summary>The probability <paramref name="numerator"/> / <paramref name="denominator"/>; throws unless
    /// 0 &lt;= numerator &lt;= denominator and denominator &gt; 0.</summary>
    public Ratio(ulong numerator, ulong denominator)
    {
        if (denominator == 0)
            throw new ArgumentOutOfRangeException(nameof(denominator), "denominator must be positive");
        if (numerator > denominator)
            throw new ArgumentOutOfRangeException(nameof(numerator), "a probability cannot exceed 1");
        Numerator = numerator;
        Denominator = denominator;
    }

    /// <summary>The numerator, at most <see cref="Denominator"/>.</summary>
    public ulong Numerator { get; }

    /// <summary>The denominator, positive.</summary>
    public ulong Denominator { get; }

    /// <summary><paramref name="percent"/> out of 100.</summary>
    public static Ratio Percent(ulong percent) => new(percent, 100);

    /// <summary>"numerator/denominator".</summary>
    public override string ToString() => $"{Numerator}/{Denominator}";
}
