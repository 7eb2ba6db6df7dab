using System.Diagnostics;

namespace Virtsim.Cli.Commands;

/// <summary>Process CPU time (user + system, all threads) between the first and the last call of
/// <see cref="ReadWallAndMarkCpu"/>, which returns the wall clock (<see cref="Stopwatch.GetTimestamp"/>) so it can be
/// handed to a benchmark that reads its clock once before and once after the timed part.</summary>
internal sealed class CpuStopwatch
{
    private TimeSpan? _first;
    private TimeSpan _last;

    /// <summary>CPU time between the first and the last mark (zero before two marks).</summary>
    public TimeSpan Elapsed => _first is { } first ? _last - first : TimeSpan.Zero;

    public long ReadWallAndMarkCpu()
    {
        TimeSpan cpu = Environment.CpuUsage.TotalTime;
        _first ??= cpu;
        _last = cpu;
        return Stopwatch.GetTimestamp();
    }
}
