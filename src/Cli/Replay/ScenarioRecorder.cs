using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Engine.Trace;
using Sim.Machine.Scenarios;

namespace Virtsim.Cli.Replay;

/// <summary>Runs a scenario, optionally writing its trace: header (seed, commit, every option),
/// initial memory, every event, footer with the final hashes.</summary>
public static class ScenarioRecorder
{
    /// <summary>Builds the trace header describing <paramref name="run"/>.</summary>
    public static TraceHeader HeaderFor(IScenario scenario, ScenarioOptions options, ScenarioRun run)
    {
        var header = new TraceHeader
        {
            VirtsimVersion = BuildInfo.Version,
            GitCommit = BuildInfo.Commit,
            Seed = options.Seed,
            Scenario = scenario.Name,
            Origin = TraceOrigin.Simulated,
            MemoryLayout = run.Simulation.Memory.Layout,
            CheckpointIntervalEvents = run.Simulation.Options.CheckpointInterval,
        };
        foreach (var (k, v) in options.Named)
            header.Options[k] = v;
        return header;
    }

    /// <summary>Runs <paramref name="run"/>, streaming its events into <paramref name="stream"/>.</summary>
    public static StopReason RunWithTrace(IScenario scenario, ScenarioOptions options, ScenarioRun run, Stream stream)
    {
        using var writer = new TraceWriter(
            stream,
            HeaderFor(scenario, options, run),
            run.Simulation.Memory,
            leaveOpen: true
        );
        run.Simulation.AddSink(writer);
        StopReason stop = run.Run();
        GuestMemory memory = run.Simulation.Memory;
        writer.Complete(memory.ContentHash(), run.Simulation.Now);
        return stop;
    }
}
