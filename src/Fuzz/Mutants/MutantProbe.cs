using System.Diagnostics;
using System.Globalization;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Mutants;

/// <summary>
/// Runs inside the load context that holds a mutant of Sim.Devices (<see cref="MutantHost"/>): fuzzes each target in
/// turn for its share of the budget with coverage on and stops at the first finding. Only strings and numbers cross
/// the context boundary: the answer is one line, <c>killed &lt;ms&gt; &lt;execs&gt; &lt;target&gt; &lt;oracle&gt;
/// &lt;site&gt;</c> or <c>survived &lt;ms&gt; &lt;execs&gt;</c>.
/// </summary>
internal static class MutantProbe
{
    /// <param name="targets">Fuzz target names, fuzzed in this order.</param>
    /// <param name="seconds">The whole budget, shared equally between the targets.</param>
    /// <param name="seed">The campaign seed, the same for every mutant so kills are comparable.</param>
    /// <param name="findings">Directory the killing input is saved to (null: not saved).</param>
    public static string Run(string[] targets, double seconds, ulong seed, string? findings)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var clock = Stopwatch.StartNew();
        long executions = 0;
        double share = seconds / Math.Max(1, targets.Length);
        for (int t = 0; t < targets.Length; t++)
        {
            IFuzzTarget target = FuzzTargets.Create(targets[t])
                ?? throw new ArgumentException($"no fuzz target '{targets[t]}'", nameof(targets));
            var options = new CampaignOptions
            {
                Seed = seed,
                Minimize = false,
                StatusIntervalSeconds = 3600,
                FindingsDirectory = findings,
            };
            var campaign = new FuzzCampaign(target, options, EdgeCoverage.Detect(target));
            TimeSpan until = TimeSpan.FromSeconds(share * (t + 1));
            CampaignResult result = campaign.Run(() => campaign.FindingCount > 0 || clock.Elapsed >= until);
            executions += result.Executions;
            if (result.Findings.Count > 0)
            {
                Oracles.Finding f = result.Findings[0];
                return string.Create(
                    CultureInfo.InvariantCulture,
                    $"killed {clock.ElapsedMilliseconds} {executions} {target.Name} {f.Oracle} {f.Site}"
                );
            }
        }
        return string.Create(CultureInfo.InvariantCulture, $"survived {clock.ElapsedMilliseconds} {executions}");
    }
}
