using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Machine.Scenarios;
using Sim.Scenarios;

namespace Virtsim.Cli.Replay;

/// <summary>
/// Replays a trace of origin <c>simulated</c>: re-creates the run from the header's scenario, seed
/// and options, checks the initial memory, then compares the live run with the recording event by
/// event (checkpoints carry the running hashes) and finally the footer's memory and event hashes.
/// The first difference is reported precisely (event index, time, kind, field, expected vs actual);
/// then the footer's end time. The header's checkpoint interval must be the run's: the periodic
/// checkpoints (placed by the reader, compared event by event here) verify the running hashes.
/// </summary>
public static class SimulatedReplayer
{
    const string Origin = "simulated";

    public static ReplayOutcome Replay(TraceReader reader)
    {
        ScenarioRun? run = CreateRun(reader.Header, out ReplayOutcome? failure);
        if (run is null)
            return failure!;
        failure = CheckStart(reader, run);
        if (failure is not null)
            return failure;
        var comparer = new TraceComparer(reader);
        run.Simulation.AddSink(comparer);
        run.Run();
        if (!comparer.Finish())
        {
            TraceDivergence d = comparer.Divergence!;
            // A recording that cannot be read further (truncated, corrupt) is bad input, not a divergence.
            return d.Field == TraceField.TraceUnreadable
                ? new ReplayOutcome(ReplayVerdict.Error, Origin, reader.EventsRead, d.Expected)
                : new ReplayOutcome(ReplayVerdict.Diverged, Origin, comparer.EventsSeen, d.ToString());
        }
        return CheckFooter(reader, run, comparer.EventsSeen);
    }

    /// <summary>The run the header names (scenario, seed, options), or null and the error outcome.</summary>
    private static ScenarioRun? CreateRun(TraceHeader header, out ReplayOutcome? failure)
    {
        failure = null;
        IScenario? scenario = ScenarioCatalog.Find(header.Scenario);
        if (scenario is null)
        {
            failure = new ReplayOutcome(
                ReplayVerdict.Error,
                Origin,
                0,
                $"unknown scenario '{header.Scenario}' (this virtsim knows: {ScenarioCatalog.Names})"
            );
            return null;
        }
        var options = new ScenarioOptions(header.Seed, header.Options);
        try
        {
            return scenario.Create(options);
        }
        catch (ArgumentException ex)
        {
            failure = new ReplayOutcome(
                ReplayVerdict.Error,
                Origin,
                0,
                $"the header's options do not build a run: {ex.Message}"
            );
            return null;
        }
    }

    /// <summary>Before the first event: the recorded initial memory loads, the checkpoint interval is the run's,
    /// and the live initial memory hashes as the recording's did. Null when all hold.</summary>
    private static ReplayOutcome? CheckStart(TraceReader reader, ScenarioRun run)
    {
        TraceHeader header = reader.Header;
        if (
            !reader.TryCreateMemory(out GuestMemory? recorded, out TraceError? error)
            || !reader.TryReadInitialMemory(recorded, out error)
        )
        {
            return new ReplayOutcome(ReplayVerdict.Error, Origin, 0, error.Message);
        }
        // The live memory hashes as the recording did (format 1: linear; format 2: page-wise), checkpoints included.
        run.Simulation.Memory.HashScheme = header.MemoryHashScheme;
        long liveInterval = run.Simulation.Options.CheckpointInterval;
        if (header.CheckpointIntervalEvents != liveInterval)
        {
            return new ReplayOutcome(
                ReplayVerdict.Diverged,
                Origin,
                0,
                "checkpoint interval differs: the trace has a checkpoint every "
                    + $"{header.CheckpointIntervalEvents} events, the run every {liveInterval}"
            );
        }
        ulong liveInitial = run.Simulation.Memory.ContentHash();
        // The reader checked the image it loaded against this hash (TryReadInitialMemory fails otherwise): hashing
        // the loaded copy again would cost a pass over the whole memory for the same value.
        ulong recordedInitial = reader.InitialMemoryHash;
        if (liveInitial != recordedInitial)
        {
            return new ReplayOutcome(
                ReplayVerdict.Diverged,
                Origin,
                0,
                $"initial guest memory differs: expected hash 0x{recordedInitial:x16}, actual 0x{liveInitial:x16}"
            );
        }
        return null;
    }

    /// <summary>After the last event: the footer is there and its memory hash and end time are the run's.</summary>
    private static ReplayOutcome CheckFooter(TraceReader reader, ScenarioRun run, ulong eventsSeen)
    {
        if (reader.Footer is not { } footer)
        {
            return new ReplayOutcome(
                ReplayVerdict.Error,
                Origin,
                eventsSeen,
                reader.Error?.Message ?? "the trace ends without its footer (truncated)"
            );
        }
        ulong memoryHash = run.Simulation.Memory.ContentHash();
        if (footer.MemoryHash != memoryHash)
        {
            return new ReplayOutcome(
                ReplayVerdict.Diverged,
                Origin,
                eventsSeen,
                $"final guest memory differs: expected hash 0x{footer.MemoryHash:x16}, actual 0x{memoryHash:x16}"
            );
        }
        long endTime = run.Simulation.Now;
        if (footer.EndTime != endTime)
        {
            return new ReplayOutcome(
                ReplayVerdict.Diverged,
                Origin,
                eventsSeen,
                $"end time differs: expected {footer.EndTime} ns (footer end_time), actual {endTime} ns"
            );
        }
        return new ReplayOutcome(ReplayVerdict.Match, Origin, eventsSeen, $"memory_hash=0x{memoryHash:x16}");
    }
}
