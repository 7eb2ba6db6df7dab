using BenchmarkDotNet.Running;

namespace Sim.Bench;

/// <summary>Runs the benchmarks named on the command line (BenchmarkDotNet's switcher):
/// <c>dotnet run -c Release --project bench/Sim.Bench -- --filter '*EventLoop*'</c>.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
