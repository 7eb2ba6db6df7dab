namespace Virtsim.Fuzz.Oracles;

/// <summary>A deduplicated finding of a campaign: the first report for its (oracle, site, shape), the (minimised)
/// input that reproduces it, how often it fired, and where it was saved.</summary>
internal sealed class Finding
{
    public Finding(string targetName, FindingReport report, byte[] input, long firstExecution)
    {
        TargetName = targetName;
        Report = report;
        Input = input;
        FirstExecution = firstExecution;
        Hits = 1;
    }

    public string TargetName { get; }

    /// <summary>The report of <see cref="Input"/>: after minimisation, the minimised input's own report (same oracle
    /// and site, but its message describes the saved input, not the one first found).</summary>
    public FindingReport Report { get; internal set; }

    public string Oracle => Report.Oracle;

    public string Site => Report.Site;

    public string Message => Report.Message;

    /// <summary>The reproducing input (minimised when minimisation is on).</summary>
    public byte[] Input { get; internal set; }

    /// <summary>Length of the input as first found, before minimisation.</summary>
    public int OriginalLength { get; internal set; }

    /// <summary>Campaign execution number that first hit it.</summary>
    public long FirstExecution { get; }

    /// <summary>The input shape that reached the site (<see cref="FindingReport.Shape"/>).</summary>
    public string Shape => Report.Shape;

    /// <summary>Executions that hit this (oracle, site, shape).</summary>
    public long Hits { get; internal set; }

    /// <summary>Directory it was saved to, or null (not saved, or an earlier campaign already saved it).</summary>
    public string? SavedDirectory { get; internal set; }

    /// <summary>The directory an earlier run or another worker saved this (oracle, site, shape) to, when the findings
    /// directory held it as it first fired: a known finding, reported as such and neither minimised nor saved
    /// again.</summary>
    public string? EarlierDirectory { get; internal set; }

    /// <summary>16 hex digits of a stable hash of the site (names the findings directory).</summary>
    public string SiteHash => FindingSite.Hash(Site);

    /// <summary>16 hex digits of a stable hash of (target, site, shape): a findings directory shared by several
    /// targets keeps each target's findings, and distinct shapes at one site stay distinct.</summary>
    public string KeyHash => FindingSite.Hash(TargetName + "\n" + Site + "\n" + Shape);

    /// <summary>Directory name: <c>&lt;oracle&gt;-&lt;key-hash&gt;</c>. Directories written before the key held the
    /// target and shape (<c>&lt;oracle&gt;-&lt;site-hash&gt;</c>) stay as they are and readable: nothing is renamed or
    /// overwritten, a new finding only ever adds a directory.</summary>
    public string DirectoryName => $"{Oracle}-{KeyHash}";
}
