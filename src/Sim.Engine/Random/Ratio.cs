namespace Sim.Engine.Random;

/// <summary>A probability as an integer ratio (no floating point reaches a decision, so a seed
/// means the same choices everywhere).</summary>
public readonly record struct Ratio
{
    public Ratio(ulong numerator, ulong denominator)
    {
        if (denominator == 0) throw new ArgumentOutOfRangeException(nameof(denominator), "denominator must be positive");
        if (numerator > denominator) throw new ArgumentOutOfRangeException(nameof(numerator), "a probability cannot exceed 1");
        Numerator = numerator;
        Denominator = denominator;
    }

    public ulong Numerator { get; }

    public ulong Denominator { get; }

    public static Ratio Percent(ulong percent) => new(percent, 100);

    public override string ToString() => $"{Numerator}/{Denominator}";
}
