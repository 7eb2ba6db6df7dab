using System.Diagnostics;
using System.Runtime.InteropServices;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// <c>virtsim fuzz worker --target T -o DIR --name NAME [...]</c>: one worker of a campaign, as the supervisor starts
/// it (or a user by hand, on another machine sharing DIR). Runs inside the instrumented load context like
/// <see cref="FuzzEntry"/> (only BCL types cross). Logs to <c>DIR/NAME/worker.log</c> and stdout; SIGINT and
/// SIGTERM stop it after the current execution with final stats written. Exit codes as <see cref="FuzzEntry"/>.
/// </summary>
public static class WorkerEntry
{
    /// <summary>Runs the worker until its time budget, a stop signal or the supervisor's exit, importing the other
    /// workers' queues every <see cref="CampaignArgs.SyncEverySeconds"/>.</summary>
    /// <returns>Exit codes as <see cref="FuzzEntry"/>; 2 without <c>-o</c> and <c>--name</c>, for an unknown target
    /// or when the worker directory cannot be created.</returns>
    public static int Run(FuzzInvocation invocation, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        (FuzzOptions options, CampaignArgs campaign) = (invocation.Options, invocation.Campaign);
        if (campaign.Worker is null || campaign.Output is null)
        {
            error.WriteLine("virtsim: a worker needs -o <dir> and --name <name>");
            return 2;
        }
        if (options.Target is null || FuzzTargets.Create(options.Target) is not { } target)
        {
            error.WriteLine($"virtsim: --target names no fuzz target ('{options.Target}'); see virtsim fuzz list");
            return 2;
        }
        var layout = new CampaignLayout(campaign.Output);
        try
        {
            Directory.CreateDirectory(layout.Worker(campaign.Worker));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine(
                $"virtsim: cannot create the campaign directory {layout.Worker(campaign.Worker)}: {e.Message}"
            );
            return 2;
        }
        using var logFile = new StreamWriter(
            new FileStream(layout.Log(campaign.Worker), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)
        )
        {
            AutoFlush = true,
        };
        TextWriter log = TextWriter.Synchronized(new TeeWriter(logFile, output));
        CampaignWorker worker = CreateWorker(options, campaign, campaign.Worker, target, layout, log);
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
        {
            c.Cancel = true;
            worker.RequestStop("SIGINT");
        });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            worker.RequestStop("SIGTERM");
        });
        CampaignResult result = worker.Run(StopCondition(options));
        foreach (string line in result.SummaryLines())
            log.WriteLine(line);
        return result.Findings.Count > 0 ? 1 : 0;
    }

    /// <summary>The worker the options describe (seed, limits, coverage, campaign settings), announced in the
    /// log.</summary>
    private static CampaignWorker CreateWorker(
        FuzzOptions options,
        CampaignArgs campaign,
        string name,
        IFuzzTarget target,
        CampaignLayout layout,
        TextWriter log
    )
    {
        ulong seed = options.Seed ?? 0;
        ExecutionLimits limits = FuzzEntry.Limits(options);
        ICoverage coverage = options.NoCoverage ? new NullCoverage("--no-coverage") : EdgeCoverage.Detect(target);
        var campaignOptions = new CampaignOptions
        {
            Seed = seed,
            RunsMax = options.Runs,
            InputLengthMax = options.MaxLength,
            Limits = limits,
            Minimize = !options.NoMinimize,
        };
        var settings = new WorkerSettings
        {
            Name = name,
            Main = campaign.Main,
            ParentPid = campaign.ParentPid,
            SyncEverySeconds = campaign.SyncEverySeconds,
            CommandLine = "virtsim fuzz " + string.Join(' ', options.CommandLine),
        };
        log.WriteLine($"worker {name}: target={target.Name} seed={seed} pid={Environment.ProcessId} dir={layout.Root}");
        log.WriteLine($"coverage: {coverage.Description}");
        return new CampaignWorker(target, campaignOptions, coverage, layout, settings, log);
    }

    /// <summary>When the worker stops on its own: at the --time deadline, never (until a signal) when neither
    /// --time nor --runs is given, or after --runs executions (null).</summary>
    private static Func<bool>? StopCondition(FuzzOptions options)
    {
        Func<bool>? shouldStop = null;
        if (options.Time is { } time)
        {
            long deadline = Stopwatch.GetTimestamp() + (long)(time.TotalSeconds * Stopwatch.Frequency);
            shouldStop = () => Stopwatch.GetTimestamp() >= deadline;
        }
        if (options.Runs <= 0 && shouldStop is null)
            shouldStop = () => false;
        return shouldStop;
    }

    /// <summary>Writes to two writers (the log file and the process's output).</summary>
    private sealed class TeeWriter(TextWriter a, TextWriter b) : TextWriter
    {
        public override System.Text.Encoding Encoding => a.Encoding;

        public override void Write(char value)
        {
            a.Write(value);
            b.Write(value);
        }

        public override void Write(string? value)
        {
            a.Write(value);
            b.Write(value);
        }

        public override void WriteLine(string? value)
        {
            a.WriteLine(value);
            b.WriteLine(value);
        }

        public override void Flush()
        {
            a.Flush();
            b.Flush();
        }
    }
}
