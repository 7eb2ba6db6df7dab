using BenchmarkDotNet.Running;

namespace Sim.Bench;

/// <summary>Runs the benchmarks named on the command line (BenchmarkDotNet's switcher):
/// <c>dotnet run -c Release --project bench/Sim.Bench -- --filter '*EventLoop*'</c>; <c>-- trace-cpu</c>:
/// the trace benchmarks in CPU time (<see cref="TraceCpuTime"/>).</summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["trace-cpu"])
        {
            TraceCpuTime.Run();
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
