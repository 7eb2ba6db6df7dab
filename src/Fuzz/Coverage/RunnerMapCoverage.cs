namespace Virtsim.Fuzz.Coverage;

/// <summary>
/// Edge coverage written straight into the map SharpFuzz's libFuzzer runner attached. <c>Fuzzer.LibFuzzer.Run</c>
/// points SharpFuzz's trace map at the driver's shared segment before the first input; <see cref="EdgeCoverage"/>
/// would point it back at the engine's own map on every execution, so in that mode the executor uses this
/// coverage instead, which leaves the pointer where the runner put it: instrumented code writes the edges into the
/// segment that tools/libfuzzer-driver copies into libFuzzer's counters, with no copy on our side. The driver clears
/// the map before it sends each input (libfuzzer-dotnet's protocol), so <see cref="Begin"/> only forgets the
/// previous block, as the runner itself does. Before the runner starts (the warm-up runs) the pointer is still the
/// engine's map, which nothing reads in that mode.
/// </summary>
internal sealed class RunnerMapCoverage : ICoverage
{
    /// <param name="description">What <see cref="EdgeCoverage.Detect"/> found instrumented.</param>
    public RunnerMapCoverage(string description) => Description = description + "; into the libFuzzer runner's map";

    public bool IsAvailable => true;

    public string Description { get; }

    public void Begin() => CoverageMap.ResetPreviousBlock();

    public ReadOnlySpan<byte> Map => CoverageMap.Current;
}
