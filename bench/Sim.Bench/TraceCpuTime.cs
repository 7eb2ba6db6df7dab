using System.Diagnostics;
using System.Globalization;

namespace Sim.Bench;

/// <summary>
/// <c>Sim.Bench trace-cpu</c>: <see cref="TraceBench"/>'s write and read, timed in process CPU time as well as
/// wall time, so that a loaded machine (BenchmarkDotNet reports wall time only) still gives a usable figure.
/// Prints ns per event and events/s for each, best of <see cref="Rounds"/> rounds.
/// </summary>
public static class TraceCpuTime
{
    public const int Rounds = 7;

    public static void Run()
    {
        var bench = new TraceBench();
        bench.Setup();
        Measure("write", () => bench.Write());
        Measure("read", () => bench.Read());
    }

    private static void Measure(string name, Func<object> op)
    {
        op();
        double bestCpu = double.MaxValue,
            bestWall = double.MaxValue;
        long allocated = 0;
        for (int i = 0; i < Rounds; i++)
        {
            TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
            long bytes = GC.GetAllocatedBytesForCurrentThread();
            var wall = Stopwatch.StartNew();
            op();
            wall.Stop();
            allocated = GC.GetAllocatedBytesForCurrentThread() - bytes;
            bestCpu = Math.Min(
                bestCpu,
                (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalNanoseconds / TraceBench.Events
            );
            bestWall = Math.Min(bestWall, wall.Elapsed.TotalNanoseconds / TraceBench.Events);
        }
        Console.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"trace {name}: {bestCpu:F1} ns/event CPU ({1e9 / bestCpu:N0} events/s), {bestWall:F1} ns/event wall, {allocated} bytes allocated per {TraceBench.Events} events (best of {Rounds})"
            )
        );
    }
}
