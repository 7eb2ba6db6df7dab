namespace Virtsim.Fuzz.Coverage;

/// <summary>No coverage: the engine degrades to blind mutation of the seed corpus (unit tests, CI runs of
/// uninstrumented code).</summary>
internal sealed class NullCoverage : ICoverage
{
    public NullCoverage(string reason) => Description = "unavailable: " + reason;

    public bool IsAvailable => false;

    public string Description { get; }

    public void Begin() { }

    public ReadOnlySpan<byte> Map => [];
}
