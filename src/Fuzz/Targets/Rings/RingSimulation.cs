using Sim.Engine.Memory;
using Sim.Machine.Simulation;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The simulation every ring-driven device target builds per execution: the two 32 KiB regions of
/// <see cref="RingInput"/> (so rings and buffers can straddle a region boundary), a fixed seed, no checkpoints, and the
/// target's event budget; the guest actor never exits, so the run does not stop on it.
/// </summary>
internal static class RingSimulation
{
    /// <summary>Two regions of <see cref="RingInput.RegionSize"/> bytes, back to back from 0.</summary>
    public static MemoryLayout Layout { get; } =
        new([new RegionSpec(0, RingInput.RegionSize), new RegionSpec(RingInput.RegionSize, RingInput.RegionSize)]);

    /// <summary>A fresh simulation on <see cref="Layout"/> stopping after <paramref name="eventsMax"/>
    /// events.</summary>
    public static Simulation Create(long eventsMax) =>
        new(
            new SimulationOptions
            {
                Seed = 1,
                MemoryLayout = Layout,
                CheckpointInterval = 0,
                EventsMax = eventsMax,
                StopOnGuestExit = false,
            }
        );
}
