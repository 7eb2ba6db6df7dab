using Sim.Engine.Memory;

namespace Sim.Engine.Trace;

/// <summary>
/// The first object of a trace: what produced it and how to reproduce it (STYLE.md item 10: seed,
/// commit and every option). The format name is implied (<see cref="TraceFormat"/>); a writer always writes the
/// current version, a reader gives the trace's.
/// Maps are sorted by key (ordinal) so the same run always writes the same bytes.
/// </summary>
public sealed class TraceHeader
{
    /// <summary>The trace's "format_version" (a reader's; a writer writes <see cref="TraceFormat.FormatVersion"/>
    /// whatever this says).</summary>
    public int FormatVersion { get; init; } = TraceFormat.FormatVersion;

    /// <summary>How the trace's memory hashes are computed (by <see cref="FormatVersion"/>).</summary>
    public MemoryHashScheme MemoryHashScheme => TraceFormat.HashSchemeOf(FormatVersion);

    /// <summary>virtsim's version string.</summary>
    public required string VirtsimVersion { get; init; }

    /// <summary>Git commit the recording binary was built from ("unknown" if not known).</summary>
    public required string GitCommit { get; init; }

    /// <summary>Root seed of the run (0 for KVM recordings, which have none).</summary>
    public ulong Seed { get; init; }

    /// <summary>Scenario name, as given to <c>virtsim run</c>.</summary>
    public required string Scenario { get; init; }

    /// <summary>Every option of the run, by name.</summary>
    public SortedDictionary<string, string> Options { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Simulated, or recorded from real KVM.</summary>
    public TraceOrigin Origin { get; init; }

    /// <summary>The KVM host; null for simulated traces.</summary>
    public TraceHost? Host { get; init; }

    /// <summary>Device configuration (device model, queue sizes, features...), by name.</summary>
    public SortedDictionary<string, string> Devices { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Guest-physical layout; must equal the initial memory's layout.</summary>
    public required MemoryLayout MemoryLayout { get; init; }

    /// <summary>Events between periodic Checkpoint events ("checkpoint_interval_events"; traces before
    /// 2026-12 call it "checkpoint_interval_ns" although it always counted events): after every this many
    /// other events a Checkpoint of source <see cref="TraceFormat.CheckpointSourcePeriodic"/> follows.
    /// 0 when the run writes none. Never negative.</summary>
    public long CheckpointIntervalEvents { get; init; }
}
