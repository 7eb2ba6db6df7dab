using BenchmarkDotNet.Attributes;
using Sim.Scenarios.Bench;

namespace Sim.Bench;

/// <summary>
/// The <c>virtsim bench ring</c> workload under BenchmarkDotNet: two-descriptor requests (8-byte readable request,
/// 8-byte writable response) through the driver-side and device-side split-ring code, <see cref="Batch"/> chains per
/// kick. Each reported operation is one request; MemoryDiagnoser must show 0 B allocated.
/// <c>dotnet run -c Release --project bench/Sim.Bench -- --filter '*RingBench*'</c>
/// </summary>
[MemoryDiagnoser]
public class RingBench
{
    private const int RequestsPerInvoke = 65_536;
    private RingBenchmark _ring = null!;

    [Params(1, 2, 4, 8, 16, 32, 64, 128)]
    public int Batch { get; set; }

    [Params(false, true)]
    public bool EventIdx { get; set; }

    [GlobalSetup]
    public void Setup() => _ring = RingBenchmark.Create(queueSize: 256, eventIdx: EventIdx);

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_ring.Mismatches != 0)
            throw new InvalidOperationException($"{_ring.Mismatches} responses did not match");
    }

    [Benchmark(OperationsPerInvoke = RequestsPerInvoke)]
    public void Requests() => _ring.Execute(RequestsPerInvoke, Batch);
}
