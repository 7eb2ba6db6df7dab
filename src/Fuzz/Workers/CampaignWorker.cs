using System.Diagnostics;
using System.Globalization;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// One worker process of a campaign: a <see cref="FuzzCampaign"/> plus AFL++'s on-disk contract. Every corpus
/// addition becomes <c>queue/id:NNNNNN,...</c>; a new finding becomes <c>crashes/</c> (or <c>hangs/</c>) in AFL++'s
/// naming and a findings directory (input, trace, summary) shared by the target's workers; <c>fuzzer_stats</c>
/// and <c>plot_data</c> are kept current; other workers' queues are imported every few seconds. A rerun on the same
/// directory resumes: the queue is loaded (kept whole), counters continue from <c>fuzzer_stats</c>, and findings
/// already saved are known (counted, not saved again). Every file appears by rename, so <c>kill -9</c> loses at
/// most the executions since the last stats write and leaves only dot-prefixed temporary files, which the next
/// start removes.
/// </summary>
internal sealed class CampaignWorker : ICampaignHooks
{
    private readonly IFuzzTarget _target;
    private readonly CampaignOptions _options;
    private readonly ICoverage _coverage;
    private readonly CampaignLayout _layout;
    private readonly WorkerSettings _settings;
    private readonly TextWriter _log;
    private readonly SyncImporter _sync;
    private readonly Stopwatch _clock = new();
    private readonly byte[] _firstMap = new byte[CoverageMap.Size];
    private readonly SortedDictionary<string, int> _findingsByOracle = new(StringComparer.Ordinal);
    private FuzzCampaign? _campaign;
    private volatile bool _stopRequested;
    private string? _stopReason;
    private int _nextQueueId,
        _nextCrashId,
        _nextHangId;
    private bool _resuming;
    private string? _importFrom;
    private string? _importName;
    private long _priorExecs;
    private double _priorRunSeconds;
    private long _startUnix;
    private long _lastFindUnix,
        _lastCrashUnix,
        _lastHangUnix,
        _lastNewEdgeUnix;
    private long _savedCrashes,
        _savedHangs,
        _imported,
        _found;
    private long _stabilityRuns,
        _stabilityStable;
    private long _nextStatsTicks,
        _nextSyncTicks,
        _nextParentCheckTicks;
    private long _rssStart;
    private int _knownFindings;
    private int _betweenCount;
    private long _rateExecs;
    private double _rateSeconds;

    public CampaignWorker(
        IFuzzTarget target,
        CampaignOptions options,
        ICoverage coverage,
        CampaignLayout layout,
        WorkerSettings settings,
        TextWriter log
    )
    {
        if (!WorkerSettings.IsValidName(settings.Name))
            throw new ArgumentException($"invalid worker name '{settings.Name}'", nameof(settings));
        _target = target;
        _coverage = coverage;
        _layout = layout;
        _settings = settings;
        _log = log;
        _options = options with { CorpusDirectory = null, FindingsDirectory = layout.Findings(target.Name) };
        _sync = new SyncImporter(layout, settings.Name, target.Name, name => FuzzTargets.Create(name)?.Name ?? name);
    }

    /// <summary>Asks the worker to stop after the current execution (signal handlers call it).</summary>
    public void RequestStop(string reason)
    {
        _stopReason ??= reason;
        _stopRequested = true;
    }

