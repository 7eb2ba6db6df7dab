using System.Collections.Immutable;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Kvm;

namespace Sim.Machine.Simulation;

/// <summary>Everything a run depends on besides the scenario: a run is a pure function of
/// (scenario, these options). <see cref="Named"/> holds the scenario's named options in ordinal
/// order; they go into trace headers.</summary>
public sealed record SimulationOptions
{
    /// <summary>Default guest memory: 4 MiB at GPA 0 (the real KVM probes use one 4 MiB slot).</summary>
    public const ulong MemorySizeDefault = 4UL << 20;

    /// <summary>Default checkpoint interval in traced events.</summary>
    public const long CheckpointIntervalDefault = 4096;

    /// <summary>Default virtual-time limit: 10 s.</summary>
    public const long TimeMaxDefault = 10_000_000_000;

    /// <summary>The root seed: one seed reproduces a run.</summary>
    public ulong Seed { get; init; }

    /// <summary>The guest memory regions.</summary>
    public MemoryLayout MemoryLayout { get; init; } = MemoryLayout.Single(MemorySizeDefault);

    /// <summary>The cost of each boundary crossing.</summary>
    public LatencyModel Latency { get; init; } = LatencyModel.Default;

    /// <summary>Emit a Checkpoint every this many traced events; 0 turns checkpoints off.</summary>
    public long CheckpointInterval { get; init; } = CheckpointIntervalDefault;

    /// <summary>Most events one <see cref="Simulation.Run"/> executes (a livelock guard).</summary>
    public long EventsMax { get; init; } = EventLoop.EventsMaxDefault;

    /// <summary>Virtual time at which a run stops, in ns.</summary>
    public long TimeMax { get; init; } = TimeMaxDefault;

    /// <summary>Stop the loop when the guest program ends (host timers and workers would otherwise
    /// run on until TimeMax).</summary>
    public bool StopOnGuestExit { get; init; } = true;

    /// <summary>A real vCPU drives the machine from outside (the KVM recorder, or the replay of its trace):
    /// <see cref="Kvm.KvmModel.Start"/> starts no guest program, and the irqchip forwards line changes and
    /// MSIs to <see cref="Kvm.InterruptController.External"/> instead of delivering them itself
    /// (docs/recording.md §1).</summary>
    public bool ExternalVcpu { get; init; }

    /// <summary>Scenario options, ordinal-sorted, recorded in trace headers.</summary>
    public ImmutableSortedDictionary<string, string> Named { get; init; } =
        ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    /// <summary>Throws on a configuration error (host misuse).</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(MemoryLayout);
        ArgumentNullException.ThrowIfNull(Latency);
        Latency.Validate();
        if (CheckpointInterval < 0)
            throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), "must not be negative");
        if (EventsMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(EventsMax), "must be positive");
        if (TimeMax < 0)
            throw new ArgumentOutOfRangeException(nameof(TimeMax), "must not be negative");
    }
}
