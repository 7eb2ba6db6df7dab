using MessagePack;
using Sim.Engine.Memory;
using Sim.Engine.Trace.Codec;

namespace Sim.Engine.Trace;

/// <summary>The header and footer maps (traces/README.md §1, §4).</summary>
public sealed partial class TraceReader
{
    /// <summary>Offset of the value being decoded in the current object (for errors found after it was read).</summary>
    private long At(ref MessagePackReader r) => _input.Offset + r.Consumed;

    /// <summary>The header's values as they are read, each null until its key is seen (a struct on the decoder's
    /// stack: reading a header allocates no more than it did as one method).</summary>
    private struct HeaderFields
    {
        public string? Format,
            VirtsimVersion,
            GitCommit,
            Scenario,
            Origin;
        public ulong? FormatVersion,
            Seed;
        public long? Checkpoint;
        public SortedDictionary<string, string>? Options,
            Devices;
        public TraceHost? Host;
        public bool HostSeen;
        public List<RegionSpec>? Layout;
    }

    private bool DecodeHeader(ref MessagePackReader r)
    {
        const string Ctx = "header";
        long start = _input.Offset;
        if (r.NextMessagePackType != MessagePackType.Map)
            return Fail(
                TraceErrorKind.Malformed,
                start,
                "header map (a virtsim trace starts with one)",
                Describe(r.NextCode),
                Ctx
            );
        int keys = ReadMapHeader(ref r, "header map");
        if (keys > TraceFormat.HeaderKeysMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                start,
                $"header of at most {TraceFormat.HeaderKeysMax} keys",
                $"{keys} keys",
                Ctx
            );
        var h = default(HeaderFields);
        var seen = new SortedSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < keys; i++)
        {
            long keyAt = At(ref r);
            string? key = ReadString(ref r, "header key (str)", Ctx);
            if (key is null)
                return false;
            if (!seen.Add(key))
                return Fail(TraceErrorKind.Malformed, keyAt, "each header key once", $"key {Quote(key)} again", Ctx);
            if (!TryDecodeHeaderValue(ref r, key, ref h))
                return false;
        }
        return TryCompleteHeader(in h, start);
    }

    /// <summary>Reads the value of header key <paramref name="key"/> into <paramref name="h"/> and checks what can
    /// be checked on its own (format name, supported version, origin, one checkpoint interval).</summary>
    private bool TryDecodeHeaderValue(ref MessagePackReader r, string key, ref HeaderFields h)
    {
        string ctx = $"header key {Quote(key)}";
        long valueAt = At(ref r);
        bool ok = true;
        switch (key)
        {
            case TraceFormat.KeyFormat:
                ok = (h.Format = ReadString(ref r, "format (str)", ctx)) is not null;
                break;
            case TraceFormat.KeyFormatVersion:
                h.FormatVersion = ReadUInt64(ref r, "format version (uint)");
                break;
            case TraceFormat.KeyVirtsimVersion:
                ok = (h.VirtsimVersion = ReadString(ref r, "virtsim version (str)", ctx)) is not null;
                break;
            case TraceFormat.KeyGitCommit:
                ok = (h.GitCommit = ReadString(ref r, "git commit (str)", ctx)) is not null;
                break;
            case TraceFormat.KeySeed:
                h.Seed = ReadUInt64(ref r, "seed (uint 64)");
                break;
            case TraceFormat.KeyScenario:
                ok = (h.Scenario = ReadString(ref r, "scenario (str)", ctx)) is not null;
                break;
            case TraceFormat.KeyOptions:
                ok = TryReadStringMap(ref r, ctx, out h.Options);
                break;
            case TraceFormat.KeyOrigin:
                ok = (h.Origin = ReadString(ref r, "origin (str)", ctx)) is not null;
                break;
            case TraceFormat.KeyHost:
                ok = h.HostSeen = TryReadHost(ref r, ctx, out h.Host);
                break;
            case TraceFormat.KeyDevices:
                ok = TryReadStringMap(ref r, ctx, out h.Devices);
                break;
            case TraceFormat.KeyMemoryLayout:
                ok = TryReadLayout(ref r, ctx, out h.Layout);
                break;
            case TraceFormat.KeyCheckpointInterval or TraceFormat.KeyCheckpointIntervalLegacy:
                ok = TryReadCheckpointInterval(ref r, ref h, valueAt, ctx);
                break;
            default:
                ok = TrySkip(ref r, ctx);
                break; // a newer writer's key: ignored (forward compatible)
        }
        return ok && TryCheckHeaderValue(key, in h, valueAt, ctx);
    }

    /// <summary>The header's checkpoint interval (under its current or its legacy key, not both): a non-negative
    /// event count.</summary>
    private bool TryReadCheckpointInterval(ref MessagePackReader r, ref HeaderFields h, long valueAt, string ctx)
    {
        if (h.Checkpoint is not null)
            return Fail(
                TraceErrorKind.Malformed,
                valueAt,
                $"one of {Quote(TraceFormat.KeyCheckpointInterval)} and "
                    + $"{Quote(TraceFormat.KeyCheckpointIntervalLegacy)}",
                "both",
                ctx
            );
        h.Checkpoint = ReadInt64(ref r, "checkpoint interval (int)");
        if (h.Checkpoint < 0)
            return Fail(
                TraceErrorKind.Malformed,
                valueAt,
                "checkpoint interval as a non-negative event count",
                $"{h.Checkpoint}",
                ctx
            );
        return true;
    }

    /// <summary>The checks a header value allows on its own: the format name, a supported format version, a known
    /// origin.</summary>
    private bool TryCheckHeaderValue(string key, in HeaderFields h, long valueAt, string ctx)
    {
        if (key == TraceFormat.KeyFormat && h.Format != TraceFormat.FormatName)
            return Fail(
                TraceErrorKind.Malformed,
                valueAt,
                $"format {Quote(TraceFormat.FormatName)}",
                Quote(h.Format!),
                ctx
            );
        if (
            key == TraceFormat.KeyFormatVersion
            && h.FormatVersion is not (>= TraceFormat.FormatVersionOldest and <= TraceFormat.FormatVersion)
        )
        {
            string expected = $"format version {TraceFormat.FormatVersionOldest} to {TraceFormat.FormatVersion}";
            return Fail(TraceErrorKind.Unsupported, valueAt, expected, $"version {h.FormatVersion}", ctx);
        }
        if (key == TraceFormat.KeyOrigin && h.Origin is not (TraceFormat.OriginSimulated or TraceFormat.OriginKvm))
            return Fail(TraceErrorKind.Malformed, valueAt, "origin \"simulated\" or \"kvm\"", Quote(h.Origin!), ctx);
        return true;
    }

    /// <summary>After the last key: every required key was there (and a host map for a KVM recording); sets
    /// <see cref="Header"/>.</summary>
    private bool TryCompleteHeader(in HeaderFields h, long start)
    {
        const string Ctx = "header";
        string? missing =
            h.Format is null ? TraceFormat.KeyFormat
            : h.FormatVersion is null ? TraceFormat.KeyFormatVersion
            : h.VirtsimVersion is null ? TraceFormat.KeyVirtsimVersion
            : h.GitCommit is null ? TraceFormat.KeyGitCommit
            : h.Seed is null ? TraceFormat.KeySeed
            : h.Scenario is null ? TraceFormat.KeyScenario
            : h.Options is null ? TraceFormat.KeyOptions
            : h.Origin is null ? TraceFormat.KeyOrigin
            : h.Layout is null ? TraceFormat.KeyMemoryLayout
            : h.Checkpoint is null ? TraceFormat.KeyCheckpointInterval
            : null;
        if (missing is not null)
            return Fail(TraceErrorKind.Malformed, start, $"header key {Quote(missing)}", "a header without it", Ctx);
        TraceOrigin traceOrigin = h.Origin == TraceFormat.OriginKvm ? TraceOrigin.Kvm : TraceOrigin.Simulated;
        if (traceOrigin == TraceOrigin.Kvm && h.Host is null)
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                "a host map for origin \"kvm\"",
                h.HostSeen ? "nil" : "no host key",
                Ctx
            );
        Header = new TraceHeader
        {
            FormatVersion = checked((int)h.FormatVersion!.Value),
            VirtsimVersion = h.VirtsimVersion!,
            GitCommit = h.GitCommit!,
            Seed = h.Seed!.Value,
            Scenario = h.Scenario!,
            Options = h.Options!,
            Origin = traceOrigin,
            Host = h.Host,
            Devices = h.Devices ?? new SortedDictionary<string, string>(StringComparer.Ordinal),
            MemoryLayout = new MemoryLayout(h.Layout!),
            CheckpointIntervalEvents = h.Checkpoint!.Value,
        };
        return true;
    }

    private bool TryReadStringMap(ref MessagePackReader r, string ctx, out SortedDictionary<string, string>? map)
    {
        map = null;
        long start = At(ref r);
        int count = ReadMapHeader(ref r, "map of str to str");
        if (count > TraceFormat.OptionsMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                start,
                $"map of at most {TraceFormat.OptionsMax} entries",
                $"{count} entries",
                ctx
            );
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            long at = At(ref r);
            string? key = ReadString(ref r, "map key (str)", ctx);
            if (key is null)
                return false;
            string? value = ReadString(ref r, "map value (str)", ctx);
            if (value is null)
                return false;
            if (!result.TryAdd(key, value))
                return Fail(TraceErrorKind.Malformed, at, "each key once", $"key {Quote(key)} again", ctx);
        }
        map = result;
        return true;
    }

    /// <summary>nil (simulated) or the host map. Returns true when a value was read.</summary>
    private bool TryReadHost(ref MessagePackReader r, string ctx, out TraceHost? host)
    {
        host = null;
        if (r.TryReadNil())
            return true;
        long start = At(ref r);
        int count = ReadMapHeader(ref r, "host map or nil");
        if (count > TraceFormat.HeaderKeysMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                start,
                $"host map of at most {TraceFormat.HeaderKeysMax} keys",
                $"{count} keys",
                ctx
            );
        string? kernel = null,
            flavour = null,
            cpu = null;
        long? api = null;
        for (int i = 0; i < count; i++)
        {
            string? key = ReadString(ref r, "host key (str)", ctx);
            if (key is null)
                return false;
            switch (key)
            {
                case TraceFormat.KeyKernelRelease:
                    if ((kernel = ReadString(ref r, "kernel release (str)", ctx)) is null)
                        return false;
                    break;
                case TraceFormat.KeyKvmApiVersion:
                    api = ReadInt64(ref r, "KVM API version (int)");
                    break;
                case TraceFormat.KeyKvmFlavour:
                    if ((flavour = ReadString(ref r, "KVM flavour (str)", ctx)) is null)
                        return false;
                    break;
                case TraceFormat.KeyCpuModel:
                    if ((cpu = ReadString(ref r, "CPU model (str)", ctx)) is null)
                        return false;
                    break;
                default:
                    if (!TrySkip(ref r, ctx))
                        return false;
                    break;
            }
        }
        if (kernel is null || flavour is null || api is null || api < int.MinValue || api > int.MaxValue)
        {
            return Fail(
                TraceErrorKind.Malformed,
                start,
                "host map with kernel_release, kvm_api_version (int32), kvm_flavour",
                "a host map without them",
                ctx
            );
        }
        host = new TraceHost(kernel, Narrow.LowInt32(api.Value), flavour, cpu ?? "");
        return true;
    }

    private bool TryReadLayout(ref MessagePackReader r, string ctx, out List<RegionSpec>? layout)
    {
        layout = null;
        long start = At(ref r);
        int count = ReadArrayHeader(ref r, "memory layout array");
        if (count > MemoryLayout.RegionsMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                start,
                $"memory layout of at most {MemoryLayout.RegionsMax} regions",
                $"{count} regions",
                ctx
            );
        var regions = new List<RegionSpec>(count);
        for (int i = 0; i < count; i++)
        {
            long at = At(ref r);
            int items = ReadArrayHeader(ref r, "region array [base, size]");
            if (items != 2)
                return Fail(TraceErrorKind.Malformed, at, "region array [base, size]", $"array of {items} items", ctx);
            ulong baseAddress = ReadUInt64(ref r, "region base (uint 64)");
            ulong size = ReadUInt64(ref r, "region size (uint 64)");
            regions.Add(new RegionSpec(baseAddress, size));
        }
        layout = regions;
        return true;
    }

    // ---------------------------------------------------------------- footer

    private TraceFooter? _decodedFooter;

    /// <summary>The footer map, checked against the events read; <see cref="TryReadNextSlow"/> then
    /// requires the end of the stream.</summary>
    private bool DecodeFooter(ref MessagePackReader r)
    {
        const string Ctx = "footer";
        long start = _input.Offset;
        int keys = ReadMapHeader(ref r, "footer map");
        if (keys > TraceFormat.HeaderKeysMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                start,
                $"footer of at most {TraceFormat.HeaderKeysMax} keys",
                $"{keys} keys",
                Ctx
            );
        ulong? events = null,
            memoryHash = null,
            eventHash = null;
        long? endTime = null;
        SortedDictionary<TraceEventKind, ulong>? byKind = null;
        for (int i = 0; i < keys; i++)
        {
            string? key = ReadString(ref r, "footer key (str)", Ctx);
            if (key is null)
                return false;
            string ctx = $"footer key {Quote(key)}";
            switch (key)
            {
                case TraceFormat.KeyEvents:
                    events = ReadUInt64(ref r, "event count (uint)");
                    break;
                case TraceFormat.KeyEventsByKind:
                    if (!TryReadCounts(ref r, out byKind))
                        return false;
                    break;
                case TraceFormat.KeyMemoryHash:
                    memoryHash = ReadUInt64(ref r, "memory hash (uint 64)");
                    break;
                case TraceFormat.KeyEventHash:
                    eventHash = ReadUInt64(ref r, "event hash (uint 64)");
                    break;
                case TraceFormat.KeyEndTime:
                    endTime = ReadInt64(ref r, "end time (int 64)");
                    break;
                default:
                    if (!TrySkip(ref r, ctx))
                        return false;
                    break;
            }
        }
        if (events is null || byKind is null || memoryHash is null || eventHash is null || endTime is null)
        {
            return Fail(
                TraceErrorKind.Malformed,
                start,
                "footer with events, events_by_kind, memory_hash, event_hash, end_time",
                "a footer without them",
                Ctx
            );
        }
        if (!TryCheckFooterAgainstEvents(start, events.Value, byKind, eventHash.Value, endTime.Value))
            return false;
        _decodedFooter = new TraceFooter(events.Value, byKind, memoryHash.Value, eventHash.Value, endTime.Value);
        return true;
    }

    /// <summary>The footer's figures against what was read: the event count, the count of each kind, the event
    /// hash, an end time not before the last event, and no periodic checkpoint due before the footer.</summary>
    private bool TryCheckFooterAgainstEvents(
        long start,
        ulong events,
        SortedDictionary<TraceEventKind, ulong> byKind,
        ulong eventHash,
        long endTime
    )
    {
        const string Ctx = "footer";
        if (events != EventsRead)
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                $"footer event count {EventsRead} (events read)",
                $"{events}",
                Ctx
            );
        for (int k = 0; k < _counts.Length; k++)
        {
            byKind.TryGetValue((TraceEventKind)k, out ulong stated);
            if (stated != _counts[k])
                return Fail(
                    TraceErrorKind.Inconsistent,
                    start,
                    $"footer count {_counts[k]} for event kind {(TraceEventKind)k}",
                    $"{stated}",
                    Ctx
                );
        }
        if (eventHash != EventHash)
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                $"footer event hash 0x{EventHash:x16} (events read)",
                $"0x{eventHash:x16}",
                Ctx
            );
        if (endTime < _lastTime)
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                $"footer end time at or after the last event's time {_lastTime}",
                $"{endTime}",
                Ctx
            );
        if (_checkpointEvery != 0 && _sinceCheckpoint == _checkpointEvery)
        {
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                $"a periodic Checkpoint after the last {_checkpointEvery} events (header checkpoint interval)",
                "the footer",
                Ctx
            );
        }
        return true;
    }

    /// <summary>After the footer was decoded: nothing may follow it.</summary>
    private bool TryCompleteAfterFooter()
    {
        _input.Fill(1);
        if (_input.IoError is { } io)
            return Fail(TraceErrorKind.Io, _input.Offset, "readable bytes", "I/O error: " + io, "end of trace");
        if (_input.Available > 0)
            return Fail(
                TraceErrorKind.Malformed,
                _input.Offset,
                "end of stream after the footer",
                Describe(_input.Span[0]),
                "end of trace"
            );
        Footer = _decodedFooter;
        _stage = Stage.Complete;
        return true;
    }

    private bool TryReadCounts(ref MessagePackReader r, out SortedDictionary<TraceEventKind, ulong>? counts)
    {
        const string Ctx = "footer events_by_kind";
        counts = null;
        long start = At(ref r);
        int n = ReadArrayHeader(ref r, "array of [kind, count]");
        if (n > TraceFormat.KindsMax)
            return Fail(TraceErrorKind.LimitExceeded, start, $"at most {TraceFormat.KindsMax} kinds", $"{n}", Ctx);
        var result = new SortedDictionary<TraceEventKind, ulong>();
        for (int i = 0; i < n; i++)
        {
            long at = At(ref r);
            int items = ReadArrayHeader(ref r, "[kind, count] pair");
            if (items != 2)
                return Fail(TraceErrorKind.Malformed, at, "[kind, count] pair", $"array of {items} items", Ctx);
            ulong kind = ReadUInt64(ref r, "event kind (uint)");
            ulong count = ReadUInt64(ref r, "event count (uint)");
            if (kind >= TraceFormat.KindsMax)
                return Fail(TraceErrorKind.Malformed, at, "event kind in [0, 255]", $"{kind}", Ctx);
            if (!result.TryAdd((TraceEventKind)kind, count))
                return Fail(TraceErrorKind.Malformed, at, "each kind once", $"kind {kind} again", Ctx);
        }
        counts = result;
        return true;
    }
}
