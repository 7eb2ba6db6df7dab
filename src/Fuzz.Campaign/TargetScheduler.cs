namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// Time shares for <c>--target all</c> (or a list) with fewer workers than targets: workers run one target for a
/// slice at a time, and each free worker slot takes the target with the least weighted run time — targets that
/// found a new edge in their last slice count their time at half, so they get about twice the share of those that
/// have gone quiet. Targets never run go first, in name order; ties break by name (deterministic).
/// </summary>
public sealed class TargetScheduler
{
    /// <summary>Weight of a target whose last slice found a new edge (others weigh 1).</summary>
    public const double ProductiveWeight = 2.0;

    private readonly SortedDictionary<string, (double Seconds, bool Productive, bool Ran)> _targets = new(
        StringComparer.Ordinal
    );

    /// <summary>A scheduler over <paramref name="targets"/>, none run yet.</summary>
    public TargetScheduler(IEnumerable<string> targets)
    {
        foreach (string t in targets)
            _targets[t] = (0, false, false);
    }

    /// <summary>Records a finished slice of <paramref name="seconds"/>; <paramref name="foundNewEdge"/> when the target
    /// raised its edge count during it.</summary>
    public void Finished(string target, double seconds, bool foundNewEdge)
    {
        (double s, _, _) = _targets[target];
        _targets[target] = (s + seconds, foundNewEdge, true);
    }

    /// <summary>Run time so far per target (for the log).</summary>
    public double SecondsOf(string target) => _targets[target].Seconds;

    /// <summary>The next target for a free slot, excluding those running now; null when all are running.</summary>
    public string? Next(IReadOnlySet<string> running)
    {
        string? best = null;
        double bestScore = double.MaxValue;
        foreach ((string target, (double seconds, bool productive, bool ran)) in _targets)
        {
            if (running.Contains(target))
                continue;
            double score = ran ? seconds / (productive ? ProductiveWeight : 1.0) : -1;
            if (score < bestScore)
            {
                best = target;
                bestScore = score;
            }
        }
        return best;
    }
}