    /// <summary>Runs until the run count, <paramref name="shouldStop"/>, a stop request or the parent's
    /// death.</summary>
    public CampaignResult Run(Func<bool>? shouldStop = null)
    {
        string me = _settings.Name;
        Directory.CreateDirectory(_layout.Queue(me));
        Directory.CreateDirectory(_layout.Crashes(me));
        Directory.CreateDirectory(_layout.Hangs(me));
        Directory.CreateDirectory(_options.FindingsDirectory!);
        int stale = StaleTempFiles.Clean(_layout.Worker(me)) + StaleTempFiles.Clean(_options.FindingsDirectory!);
        if (stale > 0)
            _log.WriteLine($"removed {stale} temporary file(s) left by a killed run");
        File.WriteAllText(_layout.TargetFile(me), _target.Name + "\n");
        if (_settings.Main && !File.Exists(Path.Combine(_layout.Worker(me), CampaignLayout.MainNodeName)))
        {
            File.WriteAllText(Path.Combine(_layout.Worker(me), CampaignLayout.MainNodeName), "");
        }
        _rssStart = Environment.WorkingSet;
        _startUnix = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        _nextQueueId = AflQueueName.NextId(_layout.Queue(me));
        _nextCrashId = AflQueueName.NextId(_layout.Crashes(me));
        _nextHangId = AflQueueName.NextId(_layout.Hangs(me));
        LoadPriorStats();
        PlotDataFile.Prepare(_layout.PlotData(me));

        var campaign = new FuzzCampaign(_target, _options, _coverage) { Log = _log, Hooks = this };
        _campaign = campaign;
        // Counted for the log and stats only: the campaign itself knows a finding by its directory
        // (FuzzCampaign.OnFinding), whether an earlier run or another worker saved it.
        _knownFindings = FindingRegistry.Load(_options.FindingsDirectory!, _target.Name).Count;
        Resume(campaign);
        _clock.Start();
        SyncNow(campaign);
        long statsEvery = (long)(_settings.StatsEverySeconds * Stopwatch.Frequency);
        _nextStatsTicks = statsEvery;
        _nextSyncTicks = (long)(_settings.SyncEverySeconds * Stopwatch.Frequency);
        CampaignResult result = campaign.Run(() => _stopRequested || shouldStop?.Invoke() == true);
        // A worker's result holds the findings it saved; the known ones are in its log and stats (known_findings),
        // and its exit code says whether it found something new.
        result = result with { Findings = [.. result.Findings.Where(f => f.EarlierDirectory is null)] };
        WriteStats(campaign, final: true);
        _log.WriteLine(
            $"stopped: {_stopReason ?? "limit reached"}; execs_done={_priorExecs + campaign.Executions} "
                + $"corpus={campaign.CorpusCount} edges={campaign.Edges} rss_start_kb={_rssStart / 1024} "
                + $"rss_end_kb={Environment.WorkingSet / 1024}"
        );
        return result;
    }

    private void Resume(FuzzCampaign campaign)
    {
        string queue = _layout.Queue(_settings.Name);
        var entries = Directory
            .EnumerateFiles(queue)
            .Select(p => (Path: p, Ok: AflQueueName.TryParseId(Path.GetFileName(p), out int id), Id: id))
            .Where(e => e.Ok)
            .OrderBy(e => e.Id)
            .ToList();
        if (entries.Count == 0 && _priorExecs == 0)
        {
            _log.WriteLine(
                $"new campaign directory {_layout.Worker(_settings.Name)} ({_knownFindings} known findings)"
            );
            return;
        }
        _resuming = true;
        int loaded = 0;
        foreach ((string path, _, _) in entries)
        {
            byte[] data;
            try
            {
                data = File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.WriteLine($"warning: queue entry {path} is unreadable, not loaded: {e.Message}");
                continue;
            }
            // Kept whole: each entry was interesting when found, and dropping one would lose a user's input.
            campaign.Offer(data, keepRegardless: true);
            loaded++;
        }
        _resuming = false;
        _log.WriteLine(
            $"resuming: {loaded} corpus entries, {_knownFindings} known findings, {_priorExecs} earlier executions "
                + $"({_priorRunSeconds:F0}s) from {_layout.Worker(_settings.Name)}"
        );
    }

    private void LoadPriorStats()
    {
        Dictionary<string, string> prior = StatsFile.Read(_layout.FuzzerStats(_settings.Name));
        _priorExecs = (long)StatsFile.Number(prior, "execs_done");
        _priorRunSeconds = StatsFile.Number(prior, "run_time");
        _savedCrashes = (long)StatsFile.Number(prior, "saved_crashes");
        _savedHangs = (long)StatsFile.Number(prior, "saved_hangs");
        _lastFindUnix = (long)StatsFile.Number(prior, "last_find");
        _lastCrashUnix = (long)StatsFile.Number(prior, "last_crash");
        _lastHangUnix = (long)StatsFile.Number(prior, "last_hang");
        Dictionary<string, string> ours = StatsFile.Read(_layout.VirtsimStats(_settings.Name));
        _lastNewEdgeUnix = (long)StatsFile.Number(ours, "last_new_edge");
        foreach ((string key, string value) in ours)
        {
            if (
                key.StartsWith("findings_", StringComparison.Ordinal)
                && int.TryParse(value, CultureInfo.InvariantCulture, out int n)
            )
                _findingsByOracle[key["findings_".Length..]] = n;
        }
    }

