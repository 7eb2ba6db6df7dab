using Sim.Engine.Memory;

namespace Sim.Engine.Trace;

/// <summary>
/// Constants of the virtsim trace file format, version 2 (traces/README.md documents every field; version 1 is
/// still read).
/// A trace is a concatenation of MessagePack objects: header map, memory map, memory chunk arrays,
/// event arrays, footer map.
/// </summary>
public static class TraceFormat
{
    /// <summary>Value of the header's "format" key.</summary>
    public const string FormatName = "virtsim-trace";

    /// <summary>Value of the header's "format_version" key written now. Bump on any incompatible change.
    /// Version 2 (2026-12-07) changed only the memory hashes (the memory map's content_hash, each checkpoint's and
    /// the footer's) from the linear hash to the page-wise one (<see cref="MemoryHashScheme"/>), which a
    /// checkpoint can update from the pages written since the previous one.</summary>
    public const int FormatVersion = 2;

    /// <summary>The oldest format version read: version 1 traces (the committed KVM recordings among them) carry
    /// linear memory hashes and are otherwise laid out as version 2.</summary>
    public const int FormatVersionOldest = 1;

    /// <summary>The memory hash scheme of traces of format <paramref name="version"/>
    /// (<see cref="FormatVersionOldest"/> to <see cref="FormatVersion"/>).</summary>
    public static MemoryHashScheme HashSchemeOf(int version) =>
        version < 2 ? MemoryHashScheme.Linear : MemoryHashScheme.PageWise;

    /// <summary>Value of the memory map's "compression" key: each chunk is one zlib stream (RFC 1950),
    /// readable by .NET's ZLibStream and Python's zlib.decompress.</summary>
    public const string CompressionZlib = "zlib";

    /// <summary>Items of an event array: [kind, time delta, source, address, value, data].</summary>
    public const int EventFields = 6;

    /// <summary>Items of a memory chunk array: [address, length, zlib bin].</summary>
    public const int ChunkFields = 3;

    /// <summary>Longest event payload (<see cref="TraceEvent.Data"/>) a trace may carry.</summary>
    public const int EventDataBytesMax = 1 << 20;

    /// <summary>Largest encoded header (all keys and values).</summary>
    public const int HeaderBytesMax = 1 << 20;

    /// <summary>Longest string in the header (versions, names, option values).</summary>
    public const int HeaderStringBytesMax = 64 * 1024;

    /// <summary>Most keys in the header, memory and footer maps.</summary>
    public const int HeaderKeysMax = 64;

    /// <summary>Most entries in the header's "options" and "devices" maps.</summary>
    public const int OptionsMax = 1024;

    /// <summary>Uncompressed bytes in one memory chunk: at most 16 pages, so decompression works in
    /// small bounded steps.</summary>
    public const int ChunkBytesMax = 16 * GuestMemory.PageSize;

    /// <summary>Compressed bytes in one memory chunk: zlib's worst-case expansion of incompressible
    /// data is a few bytes per 16 KiB stored block plus 6 bytes of framing, far below this.</summary>
    public const int ChunkCompressedBytesMax = ChunkBytesMax + 4096;

    /// <summary>Most memory chunks: one per page of the largest layout.</summary>
    public const long ChunksMax = (long)(MemoryLayout.TotalSizeMax / GuestMemory.PageSize);

    /// <summary>Event kinds are one byte; counts per kind are indexed by it.</summary>
    public const int KindsMax = 256;

    // Header keys (snake_case, written in this order).
    /// <summary>Key "format" of the trace's header map (docs/traces.md).</summary>
    public const string KeyFormat = "format";

    /// <summary>Key "format_version" of the trace's header map (docs/traces.md).</summary>
    public const string KeyFormatVersion = "format_version";

    /// <summary>Key "virtsim_version" of the trace's header map (docs/traces.md).</summary>
    public const string KeyVirtsimVersion = "virtsim_version";

