namespace Virtsim.Fuzz.Oracles;

/// <summary>The rule a finding's site broke: what the device did wrong, the rule, and where the rule is
/// written.</summary>
/// <param name="Site">An exact site (<c>used-ring/len-exceeds-written</c>), a site family ending in <c>/</c> or
/// <c>@</c> (<c>guest-memory/</c>), or an oracle name for the oracle-wide fallback.</param>
/// <param name="Wrong">What the device (or model) did, in one sentence.</param>
/// <param name="Rule">The rule it broke.</param>
/// <param name="Citation">Where the rule is written: the VIRTIO 1.2 clause, the QEMU / Linux vhost behaviour, or the
/// project's own rule.</param>
internal sealed record OracleRule(string Site, string Wrong, string Rule, string Citation)
{
    /// <summary>One line for a summary: "rule: …; (citation)".</summary>
    public override string ToString() => $"{Wrong} Rule: {Rule} ({Citation})";
}
