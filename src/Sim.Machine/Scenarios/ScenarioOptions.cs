using System.Collections.Immutable;
using System.Globalization;
using Sim.Machine.Kvm;

namespace Sim.Machine.Scenarios;

// Scoped inside the namespace: from Sim.Machine.*, a file-level using would lose to the sibling namespace Simulation.
using Sim.Machine.Simulation;

/// <summary>The seed and the named options of a scenario run (ordinal-sorted, so their order in a
/// trace header or report is stable).</summary>
public sealed record ScenarioOptions
{
    /// <summary>Options with <paramref name="seed"/> and no named options.</summary>
    public ScenarioOptions(ulong seed)
        : this(seed, ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal)) { }

    /// <summary>Options with <paramref name="seed"/> and the named options <paramref name="named"/>
    /// (key=value).</summary>
    public ScenarioOptions(ulong seed, IEnumerable<KeyValuePair<string, string>> named)
    {
        ArgumentNullException.ThrowIfNull(named);
        Seed = seed;
        Named = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, named);
    }

    /// <summary>The root seed of the run.</summary>
    public ulong Seed { get; init; }

    /// <summary>Scenario-specific options by name, in ordinal order.</summary>
    public ImmutableSortedDictionary<string, string> Named { get; init; }

    /// <summary>A copy with option <paramref name="name"/> set to <paramref name="value"/>.</summary>
    public ScenarioOptions With(string name, string value) => this with { Named = Named.SetItem(name, value) };

    /// <summary>Throws if an option is not one of <paramref name="known"/> (catches typos).</summary>
    public void RequireKnown(params string[] known)
    {
        foreach (string name in Named.Keys)
        {
            if (Array.IndexOf(known, name) < 0)
            {
                throw new ArgumentException($"unknown option '{name}'; known: {string.Join(", ", known)}");
            }
        }
    }

    /// <summary>Throws if an option is not one of the <paramref name="declared"/> ones (catches typos).</summary>
    public void RequireKnown(IReadOnlyList<ScenarioOption> declared)
    {
        ArgumentNullException.ThrowIfNull(declared);
        RequireKnown(declared.Select(o => o.Name).ToArray());
    }

    /// <summary>Option <paramref name="name"/> as an integer in [<paramref name="min"/>,
    /// <paramref name="max"/>], or <paramref name="fallback"/> when absent.</summary>
    public long GetInt64(string name, long fallback, long min, long max)
    {
        if (!Named.TryGetValue(name, out string? text))
            return fallback;
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
        {
            throw new ArgumentException($"option '{name}' must be an integer, not '{text}'");
        }
        if (value < min || value > max)
            throw new ArgumentException($"option '{name}' must lie in [{min}, {max}], not {value}");
        return value;
    }

    /// <summary>Option <paramref name="name"/> as a boolean (true/false/1/0), or <paramref name="fallback"/>.</summary>
    public bool GetBool(string name, bool fallback)
    {
        if (!Named.TryGetValue(name, out string? text))
            return fallback;
        return text switch
        {
            "1" or "true" => true,
            "0" or "false" => false,
            _ => throw new ArgumentException($"option '{name}' must be true/false/1/0, not '{text}'"),
        };
    }

    /// <summary>The option <paramref name="name"/>, or <paramref name="fallback"/> when it is not given.</summary>
    public string GetString(string name, string fallback) =>
        Named.TryGetValue(name, out string? text) ? text : fallback;

    /// <summary>Build the machine for a real vCPU (<see cref="SimulationOptions.ExternalVcpu"/>, with
    /// <see cref="LatencyModel.Zero"/>): the KVM recorder and the replay of its traces set it; the scenario's
    /// guest program is then not started. Not a named option: it never reaches a trace header.</summary>
    public bool ExternalVcpu { get; init; }

    /// <summary>Simulation options carrying this seed and these named options (plus "scenario").</summary>
    public SimulationOptions ToSimulationOptions(string scenarioName) =>
        ExternalVcpu
            ? new()
            {
                Seed = Seed,
                Named = Named.SetItem("scenario", scenarioName),
                ExternalVcpu = true,
                Latency = LatencyModel.Zero,
            }
            : new() { Seed = Seed, Named = Named.SetItem("scenario", scenarioName) };
}
