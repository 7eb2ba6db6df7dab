using Sim.Machine.Scenarios;

namespace Sim.Scenarios;

/// <summary>Every scenario <c>virtsim run</c> knows, in the order <c>--list</c> prints them.
/// Replay finds a simulated trace's scenario here by the name in its header.</summary>
public static class ScenarioCatalog
{
    /// <summary>All scenarios, each created once (they are stateless factories): the engine's, then each device's
    /// from <see cref="DeviceCatalog"/>.</summary>
    public static IReadOnlyList<IScenario> All { get; } =
    [.. DeviceCatalog.EngineScenarios, .. DeviceCatalog.All.SelectMany(d => d.Scenarios)];

    /// <summary>The scenario named <paramref name="name"/> (ordinal match), or null.</summary>
    public static IScenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));

    /// <summary>The scenario names, comma-separated, for error messages.</summary>
    public static string Names => string.Join(", ", All.Select(s => s.Name));
}
