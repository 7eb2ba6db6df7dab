using System.Diagnostics;
using Sim.Engine.Random;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// A coverage-guided campaign on one target: run the corpus directory and the target's seeds, then loop
/// pick a corpus entry → mutate (havoc with splicing, or the target's structure mutator) → execute → keep the
/// input when it shows a new edge or hit-count bucket; deduplicate findings by (oracle, site), minimise and
/// save each new one. Given the same seed, run count, corpus directory contents and a deterministic target,
/// it produces the same corpus and findings. Wall-clock time only drives the status line and the caller's
/// stop predicate; the loop itself allocates nothing per execution.
/// </summary>
internal sealed class FuzzCampaign
{
    /// <summary>Subsystem id for the mutation PRNG stream (see <see cref="Prng.DeriveSeed"/>).</summary>
    private const ulong MutationStream = 1;

    private readonly IFuzzTarget _target;
    private readonly CampaignOptions _options;
    private readonly ICoverage _coverage;
    private readonly FuzzExecutor _executor;
    private readonly CoverageTracker _tracker = new();
    private readonly HavocMutator _havoc = new();
    private readonly List<byte[]> _corpus = [];
    private readonly HashSet<string> _corpusNames = new(StringComparer.Ordinal);
    private readonly List<Finding> _findings = [];
    private readonly Dictionary<(string, string, string), Finding> _findingsByKey = [];
    private long _executions;
    private long _minimizeExecutions;

