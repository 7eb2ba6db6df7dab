using System.Globalization;

namespace Sim.Machine.Scenarios;

/// <summary>One <c>--opt name=value</c> a scenario accepts: its default and allowed values as the user types them.
/// Each scenario declares its options once (<see cref="IScenario.Options"/>);
/// <see cref="ScenarioOptions.RequireKnown(IReadOnlyList{ScenarioOption})"/> and the CLI's <c>run --list</c> / <c>run
/// &lt;scenario&gt; --help</c> read that declaration, and a test runs every scenario with each declared default spelled
/// out to prove it is the value the scenario really uses.</summary>
public sealed record ScenarioOption(string Name, string Default, string Allowed, string Description)
{
    /// <summary>Prefix of a <see cref="Default"/> that is a description, not a value (a default that depends on other
    /// options, or "not set").</summary>
    public const string DerivedDefault = "(default) ";

    /// <summary>True when <see cref="Default"/> is a value the option can be given.</summary>
    public bool HasLiteralDefault => !Default.StartsWith(DerivedDefault, StringComparison.Ordinal);

    /// <summary>An integer option in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static ScenarioOption Int(string name, long fallback, long min, long max, string description) =>
        new(
            name,
            fallback.ToString(CultureInfo.InvariantCulture),
            string.Create(CultureInfo.InvariantCulture, $"{min}..{max}"),
            description
        );

    /// <summary>One of <paramref name="choices"/> (the first is not necessarily the default).</summary>
    public static ScenarioOption Choice(string name, string fallback, string description, params string[] choices) =>
        new(name, fallback, string.Join('|', choices), description);

    /// <summary>A boolean: true/false/1/0.</summary>
    public static ScenarioOption Bool(string name, bool fallback, string description) =>
        new(name, fallback ? "1" : "0", "1|0|true|false", description);

    /// <summary>The device flavour every device scenario takes.</summary>
    public static ScenarioOption Flavour { get; } =
        Choice(
            "flavour",
            "robust",
            "robust: the recommended device; seed: the seed document's code, flaws included",
            "robust",
            "seed"
        );

    /// <summary>"name=default (allowed): description".</summary>
    public override string ToString() =>
        HasLiteralDefault
            ? $"{Name}={Default} ({Allowed}): {Description}"
            : $"{Name} ({Allowed}; default: {Default[DerivedDefault.Length..]}): {Description}";
}
