using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Sim.Engine.Random;
using Spectre.Console;
using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Campaign;

/// <summary>
/// <c>virtsim fuzz run -o DIR --target T --jobs N</c>: starts N worker processes (<see cref="WorkerEntry"/>) on one
/// campaign directory, each with its own seed derived from the campaign seed and its own coverage map, shows their
/// status (a live table on a terminal, plain lines otherwise) until they stop, then prints the final statistics.
/// SIGINT and SIGTERM are passed on to the workers, which stop gracefully; if this process is killed, the workers
/// notice within a second and stop on their own. <c>--target all</c> (or a comma list) spreads the workers over
/// the targets.
/// </summary>
public sealed class CampaignSupervisor
{
    /// <summary>Stream id of worker seeds: worker k gets DeriveSeed(campaign seed, WorkerStream + k).</summary>
    public const ulong WorkerStream = 0x7700;

    private readonly CampaignArgs _campaign;
    private readonly FuzzOptions _options;
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly (string File, string[] Leading) _command;
    private readonly List<(WorkerPlan Plan, Process Process)> _running = [];
    private volatile bool _stopRequested;
    private int _stopClaimed;
    private TargetScheduler? _scheduler;
    private readonly Dictionary<Process, long> _sliceStartUnix = [];
    private readonly HashSet<Process> _accounted = [];
    private Stopwatch? _clock;
    private CampaignLayout? _layout;
    private int _slots;

    /// <summary>A supervisor for <paramref name="campaign"/>: workers run <paramref name="command"/> (the virtsim
    /// executable and its leading arguments) with <paramref name="options"/>.</summary>
    public CampaignSupervisor(
        CampaignArgs campaign,
        FuzzOptions options,
        (string File, string[] Leading) command,
        TextWriter output,
        TextWriter error
    )
    {
        _campaign = campaign;
        _options = options;
        _command = command;
        _out = output;
        _err = error;
    }

    /// <summary>Seconds between plain status lines (the screen refreshes every second).</summary>
    public double PlainEverySeconds { get; init; } = 10;

    /// <summary>True to draw the live screen: --status screen, or auto on a terminal.</summary>
    public bool Screen { get; init; }

    /// <summary>One worker to start: its name, target and seed.</summary>
    public sealed record WorkerPlan(string Name, string Target, ulong Seed, bool Main);

    /// <summary>The workers for <paramref name="targets"/> and <paramref name="jobs"/>: worker k fuzzes target
    /// k mod count, named <c>&lt;target&gt;-w&lt;k&gt;</c>; the first worker of each target is AFL++'s main
    /// node.</summary>
    public static IReadOnlyList<WorkerPlan> Plan(
        IReadOnlyList<string> targets,
        int jobs,
        ulong seed,
        string machine = ""
    )
    {
        var plans = new List<WorkerPlan>();
        int n = Math.Max(jobs, targets.Count);
        for (int k = 0; k < n; k++)
        {
            string target = targets[k % targets.Count];
            plans.Add(
                new WorkerPlan(
                    $"{Prefix(machine)}{target}-w{k}",
                    target,
                    Prng.DeriveSeed(seed, WorkerStream + (ulong)k),
                    k < targets.Count
                )
            );
        }
        return plans;
    }

    private static string Prefix(string machine) => machine.Length == 0 ? "" : machine + "-";

