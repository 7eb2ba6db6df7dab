namespace Fuzz.Tests;

/// <summary>Tests that read or write the process-wide <see cref="global::Virtsim.Fuzz.Coverage.CoverageMap"/> run one
/// at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CoverageMapCollection
{
    public const string Name = "coverage-map";
}
