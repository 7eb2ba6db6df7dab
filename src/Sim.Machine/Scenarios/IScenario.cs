namespace Sim.Machine.Scenarios;

/// <summary>A runnable scenario: builds a configured <see cref="Simulation"/> (devices, guest
/// program) from a seed and named options. Creating it twice with equal options must give runs that
/// are identical event for event.</summary>
public interface IScenario
{
    /// <summary>Short name used on the command line (e.g. "ping").</summary>
    string Name { get; }

    /// <summary>One line saying what the scenario exercises.</summary>
    string Description { get; }

    /// <summary>The <c>--opt</c> options it accepts, with their defaults and allowed values (empty: none).</summary>
    IReadOnlyList<ScenarioOption> Options => [];

    /// <summary>Builds the run. Throws <see cref="ArgumentException"/> for unknown or malformed options.</summary>
    ScenarioRun Create(ScenarioOptions options);
}
