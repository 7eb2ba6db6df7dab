using Sim.Machine.Scenarios;

namespace Virtsim.Cli.Commands;

/// <summary>Turns repeated <c>--opt key=value</c> arguments into <see cref="ScenarioOptions"/>.</summary>
internal static class ScenarioOptionParser
{
    public static ScenarioOptions Parse(ulong seed, IEnumerable<string> pairs)
    {
        var named = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in pairs)
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                throw new CliInputException($"--opt takes key=value, not '{pair}'");
            string key = pair[..eq].Trim();
            if (named.ContainsKey(key))
                throw new CliInputException($"option '{key}' given twice");
            named[key] = pair[(eq + 1)..].Trim();
        }
        return new ScenarioOptions(seed, named);
    }
}
