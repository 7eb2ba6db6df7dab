namespace Virtsim.Fuzz.Oracles;

/// <summary>What fired during one execution: the oracle, the site (where, for deduplication), a message and,
/// for exceptions, the stack. Allocated only when something fires.</summary>
public sealed record FindingReport(string Oracle, string Site, string Message, string? Stack)
{
    /// <summary>Where the oracle fired: (oracle, site), the rule that broke.</summary>
    public (string Oracle, string Site) Key => (Oracle, Site);

    /// <summary>The input shape that reached the site (<see cref="FindingShape"/>: the byte classes of the request the
    /// device took last, e.g. <c>r8-15.w1-7</c>), or empty when no request was taken.</summary>
    public string Shape { get; init; } = "";

    /// <summary>Deduplication key within one target: the same rule reached by the same input shape is the same finding;
    /// another shape at the same site is a distinct cause (issue 12 item 6).</summary>
    public (string Oracle, string Site, string Shape) DedupKey => (Oracle, Site, Shape);

    /// <summary><c>oracle at site: message</c>, the form findings are printed in.</summary>
    public override string ToString() => $"{Oracle} at {Site}: {Message}";
}