    public void CorpusAdded(byte[] input, bool newEdges)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (newEdges)
            _lastNewEdgeUnix = now;
        if (_resuming)
            return;
        long ms = (long)_clock.Elapsed.TotalMilliseconds;
        long execs = _priorExecs + (_campaign?.Executions ?? 0);
        string name = _importFrom is { } from
            ? AflQueueName.Format(
                _nextQueueId,
                "sync:" + from,
                "src:"
                    + (
                        _importName is { } n && AflQueueName.TryParseId(n, out int srcId)
                            ? srcId.ToString("D6", CultureInfo.InvariantCulture)
                            : "0"
                    ),
                newEdges ? "+cov" : ""
            )
            : AflQueueName.Format(
                _nextQueueId,
                "time:" + ms.ToString(CultureInfo.InvariantCulture),
                "execs:" + execs.ToString(CultureInfo.InvariantCulture),
                "op:" + (_clock.IsRunning ? "havoc" : "seed"),
                newEdges ? "+cov" : ""
            );
        if (AtomicFile.TryCreate(Path.Combine(_layout.Queue(_settings.Name), name), input))
            _nextQueueId++;
        if (_importFrom is not null)
            _imported++;
        else
        {
            _found++;
            _lastFindUnix = now;
        }
    }

    public void FindingAdded(Finding finding, byte[] original, bool known)
    {
        _findingsByOracle[finding.Oracle] = _findingsByOracle.GetValueOrDefault(finding.Oracle) + (known ? 0 : 1);
        if (known)
            return;
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        bool hang = finding.Oracle == FuzzOracle.Hang;
        string dir = hang ? _layout.Hangs(_settings.Name) : _layout.Crashes(_settings.Name);
        // AFL++ names a crash by the signal our glue answers with: SIGABRT (06) for a finding, SIGALRM for a hang.
        string name = hang
            ? AflQueueName.Format(
                _nextHangId,
                "src:000000",
                "time:" + ((long)_clock.Elapsed.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
                "oracle:" + finding.Oracle
            )
            : AflQueueName.Format(
                _nextCrashId,
                "sig:06",
                "src:000000",
                "time:" + ((long)_clock.Elapsed.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
                "oracle:" + finding.Oracle
            );
        if (!AtomicFile.TryCreate(Path.Combine(dir, name), original))
            return;
        if (hang)
        {
            _nextHangId++;
            _savedHangs++;
            _lastHangUnix = now;
        }
        else
        {
            _nextCrashId++;
            _savedCrashes++;
            _lastCrashUnix = now;
        }
    }

    public void CheckStability(FuzzExecutor executor, ReadOnlySpan<byte> input, ReadOnlySpan<byte> map)
    {
        // Stability: the share of new-coverage inputs whose set of edges repeats on a rerun (AFL++ measures
        // variable map bytes; ours is per input, as the status screen reports it).
        map.CopyTo(_firstMap);
        executor.Execute(input);
        ReadOnlySpan<byte> again = executor.Coverage.Map;
        bool stable = true;
        for (int i = 0; i < _firstMap.Length && i < again.Length; i++)
        {
            if ((_firstMap[i] == 0) != (again[i] == 0))
            {
                stable = false;
                break;
            }
        }
        _stabilityRuns++;
        if (stable)
            _stabilityStable++;
    }

    public bool BetweenExecutions(FuzzCampaign campaign)
    {
        // The clock is read every 64 executions only.
        if ((++_betweenCount & 63) != 0)
            return !_stopRequested;
        long now = _clock.ElapsedTicks;
        if (now >= _nextStatsTicks)
        {
            _nextStatsTicks = now + (long)(_settings.StatsEverySeconds * Stopwatch.Frequency);
            WriteStats(campaign, final: false);
        }
        if (now >= _nextSyncTicks)
        {
            SyncNow(campaign);
            _nextSyncTicks = _clock.ElapsedTicks + (long)(_settings.SyncEverySeconds * Stopwatch.Frequency);
        }
        if (_settings.ParentPid > 0 && now >= _nextParentCheckTicks)
        {
            _nextParentCheckTicks = now + Stopwatch.Frequency;
            if (!StaleTempFiles.IsAlive(_settings.ParentPid))
                RequestStop($"the supervising process {_settings.ParentPid} is gone");
        }
        return !_stopRequested;
    }

    private void SyncNow(FuzzCampaign campaign)
    {
        (int read, int kept) = _sync.Sync(
            (from, name, data) =>
            {
                _importFrom = from;
                _importName = name;
                try
                {
                    return campaign.Offer(data);
                }
                finally
                {
                    _importFrom = null;
                    _importName = null;
                }
            },
            _log
        );
        if (read > 0)
            _log.WriteLine($"sync: read {read} entries from other instances, kept {kept}");
    }

    private void WriteStats(FuzzCampaign campaign, bool final)
    {
        string me = _settings.Name;
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        double runSeconds = _priorRunSeconds + _clock.Elapsed.TotalSeconds;
        long execs = _priorExecs + campaign.Executions;
        double perSecond = _clock.Elapsed.TotalSeconds > 0 ? campaign.Executions / _clock.Elapsed.TotalSeconds : 0;
        // exec/s since the previous stats write (AFL++'s execs_ps_last_min and plot_data use a recent rate too).
        double span = _clock.Elapsed.TotalSeconds - _rateSeconds;
        double recent = span > 0 ? (campaign.Executions - _rateExecs) / span : perSecond;
        _rateExecs = campaign.Executions;
        _rateSeconds = _clock.Elapsed.TotalSeconds;
        var stats = AflFuzzerStats(campaign, now, runSeconds, execs, perSecond, recent);
        StatsFile.WriteAtomically(_layout.FuzzerStats(me), StatsFile.Format(stats));
        WriteVirtsimStats(me, final);
        PlotDataFile.Append(
            _layout.PlotData(me),
            (long)runSeconds,
            campaign.CorpusCount,
            100.0 * campaign.Edges / CoverageMap.Size,
            _savedCrashes,
            _savedHangs,
            recent,
            execs,
            campaign.Edges
        );
    }

    /// <summary>The worker's fuzzer_stats in AFL++'s keys and order (afl-fuzz's write_stats_file), so that
    /// afl-whatsup and other AFL++ tools read a virtsim worker as one of theirs.</summary>
    private List<KeyValuePair<string, string>> AflFuzzerStats(
        FuzzCampaign campaign,
        long now,
        double runSeconds,
        long execs,
        double perSecond,
        double recent
    )
    {
        double stability = _stabilityRuns == 0 ? 100 : 100.0 * _stabilityStable / _stabilityRuns;
        return new List<KeyValuePair<string, string>>
        {
            new("start_time", Integer(_startUnix)),
            new("last_update", Integer(now)),
            new("run_time", Integer((long)runSeconds)),
            new("fuzzer_pid", Integer(Environment.ProcessId)),
            new("cycles_done", "0"),
            new("cycles_wo_finds", "0"),
            new("time_wo_finds", Integer(_lastFindUnix == 0 ? 0 : now - _lastFindUnix)),
            new("execs_done", Integer(execs)),
            new("execs_per_sec", Fixed2(perSecond)),
            new("execs_ps_last_min", Fixed2(recent)),
            new("corpus_count", Integer(campaign.CorpusCount)),
            new("corpus_favored", "0"),
            new("corpus_found", Integer(_found)),
            new("corpus_imported", Integer(_imported)),
            new("corpus_variable", Integer(_stabilityRuns - _stabilityStable)),
            new("max_depth", "1"),
            new("cur_item", "0"),
            new("pending_favs", "0"),
            new("pending_total", "0"),
            new("stability", Fixed2(stability) + "%"),
            new("bitmap_cvg", Fixed2(100.0 * campaign.Edges / CoverageMap.Size) + "%"),
            new("saved_crashes", Integer(_savedCrashes)),
            new("saved_hangs", Integer(_savedHangs)),
            new("last_find", Integer(_lastFindUnix)),
            new("last_crash", Integer(_lastCrashUnix)),
            new("last_hang", Integer(_lastHangUnix)),
            new("execs_since_crash", Integer(execs)),
            new("exec_timeout", "0"),
            new("slowest_exec_ms", "0"),
            new("peak_rss_mb", Integer(Environment.WorkingSet / (1024 * 1024))),
            new("cpu_affinity", "-1"),
            new("edges_found", Integer(campaign.Edges)),
            new("total_edges", Integer(CoverageMap.Size)),
            new("var_byte_count", "0"),
            new("havoc_expansion", "0"),
            new("auto_dict_entries", "0"),
            new("testcache_size", "0"),
            new("testcache_count", "0"),
            new("testcache_evict", "0"),
            new("afl_banner", _target.Name),
            new("afl_version", "virtsim"),
            new("target_mode", "default"),
            new("command_line", _settings.CommandLine),
        };
    }

    /// <summary>virtsim's own per-worker figures next to AFL++'s fuzzer_stats (target, seed, stability counts,
    /// findings per oracle, memory and CPU).</summary>
    private void WriteVirtsimStats(string me, bool final)
    {
        var ours = new List<KeyValuePair<string, string>>
        {
            new("target", _target.Name),
            new("worker", me),
            new("seed", _options.Seed.ToString(CultureInfo.InvariantCulture)),
            new("coverage", _coverage.IsAvailable ? "edges" : "none"),
            new("last_new_edge", Integer(_lastNewEdgeUnix)),
            new("stability_checked", Integer(_stabilityRuns)),
            new("stability_stable", Integer(_stabilityStable)),
            new("known_findings", Integer(_knownFindings)),
            new("rss_start_kb", Integer(_rssStart / 1024)),
            new("rss_kb", Integer(Environment.WorkingSet / 1024)),
            new("cpu_seconds", Fixed2(Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds)),
            new("state", final ? "stopped" : "running"),
        };
        foreach ((string oracle, int n) in _findingsByOracle)
            ours.Add(new("findings_" + oracle, Integer(n)));
        StatsFile.WriteAtomically(_layout.VirtsimStats(me), StatsFile.Format(ours));
    }

    private static string Fixed2(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Integer(long v) => v.ToString(CultureInfo.InvariantCulture);
}
