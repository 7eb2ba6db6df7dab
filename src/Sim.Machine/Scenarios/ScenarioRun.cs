using System.Globalization;
using Sim.Engine.Time;

namespace Sim.Machine.Scenarios;

// Scoped inside the namespace: from Sim.Machine.*, a file-level using would lose to the sibling namespace Simulation.
using Sim.Machine.Simulation;

/// <summary>A configured simulation ready to run, and how to report it. The report is the guest's
/// console output, the scenario's own summary lines, then the counters and hashes — all
/// deterministic, so two runs with one seed print identical reports.</summary>
public sealed class ScenarioRun
{
    private readonly Func<IEnumerable<string>>? _summary;

    /// <param name="simulation">The configured simulation (guest program started).</param>
    /// <param name="summary">Extra report lines computed after the run (device statistics), or null.</param>
    public ScenarioRun(Simulation simulation, Func<IEnumerable<string>>? summary = null)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        Simulation = simulation;
        _summary = summary;
    }

    /// <summary>The wired simulation.</summary>
    public Simulation Simulation { get; }

    /// <summary>Runs the simulation to its end; returns why it stopped.</summary>
    public StopReason Run() => Simulation.Run();

    /// <summary>The final report lines.</summary>
    public IReadOnlyList<string> ReportLines()
    {
        var lines = new List<string>(Simulation.Output);
        if (Simulation.OutputLinesDropped > 0)
            lines.Add($"({Simulation.OutputLinesDropped} console lines dropped)");
        if (_summary is not null)
            lines.AddRange(_summary());
        lines.Add("counters: " + Simulation.Counters);
        lines.Add(
            string.Create(
                CultureInfo.InvariantCulture,
                $"stop={Simulation.StopReason} guest_exited={Simulation.GuestExited} events={Simulation.EventCount} "
                    + $"event_hash=0x{Simulation.EventHash:x16} memory_hash=0x{Simulation.Memory.ContentHash():x16}"
            )
        );
        return lines;
    }
}
