namespace Fuzz.Oracles;

/// <summary>What fired during one execution: the oracle, the site (where, for deduplication), a message and,
/// for exceptions, the stack. Allocated only when something fires.</summary>
public sealed record FindingReport(string Oracle, string Site, string Message, string? Stack)
{
    /// <summary>Deduplication key: the same (oracle, site) is the same finding.</summary>
    public (string Oracle, string Site) Key => (Oracle, Site);

    public override string ToString() => $"{Oracle} at {Site}: {Message}";
}
