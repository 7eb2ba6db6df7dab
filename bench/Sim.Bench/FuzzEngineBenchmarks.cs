using BenchmarkDotNet.Attributes;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Sim.Bench;

/// <summary>Per-execution overhead of the fuzz engine loop (mutate, execute, coverage bookkeeping) on a target
/// that does nothing, with and without the 64 KiB edge map; and the guest-memory target uninstrumented.
/// <c>dotnet run -c Release --project bench/Sim.Bench -- --filter '*FuzzEngine*'</c>. Divide by
/// <see cref="Runs"/> for the cost of one execution.</summary>
[MemoryDiagnoser]
public class FuzzEngineBenchmarks
{
    public const int Runs = 20_000;

    [Benchmark]
    public long NoopTarget_NoCoverage() => Run(new NoopTarget(), new NullCoverage("bench"));

    [Benchmark]
    public long NoopTarget_EdgeMap() => Run(new NoopTarget(), new EdgeCoverage("bench"));

    [Benchmark]
    public long GuestMemoryTarget_NoCoverage() => Run(new GuestMemoryTarget(), new NullCoverage("bench"));

    private static long Run(IFuzzTarget target, ICoverage coverage) => new FuzzCampaign(
            target,
            new CampaignOptions
            {
                Seed = 1,
                RunsMax = Runs,
                Minimize = false,
            },
            coverage
        ).Run().Executions;

    private sealed class NoopTarget : IFuzzTarget
    {
        public string Name => "noop";

        public string Description => "does nothing";

        public int InputVersion => 1;

        public IReadOnlyList<string> InstrumentedAssemblies => [];

        public IMutator? StructureMutator => null;

        public IInputMinimizer? Minimizer => null;

        public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context) => FuzzOutcome.Completed;

        public IEnumerable<byte[]> SeedCorpus() => [new byte[16]];
    }
}
