namespace Virtsim.Fuzz.Engine;

/// <summary>Settings of one campaign. The wall-clock limit is not here: the caller passes a stop predicate.</summary>
internal sealed record CampaignOptions
{
    /// <summary>Root seed; every random choice of the campaign derives from it.</summary>
    public ulong Seed { get; init; }

    /// <summary>Executions to run (seeds included), or 0 for no limit (then the stop predicate must end it).</summary>
    public long RunsMax { get; init; }

    /// <summary>Longest input the mutators produce and corpus files are cut to.</summary>
    public int InputLengthMax { get; init; } = 4096;

    /// <summary>Corpus directory to load from and add new coverage to, or null.</summary>
    public string? CorpusDirectory { get; init; }

    /// <summary>Directory for findings, or null to keep them in memory only.</summary>
    public string? FindingsDirectory { get; init; }

    public ExecutionLimits Limits { get; init; } = ExecutionLimits.Default;

    /// <summary>Minimise each new finding before saving it.</summary>
    public bool Minimize { get; init; } = true;

    /// <summary>Execution budget of one minimisation.</summary>
    public int MinimizeExecutionsMax { get; init; } = FindingMinimizer.DefaultExecutionsMax;

    /// <summary>One mutation in this many uses the target's structure mutator, when it has one.</summary>
    public int StructureMutationPeriod { get; init; } = 2;

    /// <summary>Seconds between status callbacks.</summary>
    public double StatusIntervalSeconds { get; init; } = 1.0;
}