    public FuzzCampaign(IFuzzTarget target, CampaignOptions options, ICoverage coverage)
    {
        if (options.InputLengthMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), "InputLengthMax must be positive");
        if (options.StructureMutationPeriod <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), "StructureMutationPeriod must be positive");
        _target = target;
        _options = options;
        _coverage = coverage;
        _executor = new FuzzExecutor(target, coverage, options.Limits);
        if (options.FindingsDirectory is { } findings)
            target.UseFindingsDirectory(findings);
    }

    /// <summary>Distinct findings so far (a stop predicate may end the campaign at the first).</summary>
    public int FindingCount => _findings.Count;

    /// <summary>Where new findings and warnings are narrated as they happen, or null.</summary>
    public TextWriter? Log { get; set; }

    /// <summary>Hooks of a campaign worker (src/Fuzz/Workers): told of each corpus addition and new finding, and
    /// asked between executions; null for a plain campaign.</summary>
    public ICampaignHooks? Hooks { get; set; }

    /// <summary>Executions so far (seeds, imports and mutations; minimisation not counted).</summary>
    public long Executions => _executions;

    /// <summary>Distinct edges seen so far.</summary>
    public int Edges => _tracker.Edges;

    /// <summary>Inputs in the in-memory corpus.</summary>
    public int CorpusCount => _corpus.Count;

    /// <summary>New findings of this run, in discovery order.</summary>
    public IReadOnlyList<Finding> Findings => _findings;

    /// <summary>Runs an input from outside the mutation loop (a resumed queue, another worker's entry) and keeps it
    /// when it shows new coverage, or always with <paramref name="keepRegardless"/>. True when kept.</summary>
    public bool Offer(ReadOnlySpan<byte> input, bool keepRegardless = false)
    {
        if (input.Length > _options.InputLengthMax)
            input = input[.._options.InputLengthMax];
        int before = _corpus.Count;
        RunOne(input, keepRegardless);
        return _corpus.Count > before;
    }

    /// <summary>Runs until <see cref="CampaignOptions.RunsMax"/> executions or until <paramref name="shouldStop"/>
    /// says so (checked every execution). <paramref name="onStatus"/> gets a snapshot about once per
    /// <see cref="CampaignOptions.StatusIntervalSeconds"/>.</summary>
    public CampaignResult Run(Func<bool>? shouldStop = null, Action<CampaignStatus>? onStatus = null)
    {
        if (_options.RunsMax <= 0 && shouldStop is null)
            throw new ArgumentException("a campaign needs RunsMax or a stop predicate", nameof(shouldStop));
        var clock = Stopwatch.StartNew();
        long statusEvery = Math.Max(1, (long)(_options.StatusIntervalSeconds * Stopwatch.Frequency));
        long nextStatus = statusEvery;
        var prng = new Prng(Prng.DeriveSeed(_options.Seed, MutationStream));

        RunInitialInputs(shouldStop);

        byte[] work = new byte[_options.InputLengthMax];
        IMutator? structure = _target.StructureMutator;
        long runsMax = _options.RunsMax <= 0 ? long.MaxValue : _options.RunsMax;
        while (_executions < runsMax && shouldStop?.Invoke() != true)
        {
            byte[] parent = _corpus[prng.IntLessThan(_corpus.Count)];
            int length = Math.Min(parent.Length, work.Length);
            parent.AsSpan(0, length).CopyTo(work);
            if (structure is not null && prng.IntLessThan(_options.StructureMutationPeriod) == 0)
            {
                length = structure.Mutate(work, length, prng);
                if ((uint)length > (uint)work.Length)
                    throw new InvalidOperationException(
                        $"structure mutator of '{_target.Name}' returned length {length} outside [0, {work.Length}]"
                    );
            }
            else
            {
                byte[] partner = _corpus[prng.IntLessThan(_corpus.Count)];
                length = _havoc.Mutate(work, length, prng, partner);
            }
            RunOne(work.AsSpan(0, length));
            if (Hooks is not null && !Hooks.BetweenExecutions(this))
                break;

            if (onStatus is not null && clock.ElapsedTicks >= nextStatus)
            {
                nextStatus = clock.ElapsedTicks + statusEvery;
                onStatus(Status(clock.Elapsed));
            }
        }
        clock.Stop();
        return new CampaignResult(
            _executions,
            _minimizeExecutions,
            clock.Elapsed,
            _tracker.Edges,
            _coverage.IsAvailable,
            _corpus.ToArray(),
            _findings.ToArray()
        );
    }

    /// <summary>The current status (also what the callback receives).</summary>
    public CampaignStatus Status(TimeSpan elapsed)
    {
        long perSecond = elapsed.TotalSeconds > 0 ? (long)(_executions / elapsed.TotalSeconds) : 0;
        var byOracle = _findings
            .GroupBy(f => f.Oracle, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new KeyValuePair<string, int>(g.Key, g.Count()))
            .ToArray();
        return new CampaignStatus(
            _executions,
            perSecond,
            _tracker.Edges,
            _coverage.IsAvailable,
            _corpus.Count,
            byOracle,
            elapsed
        );
    }

    private void RunInitialInputs(Func<bool>? shouldStop)
    {
        var initial = new List<byte[]>();
        RemoveStaleTemporaries(_options.CorpusDirectory);
        RemoveStaleTemporaries(_options.FindingsDirectory);
        if (_options.CorpusDirectory is { } dir)
        {
            foreach (byte[] input in CorpusDirectory.Load(dir, _options.InputLengthMax, Log))
            {
                _corpusNames.Add(CorpusDirectory.ContentName(input));
                initial.Add(input);
            }
        }
        int earlier = _options.FindingsDirectory is { } findings
            ? Workers.FindingRegistry.Load(findings, _target.Name).Count
            : 0;
        if (initial.Count > 0 || earlier > 0)
        {
            Log?.WriteLine($"resuming: {initial.Count} corpus entries, {earlier} findings loaded");
        }
        foreach (byte[] seed in _target.SeedCorpus())
        {
            initial.Add(
                seed.Length > _options.InputLengthMax ? seed.AsSpan(0, _options.InputLengthMax).ToArray() : seed
            );
        }
        foreach (byte[] input in initial)
        {
            if (shouldStop?.Invoke() == true)
                break;
            // Without coverage every initial input is kept: blind mutation needs the seeds' structure.
            RunOne(input, keepRegardless: !_coverage.IsAvailable);
        }
        if (_corpus.Count == 0)
            _corpus.Add([]);
    }

    private void RunOne(ReadOnlySpan<byte> input, bool keepRegardless = false)
    {
        _executions++;
        ExecutionResult result = _executor.Execute(input);
        if (result.Finding is { } report)
        {
            OnFinding(report, input);
            return;
        }
        if (result.Outcome != FuzzOutcome.Completed)
            return;
        int edgesBefore = _tracker.Edges;
        bool novel = _coverage.IsAvailable && _tracker.Merge(_coverage.Map);
        if (novel && Hooks is not null)
            Hooks.CheckStability(_executor, input, _coverage.Map);
        if (novel || keepRegardless)
            AddToCorpus(input.ToArray(), _tracker.Edges > edgesBefore);
    }

    private void RemoveStaleTemporaries(string? directory)
    {
        if (directory is null)
            return;
        int removed = AtomicFile.RemoveStale(directory);
        if (removed > 0)
            Log?.WriteLine($"removed {removed} temporary file(s) a killed campaign left in {directory}");
    }

    private void AddToCorpus(byte[] input, bool newEdges = false)
    {
        _corpus.Add(input);
        Hooks?.CorpusAdded(input, newEdges);
        if (_options.CorpusDirectory is { } dir && _corpusNames.Add(CorpusDirectory.ContentName(input)))
        {
            CorpusDirectory.Save(dir, input);
        }
    }

    private void OnFinding(FindingReport report, ReadOnlySpan<byte> input)
    {
        if (_findingsByKey.TryGetValue(report.DedupKey, out Finding? known))
        {
            known.Hits++;
            return;
        }
        byte[] original = input.ToArray();
        var finding = new Finding(_target.Name, report, original, _executions) { OriginalLength = original.Length };
        _findingsByKey.Add(report.DedupKey, finding);
        _findings.Add(finding);
        // Known: its directory exists already, saved by an earlier run or, in a campaign, by another worker of the
        // target (workers share <dir>/findings/<target>; a directory appears whole, AtomicFile). Looked up when it
        // first fires rather than listed at the start, so one rule serves a resumed run and a finding another
        // worker saved a moment ago; its saved input and trace stay as they are, neither minimised nor saved again.
        if (
            _options.FindingsDirectory is { } dir
            && Path.Combine(dir, finding.DirectoryName) is var earlier
            && Directory.Exists(earlier)
        )
        {
            finding.EarlierDirectory = earlier;
            Log?.WriteLine(
                $"known finding at execution {_executions}: {report.Oracle} at {report.Site} (saved earlier in "
                    + $"{earlier})"
            );
            Hooks?.FindingAdded(finding, original, known: true);
            return;
        }
        if (_options.Minimize)
            Minimize(finding, report, original);
        string saved = Save(finding);
        Hooks?.FindingAdded(finding, original, known: false);
        Log?.WriteLine(
            $"new finding #{_findings.Count} at execution {_executions}: {report.Oracle} at {report.Site}: "
                + $"{finding.Message} [{finding.Input.Length} bytes, from {original.Length}]{saved}"
        );
    }

    /// <summary>Shrinks the finding's input while the same finding (dedup key) fires, and takes the report of the
    /// input it keeps.</summary>
    private void Minimize(Finding finding, FindingReport report, byte[] original)
    {
        finding.Input = FindingMinimizer.Minimize(
            original,
            c => _executor.Execute(c).Finding?.DedupKey == report.DedupKey,
            _target.Minimizer,
            _options.MinimizeExecutionsMax,
            out int spent,
            _target.MinimizeFiringRunsMax(report.Oracle)
        );
        _minimizeExecutions += spent;
        // The summary, the log and --reproduce must all describe the saved input: take its own report.
        if (finding.Input.Length != original.Length || !finding.Input.AsSpan().SequenceEqual(original))
        {
            _minimizeExecutions++;
            if (_executor.Execute(finding.Input).Finding is { } minimised && minimised.DedupKey == report.DedupKey)
                finding.Report = minimised;
        }
    }

    /// <summary>Saves a new finding under the findings directory, if there is one; the log's note on where it went
    /// (or, when it could not be saved, the input itself).</summary>
    private string Save(Finding finding)
    {
        string saved = "";
        if (_options.FindingsDirectory is { } dir)
        {
            try
            {
                finding.SavedDirectory = FindingWriter.Save(
                    dir,
                    finding,
                    _target.InputVersion,
                    _options.Seed,
                    _target,
                    _options.Limits
                );
                saved = finding.SavedDirectory is null
                    ? $" (not saved: {Path.Combine(dir, finding.DirectoryName)} appeared during the campaign)"
                    : $" -> {finding.SavedDirectory}";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Never lose a finding: the log then holds the input itself.
                saved = $" (NOT SAVED: {e.Message}; input hex {Convert.ToHexString(finding.Input).ToLowerInvariant()})";
            }
        }
        return saved;
    }
}
