namespace Virtsim.Fuzz.Glue;

/// <summary>
/// The narrow seam between byte-level engine glue (<see cref="AflForkServer"/>, <see cref="LibFuzzerRunner"/>)
/// and virtsim: run one input, then show the edge map it left (SharpFuzz's probes, in the engine-owned
/// <see cref="Coverage.CoverageMap"/>, or under libFuzzer in the runner's segment). The AFL++ glue is ours, not
/// SharpFuzz's <c>Fuzzer.Run</c>, which answers every failure with one status (no hang/crash distinction);
/// docs/fuzzing.md, "Engine glue".
/// </summary>
internal interface IGlueTarget
{
    /// <summary>Runs one input with every oracle armed; never throws for anything the input does.</summary>
    GlueVerdict Run(ReadOnlySpan<byte> input);

    /// <summary>AFL-style hit-count map of the last <see cref="Run"/> (empty when coverage is unavailable).</summary>
    ReadOnlySpan<byte> Map { get; }
}