    /// <summary>Key "git_commit" of the trace's header map (docs/traces.md).</summary>
    public const string KeyGitCommit = "git_commit";

    /// <summary>Key "seed" of the trace's header map (docs/traces.md).</summary>
    public const string KeySeed = "seed";

    /// <summary>Key "scenario" of the trace's header map (docs/traces.md).</summary>
    public const string KeyScenario = "scenario";

    /// <summary>Key "options" of the trace's header map (docs/traces.md).</summary>
    public const string KeyOptions = "options";

    /// <summary>Key "origin" of the trace's header map (docs/traces.md).</summary>
    public const string KeyOrigin = "origin";

    /// <summary>Key "host" of the trace's header map (docs/traces.md).</summary>
    public const string KeyHost = "host";

    /// <summary>Key "devices" of the trace's header map (docs/traces.md).</summary>
    public const string KeyDevices = "devices";

    /// <summary>Key "memory_layout" of the trace's header map (docs/traces.md).</summary>
    public const string KeyMemoryLayout = "memory_layout";

    /// <summary>Key "checkpoint_interval_events" of the trace's header map (docs/traces.md).</summary>
    public const string KeyCheckpointInterval = "checkpoint_interval_events";

    /// <summary>The checkpoint interval's key in traces written before it was named for what it holds:
    /// it always held an event count, never nanoseconds. Read as <see cref="KeyCheckpointInterval"/>; never
    /// written.</summary>
    public const string KeyCheckpointIntervalLegacy = "checkpoint_interval_ns";

    /// <summary>Source of the Checkpoint events a simulation emits every
    /// <see cref="TraceHeader.CheckpointIntervalEvents"/> events ("periodic checkpoints"); other sources
    /// (a fuzz finding's folded events) are ordinary events.</summary>
    public const uint CheckpointSourcePeriodic = 0;

    // Host map keys.
    /// <summary>Key "kernel_release" of the trace's host map (docs/traces.md).</summary>
    public const string KeyKernelRelease = "kernel_release";

    /// <summary>Key "kvm_api_version" of the trace's host map (docs/traces.md).</summary>
    public const string KeyKvmApiVersion = "kvm_api_version";

    /// <summary>Key "kvm_flavour" of the trace's host map (docs/traces.md).</summary>
    public const string KeyKvmFlavour = "kvm_flavour";

    /// <summary>Host map key: the CPU model (optional).</summary>
    public const string KeyCpuModel = "cpu_model";

    // Memory map keys.
    /// <summary>Key "compression" of the trace's memory image map (docs/traces.md).</summary>
    public const string KeyCompression = "compression";

    /// <summary>Key "page_size" of the trace's memory image map (docs/traces.md).</summary>
    public const string KeyPageSize = "page_size";

    /// <summary>Key "chunks" of the trace's memory image map (docs/traces.md).</summary>
    public const string KeyChunks = "chunks";

    /// <summary>Key "content_hash" of the trace's memory image map (docs/traces.md).</summary>
    public const string KeyContentHash = "content_hash";

    // Footer keys.
    /// <summary>Key "events" of the trace's footer map (docs/traces.md).</summary>
    public const string KeyEvents = "events";

    /// <summary>Key "events_by_kind" of the trace's footer map (docs/traces.md).</summary>
    public const string KeyEventsByKind = "events_by_kind";

    /// <summary>Key "memory_hash" of the trace's footer map (docs/traces.md).</summary>
    public const string KeyMemoryHash = "memory_hash";

    /// <summary>Key "event_hash" of the trace's footer map (docs/traces.md).</summary>
    public const string KeyEventHash = "event_hash";

    /// <summary>Key "end_time" of the trace's footer map (docs/traces.md).</summary>
    public const string KeyEndTime = "end_time";

    /// <summary>Header <c>origin</c> value "simulated": made by a simulation.</summary>
    public const string OriginSimulated = "simulated";

    /// <summary>Header <c>origin</c> value "kvm": recorded from real KVM.</summary>
    public const string OriginKvm = "kvm";
}
