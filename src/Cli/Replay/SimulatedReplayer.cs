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
    public static ReplayOutcome Replay(TraceReader reader)
    {
        TraceHeader header = reader.Header;
        const string origin = "simulated";
        IScenario? scenario = ScenarioCatalog.Find(header.Scenario);
        if (scenario is null)
        {
            return new ReplayOutcome(
                ReplayVerdict.Error,
                origin,
                0,
                $"unknown scenario '{header.Scenario}' (this virtsim knows: {ScenarioCatalog.Names})"
            );
        }
        var options = new ScenarioOptions(header.Seed, header.Options);
        ScenarioRun run;
        try
        {
            run = scenario.Create(options);
        }
        catch (ArgumentException ex)
        {
            return new ReplayOutcome(
                ReplayVerdict.Error,
                origin,
                0,
                $"the header's options do not build a run: {ex.Message}"
            );
        }
        if (
            !reader.TryCreateMemory(out GuestMemory? recorded, out TraceError? error)
            || !reader.TryReadInitialMemory(recorded, out error)
        )
        {
            return new ReplayOutcome(ReplayVerdict.Error, origin, 0, error.Message);
        }
        // The live memory hashes as the recording did (format 1: linear; format 2: page-wise), checkpoints included.
        run.Simulation.Memory.HashScheme = header.MemoryHashScheme;
        long liveInterval = run.Simulation.Options.CheckpointInterval;
        if (header.CheckpointIntervalEvents != liveInterval)
        {
            return new ReplayOutcome(
                ReplayVerdict.Diverged,
                origin,
                0,
                $"checkpoint interval differs: the trace has a checkpoint every {header.CheckpointIntervalEvents} events, the run every {liveInterval}"
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
                origin,
                0,
                $"initial guest memory differs: expected hash 0x{recordedInitial:x16}, actual 0x{liveInitial:x16}"
            );
        }
        var comparer = new TraceComparer(reader);
        run.Simulation.AddSink(comparer);
        run.Run();
        if (!comparer.Finish())
        {
            TraceDivergence d = comparer.Divergence!;
            // A recording that cannot be read further (truncated, corrupt) is bad input, not a divergence.
            return d.Field == TraceField.TraceUnreadable
                ? new ReplayOutcome(ReplayVerdict.Error, origin, reader.EventsRead, d.Expected)
                : new ReplayOutcome(ReplayVerdict.Diverged, origin, comparer.EventsSeen, d.ToString());
        }
        if (reader.Footer is not { } footer)
        {
            return new ReplayOutcome(
                ReplayVerdict.Error,
                origin,
                comparer.EventsSeen,
                reader.Error?.Message ?? "the trace ends without its footer (truncated)"
            );
        }
        ulong memoryHash = run.Simulation.Memory.ContentHash();
        if (footer.MemoryHash != memoryHash)
        {
            return new ReplayOutcome(
                ReplayVerdict.Diverged,
                origin,
                comparer.EventsSeen,
                $"final guest memory differs: expected hash 0x{footer.MemoryHash:x16}, actual 0x{memoryHash:x16}"
            );
        }
        long endTime = run.Simulation.Now;
        if (footer.EndTime != endTime)
        {
            return new ReplayOutcome(
                ReplayVerdict.Diverged,
                origin,
                comparer.EventsSeen,
                $"end time differs: expected {footer.EndTime} ns (footer end_time), actual {endTime} ns"
            );
        }
        return new ReplayOutcome(ReplayVerdict.Match, origin, comparer.EventsSeen, $"memory_hash=0x{memoryHash:x16}");
    }
}
