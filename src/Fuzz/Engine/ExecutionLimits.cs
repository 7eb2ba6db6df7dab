namespace Virtsim.Fuzz.Engine;

/// <summary>Per-execution bounds the engine enforces around every target run.</summary>
/// <param name="StepsMax">Fallback hang budget: steps counted through <see cref="Targets.FuzzContext.Step()"/>.</param>
/// <param name="AllocatedBytesMax">Resource bound: host bytes one execution may allocate
/// (<c>GC.GetAllocatedBytesForCurrentThread</c>) before it is a <see cref="Oracles.FuzzOracle.Resource"/>
/// finding.</param>
internal readonly record struct ExecutionLimits(long StepsMax, long AllocatedBytesMax)
{
    /// <summary>64 MiB: far above any sane execution, below what a guest-sized allocation reaches.</summary>
    public const long DefaultAllocatedBytesMax = 64L << 20;

    public static ExecutionLimits Default => new(Targets.FuzzContext.DefaultStepsMax, DefaultAllocatedBytesMax);
}