    /// <summary>Starts the workers, shows their status until the time is up or a stop signal, stops them and
    /// prints the final statistics; returns the exit code (1 when a worker found something, 2 on bad usage or a
    /// failed worker).</summary>
    public int Run()
    {
        var layout = new CampaignLayout(_campaign.Output!);
        IReadOnlyList<string>? targets = ResolveTargets(_options.Target);
        if (targets is null)
            return 2;
        if (_options.Runs <= 0 && _options.Time is null)
        {
            _err.WriteLine(
                "virtsim: a campaign needs --time <duration> or --runs N (per worker); Ctrl-C stops it earlier"
            );
            return 2;
        }
        try
        {
            Directory.CreateDirectory(layout.Root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _err.WriteLine($"virtsim: cannot create the campaign directory {layout.Root}: {e.Message}");
            return 2;
        }
        ulong seed = _options.Seed ?? (ulong)Stopwatch.GetTimestamp() % (1UL << 62);
        int jobs = Math.Max(1, _campaign.Jobs);
        bool rotate = targets.Count > jobs;
        if (rotate && _options.Time is null)
        {
            _err.WriteLine("virtsim: more targets than --jobs: the workers take turns, which needs --time <duration>");
            return 2;
        }
        _seed = MachineSeed(seed);
        IReadOnlyList<WorkerPlan> plans = rotate ? [] : Plan(targets, jobs, _seed, _campaign.Machine);
        AnnounceResume(layout);
        Announce(layout, targets, rotate ? jobs : plans.Count, rotate, seed);

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
        {
            c.Cancel = true;
            Stop("SIGINT");
        });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            Stop("SIGTERM");
        });
        foreach (WorkerPlan plan in plans)
            Start(plan, layout);

        var clock = Stopwatch.StartNew();
        _clock = clock;
        _layout = layout;
        if (rotate)
        {
            _scheduler = new TargetScheduler(targets);
            _slots = jobs;
            Rotate();
        }
        if (Screen)
            RunScreen(layout, clock);
        else
            RunPlain(layout, clock);

        int code = WaitForWorkers(layout);
        PrintFinalStatistics(layout, clock.Elapsed);
        foreach ((_, Process p) in _running)
            p.Dispose();
        return code;
    }

    /// <summary>The seed this machine's workers derive theirs from: the campaign's seed, or on a named machine of a
    /// shared campaign a seed derived from the machine's name (FNV-1a), so that machines sharing the campaign's
    /// seed do not repeat each other's mutations.</summary>
    private ulong MachineSeed(ulong seed)
    {
        if (_campaign.Machine.Length == 0)
            return seed;
        ulong h = 14695981039346656037UL;
        foreach (char c in _campaign.Machine)
            h = unchecked((h ^ c) * 1099511628211UL);
        return Prng.DeriveSeed(seed, h);
    }

    /// <summary>The campaign's first two lines: what runs, and the command that repeats it.</summary>
    private void Announce(CampaignLayout layout, IReadOnlyList<string> targets, int jobsShown, bool rotate, ulong seed)
    {
        _out.WriteLine(
            $"fuzz campaign: dir={layout.Root} targets={string.Join(',', targets)} jobs={jobsShown} seed={seed} "
                + $"time={(_options.Time is { } t ? t.ToString() : "unlimited")}"
                + (
                    rotate
                        ? $" (workers take turns over {targets.Count} targets in slices of up to "
                            + $"{_campaign.SliceSeconds:0}s, favouring targets still finding edges)"
                        : ""
                )
        );
        int jobs = Math.Max(1, _campaign.Jobs);
        _out.WriteLine(
            $"repeat: virtsim fuzz run -o {layout.Root} --target {_options.Target} --jobs {jobs} --seed {seed}"
                + (_campaign.Machine.Length > 0 ? " --machine " + _campaign.Machine : "")
                + string.Concat(_options.EngineArguments(withTime: true).Select(a => " " + a))
        );
    }

    private void PrintFinalStatistics(CampaignLayout layout, TimeSpan elapsed)
    {
        IReadOnlyList<WorkerStatus> final = WorkerStatus.ReadAll(layout);
        _out.WriteLine(
            $"final statistics after {elapsed.TotalSeconds:F1}s{(_stopRequested ? " (stopped by signal)" : "")}:"
        );
        foreach (string line in StatusRenderer.PlainLines(elapsed, final, DateTimeOffset.UtcNow.ToUnixTimeSeconds()))
            _out.WriteLine(line);
        string findingsDir = Path.Combine(layout.Root, CampaignLayout.FindingsName);
        int findings = FindingRegistry.Records(findingsDir).Count;
        _out.WriteLine($"findings: {findings} saved under {findingsDir}; report: virtsim fuzz report {layout.Root}");
    }

    /// <summary>Waits for every worker; the campaign's exit code: 2 when one failed or ended oddly, else 1 when one
    /// found something, else 0.</summary>
    private int WaitForWorkers(CampaignLayout layout)
    {
        int code = 0;
        foreach ((WorkerPlan plan, Process p) in _running)
        {
            p.WaitForExit();
            if (p.ExitCode == 2)
            {
                _err.WriteLine($"virtsim: worker {plan.Name} failed (exit 2); its log: {layout.Log(plan.Name)}");
                code = 2;
            }
            else if (p.ExitCode == 1 && code == 0)
                code = 1;
            else if (p.ExitCode is not (0 or 1))
            {
                _err.WriteLine(
                    $"virtsim: worker {plan.Name} ended with exit code {p.ExitCode}; its log: {layout.Log(plan.Name)}"
                );
                code = 2;
            }
        }
        return code;
    }

    private IReadOnlyList<string>? ResolveTargets(string? spec)
    {
        if (spec is null)
        {
            _err.WriteLine("virtsim: --target is required (a name, a comma list, or all; see --list)");
            return null;
        }
        if (spec == "all")
            return FuzzTargets.All.Select(t => t.Name).ToArray();
        var names = new List<string>();
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (FuzzTargets.Create(part) is not { } target)
            {
                _err.WriteLine(
                    $"virtsim: no fuzz target named '{part}'; known: "
                        + $"{string.Join(", ", FuzzTargets.All.Select(t => t.Name))}"
                );
                return null;
            }
            if (!names.Contains(target.Name))
                names.Add(target.Name);
        }
        return names.Count == 0 ? null : names;
    }

    private void AnnounceResume(CampaignLayout layout)
    {
        IReadOnlyList<string> existing = layout.Workers();
        if (existing.Count == 0)
            return;
        int entries = existing.Sum(w =>
            Directory.EnumerateFiles(layout.Queue(w)).Count(f => AflQueueName.TryParseId(Path.GetFileName(f), out _))
        );
        int findings = FindingRegistry.Records(Path.Combine(layout.Root, CampaignLayout.FindingsName)).Count;
        _out.WriteLine(
            $"resuming campaign in {layout.Root}: {existing.Count} worker directories, {entries} queue entries, "
                + $"{findings} saved findings"
        );
    }

    private void Start(WorkerPlan plan, CampaignLayout layout, double? sliceSeconds = null)
    {
        var args = new List<string>
        {
            "worker",
            "--target",
            plan.Target,
            "--seed",
            plan.Seed.ToString(CultureInfo.InvariantCulture),
            "-o",
            layout.Root,
            "--name",
            plan.Name,
            "--parent-pid",
            Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            "--sync-every",
            _campaign.SyncEverySeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s",
        };
        if (plan.Main)
            args.Add("--main");
        args.AddRange(_options.EngineArguments(withTime: sliceSeconds is null));
        if (sliceSeconds is { } slice)
            args.AddRange(["--time", slice.ToString("0.###", CultureInfo.InvariantCulture) + "s"]);
        var p = new Process { StartInfo = WorkerLauncher.StartInfo(_command, args) };
        // Workers log to their worker.log; their pipes are drained so they never block on a full pipe.
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line && !Screen)
                _err.WriteLine($"{plan.Name}: {line}");
        };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _running.Add((plan, p));
    }

    private void Stop(string reason)
    {
        // Claimed first, flag raised after the message: the main loop may finish as soon as it sees the flag.
        if (Interlocked.Exchange(ref _stopClaimed, 1) != 0)
            return;
        _err.WriteLine($"virtsim: {reason}: stopping the workers (final statistics follow)");
        _err.Flush();
        _stopRequested = true;
        foreach ((_, Process p) in _running)
        {
            if (!p.HasExited)
                _ = Kill(p.Id, SIGTERM);
        }
    }

    private ulong _seed;

    /// <summary>Minimum slice worth starting (a worker spends seconds instrumenting and starting).</summary>
    private const double SliceSecondsMin = 5;

    private bool AllExited()
    {
        Rotate();
        return _running.All(r => r.Process.HasExited)
            && (_scheduler is null || _stopRequested || RemainingSeconds() < SliceSecondsMin);
    }

    private double RemainingSeconds() => (_options.Time?.TotalSeconds ?? 0) - (_clock?.Elapsed.TotalSeconds ?? 0);

    /// <summary>With more targets than jobs: accounts finished slices and starts the next target on each free
    /// slot.</summary>
    private void Rotate()
    {
        if (_scheduler is null || _layout is null)
            return;
        foreach ((WorkerPlan plan, Process p) in _running)
        {
            if (!p.HasExited || !_accounted.Add(p))
                continue;
            long start = _sliceStartUnix[p];
            long lastNewEdge = (long)StatsFile.Number(StatsFile.Read(_layout.VirtsimStats(plan.Name)), "last_new_edge");
            _scheduler.Finished(plan.Target, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - start, lastNewEdge >= start);
        }
        if (_stopRequested)
            return;
        var busy = new HashSet<int>(
            _running
                .Where(r => !r.Process.HasExited)
                .Select(r =>
                    int.Parse(
                        r.Plan.Name[(r.Plan.Name.LastIndexOf("-w", StringComparison.Ordinal) + 2)..],
                        CultureInfo.InvariantCulture
                    )
                )
        );
        var runningTargets = new HashSet<string>(
            _running.Where(r => !r.Process.HasExited).Select(r => r.Plan.Target),
            StringComparer.Ordinal
        );
        for (int slot = 0; slot < _slots; slot++)
        {
            double remaining = RemainingSeconds();
            if (busy.Contains(slot) || remaining < SliceSecondsMin)
                continue;
            if (_scheduler.Next(runningTargets) is not { } target)
                return;
            var plan = new WorkerPlan(
                $"{Prefix(_campaign.Machine)}{target}-w{slot}",
                target,
                Prng.DeriveSeed(_seed, WorkerStream + (ulong)(_running.Count + slot)),
                slot == 0
            );
            Start(plan, _layout, Math.Min(_campaign.SliceSeconds, remaining));
            _sliceStartUnix[_running[^1].Process] = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            runningTargets.Add(target);
            busy.Add(slot);
        }
    }

    private void RunPlain(CampaignLayout layout, Stopwatch clock)
    {
        double next = PlainEverySeconds;
        while (!AllExited())
        {
            Thread.Sleep(200);
            if (clock.Elapsed.TotalSeconds < next)
                continue;
            next += PlainEverySeconds;
            foreach (
                string line in StatusRenderer.PlainLines(
                    clock.Elapsed,
                    WorkerStatus.ReadAll(layout),
                    DateTimeOffset.UtcNow.ToUnixTimeSeconds()
                )
            )
                _out.WriteLine(line);
        }
    }

    private void RunScreen(CampaignLayout layout, Stopwatch clock)
    {
        IAnsiConsole console = AnsiConsole.Create(
            new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(Console.Out),
                Ansi = AnsiSupport.Detect,
                ColorSystem = ColorSystemSupport.Detect,
            }
        );
        string note = "Ctrl-C stops gracefully; workers log to <dir>/<worker>/worker.log";
        console
            .Live(StatusRenderer.Table(layout.Root, clock.Elapsed, [], 0, note))
            .AutoClear(false)
            .Start(ctx =>
            {
                while (!AllExited())
                {
                    Thread.Sleep(1000);
                    ctx.UpdateTarget(
                        StatusRenderer.Table(
                            layout.Root,
                            clock.Elapsed,
                            WorkerStatus.ReadAll(layout),
                            DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                            _stopRequested ? "stopping..." : note
                        )
                    );
                    ctx.Refresh();
                }
                ctx.UpdateTarget(
                    StatusRenderer.Table(
                        layout.Root,
                        clock.Elapsed,
                        WorkerStatus.ReadAll(layout),
                        DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                        "stopped"
                    )
                );
                ctx.Refresh();
            });
    }

    private const int SIGTERM = 15;

#pragma warning disable SYSLIB1054 // kill(2) with two ints: nothing to marshal
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
