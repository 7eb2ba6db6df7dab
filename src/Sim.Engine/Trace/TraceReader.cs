using System.Diagnostics.CodeAnalysis;
using Sim.Engine.Memory;
using Sim.Engine.Trace.MessagePack;

namespace Sim.Engine.Trace;

/// <summary>
/// Reads a trace (traces/README.md) as a stream: <see cref="TryOpen"/> decodes the header, then
/// <see cref="TryReadInitialMemory"/> (optional) loads the initial pages, then
/// <see cref="TryReadNext"/> pulls one event at a time until the footer. The bytes are untrusted:
/// every failure is a <see cref="TraceError"/> with the byte offset, never an exception, and memory
/// stays bounded (named limits in <see cref="TraceFormat"/>; decompression writes only into the
/// caller's memory, never beyond the declared, capped layout). Reading an event allocates nothing:
/// <see cref="TraceEvent.Data"/> points into the reader's buffer until the next call.
/// The footer's counts and event hash are checked against the events actually read.
/// </summary>
public sealed class TraceReader : IDisposable
{
    private enum Stage : byte { Memory, Events, Complete, Failed }

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly MsgPackReader _reader;
    private readonly ulong[] _counts = new ulong[TraceFormat.KindsMax];
    private TraceEventHash _hash = new();
    private Stage _stage;
    private long _chunksLeft;
    private ulong _nextChunkAddress;
    private long _lastTime;
    private long _checkpointEvery;
    private long _sinceCheckpoint;
    private byte[]? _compressed;
    private byte[]? _scratch;
    private RegionSpec[] _regions = [];
    private StableHash64 _memoryHash = new();
    private int _hashRegion;
    private ulong _hashedTo;
    private bool _hashRegionStarted;

    /// <summary>Zero pages between chunks are hashed from this.</summary>
    private static readonly byte[] ZeroBlock = new byte[TraceFormat.ChunkBytesMax];

    private TraceReader(Stream stream, bool leaveOpen)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
        _reader = new MsgPackReader(stream)
        {
            StringBytesMax = TraceFormat.HeaderStringBytesMax,
            BinBytesMax = Math.Max(TraceFormat.EventDataBytesMax, TraceFormat.ChunkCompressedBytesMax),
            ExtBytesMax = TraceFormat.HeaderStringBytesMax,
            MapEntriesMax = TraceFormat.OptionsMax,
            ArrayItemsMax = TraceFormat.OptionsMax,
        };
        Header = null!;
    }

    /// <summary>The decoded header.</summary>
    public TraceHeader Header { get; private set; }

    /// <summary>Content hash of the initial memory, as the trace states it.</summary>
    public ulong InitialMemoryHash { get; private set; }

    /// <summary>Number of memory chunks the trace declares.</summary>
    public long MemoryChunks { get; private set; }

    /// <summary>The footer, once <see cref="TryReadNext"/> has reached and verified it.</summary>
    public TraceFooter? Footer { get; private set; }

    /// <summary>The first failure; sticky.</summary>
    public TraceError? Error { get; private set; }

    /// <summary>Events returned so far (the index of the next one).</summary>
    public ulong EventsRead { get; private set; }

    /// <summary>Running <see cref="TraceEventHash"/> of the events returned so far.</summary>
    public ulong EventHash => _hash.Value;

    /// <summary>Absolute byte offset of the next unread byte.</summary>
    public long Offset => _reader.Offset;

    /// <summary>True once the footer was read and verified.</summary>
    [MemberNotNullWhen(true, nameof(Footer))]
    public bool IsComplete => Footer is not null;

    /// <summary>Decodes the header and the memory map. On failure the stream is left as it is
    /// (disposed unless <paramref name="leaveOpen"/>).</summary>
    public static bool TryOpen(Stream stream, [NotNullWhen(true)] out TraceReader? reader, [NotNullWhen(false)] out TraceError? error, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var r = new TraceReader(stream, leaveOpen);
        if (r.TryReadHeader() && r.TryReadMemoryMap())
        {
            reader = r;
            error = null;
            return true;
        }
        reader = null;
        error = r.Error!;
        r.Dispose();
        return false;
    }

    public void Dispose()
    {
        if (!_leaveOpen) _stream.Dispose();
    }

    // ---------------------------------------------------------------- errors

    private bool Fail(TraceErrorKind kind, long offset, string expected, string found, string context)
    {
        Error ??= new TraceError(kind, offset, $"byte {offset}: expected {expected}, found {found} (in {context})");
        _stage = Stage.Failed;
        return false;
    }

    private bool FailCodec(string context)
    {
        MsgPackError codec = _reader.Error ?? new MsgPackError(MsgPackErrorKind.Truncated, _reader.Offset, "a value", "nothing");
        Error ??= TraceError.FromCodec(codec, context);
        _stage = Stage.Failed;
        return false;
    }

    private static string Quote(string s) => s.Length <= 64 ? $"\"{s}\"" : $"\"{s[..64]}...\"";

    // ---------------------------------------------------------------- header

    private bool TryReadHeader()
    {
        const string Ctx = "header";
        MsgPackReader r = _reader;
        long start = r.Offset;
        if (!r.TryPeekType(out MsgPackType type)) return FailCodec(Ctx);
        if (type != MsgPackType.Map) return Fail(TraceErrorKind.Malformed, start, "header map (a virtsim trace starts with one)", MsgPackReader.Describe(PeekCodeOrZero()), Ctx);
        if (!r.TryReadMapHeader(out int keys)) return FailCodec(Ctx);
        if (keys > TraceFormat.HeaderKeysMax) return Fail(TraceErrorKind.LimitExceeded, start, $"header of at most {TraceFormat.HeaderKeysMax} keys", $"{keys} keys", Ctx);

        string? format = null, virtsimVersion = null, gitCommit = null, scenario = null, origin = null;
        ulong? formatVersion = null, seed = null;
        ulong? checkpoint = null;
        long checkpointAt = 0;
        SortedDictionary<string, string>? options = null, devices = null;
        TraceHost? host = null;
        bool hostSeen = false;
        List<RegionSpec>? layout = null;
        var seen = new SortedSet<string>(StringComparer.Ordinal);

        for (int i = 0; i < keys; i++)
        {
            long keyAt = r.Offset;
            if (!r.TryReadString(out string? key)) return FailCodec(Ctx + " key");
            if (!seen.Add(key)) return Fail(TraceErrorKind.Malformed, keyAt, "each header key once", $"key {Quote(key)} again", Ctx);
            string ctx = $"header key {Quote(key)}";
            long valueAt = r.Offset;
            bool ok = key switch
            {
                TraceFormat.KeyFormat => r.TryReadString(out format),
                TraceFormat.KeyFormatVersion => TryReadUInt64(out formatVersion),
                TraceFormat.KeyVirtsimVersion => r.TryReadString(out virtsimVersion),
                TraceFormat.KeyGitCommit => r.TryReadString(out gitCommit),
                TraceFormat.KeySeed => TryReadUInt64(out seed),
                TraceFormat.KeyScenario => r.TryReadString(out scenario),
                TraceFormat.KeyOptions => TryReadStringMap(ctx, out options),
                TraceFormat.KeyOrigin => r.TryReadString(out origin),
                TraceFormat.KeyHost => hostSeen = TryReadHost(ctx, out host),
                TraceFormat.KeyDevices => TryReadStringMap(ctx, out devices),
                TraceFormat.KeyMemoryLayout => TryReadLayout(ctx, out layout),
                TraceFormat.KeyCheckpointInterval or TraceFormat.KeyCheckpointIntervalLegacy => TryReadCheckpointInterval(ctx, valueAt, ref checkpoint, ref checkpointAt),
                _ => r.TrySkip(), // a newer writer's key: ignored (forward compatible)
            };
            if (!ok) return Error is not null ? false : FailCodec(ctx);
            if (r.Offset - start > TraceFormat.HeaderBytesMax) return Fail(TraceErrorKind.LimitExceeded, start, $"header of at most {TraceFormat.HeaderBytesMax} bytes", $"{r.Offset - start} bytes so far", Ctx);
            if (key == TraceFormat.KeyFormat && format != TraceFormat.FormatName) return Fail(TraceErrorKind.Malformed, valueAt, $"format {Quote(TraceFormat.FormatName)}", Quote(format!), ctx);
            if (key == TraceFormat.KeyFormatVersion && formatVersion != TraceFormat.FormatVersion) return Fail(TraceErrorKind.Unsupported, valueAt, $"format version {TraceFormat.FormatVersion}", $"version {formatVersion}", ctx);
            if (key == TraceFormat.KeyOrigin && origin is not (TraceFormat.OriginSimulated or TraceFormat.OriginKvm)) return Fail(TraceErrorKind.Malformed, valueAt, "origin \"simulated\" or \"kvm\"", Quote(origin!), ctx);
        }
        long end = r.Offset;
        string? missing =
            format is null ? TraceFormat.KeyFormat :
            formatVersion is null ? TraceFormat.KeyFormatVersion :
            virtsimVersion is null ? TraceFormat.KeyVirtsimVersion :
            gitCommit is null ? TraceFormat.KeyGitCommit :
            seed is null ? TraceFormat.KeySeed :
            scenario is null ? TraceFormat.KeyScenario :
            options is null ? TraceFormat.KeyOptions :
            origin is null ? TraceFormat.KeyOrigin :
            layout is null ? TraceFormat.KeyMemoryLayout :
            checkpoint is null ? TraceFormat.KeyCheckpointInterval : null;
        _ = checkpointAt;
        if (missing is not null) return Fail(TraceErrorKind.Malformed, start, $"header key {Quote(missing)}", "a header without it", Ctx);
        TraceOrigin traceOrigin = origin == TraceFormat.OriginKvm ? TraceOrigin.Kvm : TraceOrigin.Simulated;
        if (traceOrigin == TraceOrigin.Kvm && host is null) return Fail(TraceErrorKind.Inconsistent, start, "a host map for origin \"kvm\"", hostSeen ? "nil" : "no host key", Ctx);
        _ = end;
        Header = new TraceHeader
        {
            VirtsimVersion = virtsimVersion!,
            GitCommit = gitCommit!,
            Seed = seed!.Value,
            Scenario = scenario!,
            Options = options!,
            Origin = traceOrigin,
            Host = host,
            Devices = devices ?? new SortedDictionary<string, string>(StringComparer.Ordinal),
            MemoryLayout = new MemoryLayout(layout!),
            CheckpointIntervalEvents = unchecked((long)checkpoint!.Value),
        };
        return true;
    }

    private byte PeekCodeOrZero() => _reader.TryPeekCode(out byte c) ? c : (byte)0;

    private bool TryReadUInt64(out ulong? value)
    {
        bool ok = _reader.TryReadUInt64(out ulong v);
        value = ok ? v : null;
        return ok;
    }

    /// <summary>"checkpoint_interval_events" or its old name: an event count, so unsigned and at most
    /// <see cref="long.MaxValue"/>; only one of the two keys.</summary>
    private bool TryReadCheckpointInterval(string ctx, long at, ref ulong? interval, ref long intervalAt)
    {
        if (interval is not null) return Fail(TraceErrorKind.Malformed, at, $"one of {Quote(TraceFormat.KeyCheckpointInterval)} and {Quote(TraceFormat.KeyCheckpointIntervalLegacy)}", "both", ctx);
        if (!_reader.TryReadInt64(out long v)) return false;
        if (v < 0) return Fail(TraceErrorKind.Malformed, at, "checkpoint interval as a non-negative event count", $"{v}", ctx);
        interval = unchecked((ulong)v);
        intervalAt = at;
        return true;
    }

    private bool TryReadInt64(out long? value)
    {
        bool ok = _reader.TryReadInt64(out long v);
        value = ok ? v : null;
        return ok;
    }

    private bool TryReadStringMap(string ctx, out SortedDictionary<string, string>? map)
    {
        map = null;
        MsgPackReader r = _reader;
        if (!r.TryReadMapHeader(out int count)) return false; // limit: MapEntriesMax = OptionsMax
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            long at = r.Offset;
            if (!r.TryReadString(out string? key) || !r.TryReadString(out string? value)) return false;
            if (!result.TryAdd(key, value)) return Fail(TraceErrorKind.Malformed, at, "each key once", $"key {Quote(key)} again", ctx);
        }
        map = result;
        return true;
    }

    /// <summary>nil (simulated) or the host map. Returns true when a value was read.</summary>
    private bool TryReadHost(string ctx, out TraceHost? host)
    {
        host = null;
        MsgPackReader r = _reader;
        if (!r.TryPeekType(out MsgPackType type)) return false;
        if (type == MsgPackType.Nil) return r.TryReadNil();
        long start = r.Offset;
        if (!r.TryReadMapHeader(out int count)) return false;
        if (count > TraceFormat.HeaderKeysMax) return Fail(TraceErrorKind.LimitExceeded, start, $"host map of at most {TraceFormat.HeaderKeysMax} keys", $"{count} keys", ctx);
        string? kernel = null, flavour = null;
        long? api = null;
        for (int i = 0; i < count; i++)
        {
            if (!r.TryReadString(out string? key)) return false;
            bool ok = key switch
            {
                TraceFormat.KeyKernelRelease => r.TryReadString(out kernel),
                TraceFormat.KeyKvmApiVersion => TryReadInt64(out api),
                TraceFormat.KeyKvmFlavour => r.TryReadString(out flavour),
                _ => r.TrySkip(),
            };
            if (!ok) return false;
        }
        if (kernel is null || flavour is null || api is null || api < int.MinValue || api > int.MaxValue)
        {
            return Fail(TraceErrorKind.Malformed, start, "host map with kernel_release, kvm_api_version (int32), kvm_flavour", "a host map without them", ctx);
        }
        host = new TraceHost(kernel, unchecked((int)api.Value), flavour);
        return true;
    }

    private bool TryReadLayout(string ctx, out List<RegionSpec>? layout)
    {
        layout = null;
        MsgPackReader r = _reader;
        long start = r.Offset;
        if (!r.TryReadArrayHeader(out int count)) return false;
        if (count > MemoryLayout.RegionsMax) return Fail(TraceErrorKind.LimitExceeded, start, $"memory layout of at most {MemoryLayout.RegionsMax} regions", $"{count} regions", ctx);
        var regions = new List<RegionSpec>(count);
        for (int i = 0; i < count; i++)
        {
            long at = r.Offset;
            if (!r.TryReadArrayHeader(out int items)) return false;
            if (items != 2) return Fail(TraceErrorKind.Malformed, at, "region array [base, size]", $"array of {items} items", ctx);
            if (!r.TryReadUInt64(out ulong baseAddress) || !r.TryReadUInt64(out ulong size)) return false;
            regions.Add(new RegionSpec(baseAddress, size));
        }
        layout = regions;
        return true;
    }

    // ---------------------------------------------------------------- memory

    private bool TryReadMemoryMap()
    {
        const string Ctx = "memory map";
        MsgPackReader r = _reader;
        long start = r.Offset;
        if (!r.TryPeekType(out MsgPackType type)) return FailCodec(Ctx);
        if (type != MsgPackType.Map) return Fail(TraceErrorKind.Malformed, start, "memory map after the header", MsgPackReader.Describe(PeekCodeOrZero()), Ctx);
        if (!r.TryReadMapHeader(out int keys)) return FailCodec(Ctx);
        if (keys > TraceFormat.HeaderKeysMax) return Fail(TraceErrorKind.LimitExceeded, start, $"memory map of at most {TraceFormat.HeaderKeysMax} keys", $"{keys} keys", Ctx);
        string? compression = null;
        ulong? pageSize = null, chunks = null, hash = null;
        for (int i = 0; i < keys; i++)
        {
            if (!r.TryReadString(out string? key)) return FailCodec(Ctx);
            bool ok = key switch
            {
                TraceFormat.KeyCompression => r.TryReadString(out compression),
                TraceFormat.KeyPageSize => TryReadUInt64(out pageSize),
                TraceFormat.KeyChunks => TryReadUInt64(out chunks),
                TraceFormat.KeyContentHash => TryReadUInt64(out hash),
                _ => r.TrySkip(),
            };
            if (!ok) return FailCodec($"memory map key {Quote(key)}");
        }
        if (compression != TraceFormat.CompressionZlib) return Fail(TraceErrorKind.Unsupported, start, $"compression {Quote(TraceFormat.CompressionZlib)}", compression is null ? "none" : Quote(compression), Ctx);
        if (pageSize != GuestMemory.PageSize) return Fail(TraceErrorKind.Unsupported, start, $"page size {GuestMemory.PageSize}", pageSize is null ? "none" : $"{pageSize}", Ctx);
        if (chunks is null || hash is null) return Fail(TraceErrorKind.Malformed, start, "memory map with chunks and content_hash", "a map without them", Ctx);
        if (chunks > unchecked((ulong)TraceFormat.ChunksMax)) return Fail(TraceErrorKind.LimitExceeded, start, $"at most {TraceFormat.ChunksMax} chunks", $"{chunks}", Ctx);
        _chunksLeft = unchecked((long)chunks.Value);
        _regions = [.. Header.MemoryLayout.Regions.OrderBy(s => s.Base)];
        _checkpointEvery = Header.CheckpointIntervalEvents;
        MemoryChunks = _chunksLeft;
        InitialMemoryHash = hash.Value;
        _stage = Stage.Memory;
        return true;
    }

    /// <summary>Guest memory with the header's layout (all zero), or why the layout is unusable.
    /// Allocation is bounded by <paramref name="totalBytesMax"/> (at most
    /// <see cref="MemoryLayout.TotalSizeMax"/>): tools that only inspect a trace pass a smaller cap.</summary>
    public bool TryCreateMemory([NotNullWhen(true)] out GuestMemory? memory, [NotNullWhen(false)] out TraceError? error, ulong totalBytesMax = MemoryLayout.TotalSizeMax)
    {
        ulong total = 0;
        foreach (RegionSpec region in Header.MemoryLayout.Regions)
        {
            if (region.Size > totalBytesMax - total)
            {
                memory = null;
                error = new TraceError(TraceErrorKind.LimitExceeded, 0, $"byte 0: expected a memory layout of at most {totalBytesMax} bytes, found a larger one (in header key \"memory_layout\")");
                return false;
            }
            total += region.Size;
        }
        if (GuestMemory.TryCreate(Header.MemoryLayout, out memory, out string? why))
        {
            error = null;
            return true;
        }
        error = new TraceError(TraceErrorKind.Unsupported, 0, $"byte 0: expected a usable memory layout, found {why} (in header key \"memory_layout\")");
        return false;
    }

    /// <summary>Zeroes <paramref name="target"/> and decompresses the initial pages into it, then
    /// checks the stated content hash and clears its dirty marks. <paramref name="target"/> must have
    /// the header's layout (see <see cref="TryCreateMemory"/>). Call before <see cref="TryReadNext"/>.</summary>
    public bool TryReadInitialMemory(GuestMemory target, [NotNullWhen(false)] out TraceError? error)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (_stage == Stage.Failed) { error = Error!; return false; }
        if (_stage != Stage.Memory || _chunksLeft != MemoryChunks) throw new InvalidOperationException("the initial memory can be read once, before the first event");
        if (!target.Layout.Regions.SequenceEqual(Header.MemoryLayout.Regions.OrderBy(s => s.Base)))
        {
            throw new ArgumentException("target memory's layout differs from the trace's layout", nameof(target));
        }
        target.Clear();
        if (!TryReadChunks(target))
        {
            error = Error!;
            return false;
        }
        target.ClearDirty();
        error = null;
        return true;
    }

    /// <summary>Reads the remaining chunks into <paramref name="target"/>, or, when it is null, inflates each
    /// into a scratch page run: either way every chunk is checked (inside one region, page-aligned there,
    /// ascending, one complete zlib stream of exactly its length) and the content hash is computed as the
    /// chunks stream past (zero pages in between), so a corrupt image is an error for every reader of the
    /// trace, not only for one that loads the memory.</summary>
    private bool TryReadChunks(GuestMemory? target)
    {
        MsgPackReader r = _reader;
        while (_chunksLeft > 0)
        {
            string ctx = $"memory chunk {MemoryChunks - _chunksLeft}";
            long start = r.Offset;
            if (!r.TryPeekType(out MsgPackType type)) return FailCodec(ctx);
            if (type != MsgPackType.Array) return Fail(TraceErrorKind.Malformed, start, $"memory chunk array of {TraceFormat.ChunkFields} items", MsgPackReader.Describe(PeekCodeOrZero()), ctx);
            if (!r.TryReadArrayHeader(out int items)) return FailCodec(ctx);
            if (items != TraceFormat.ChunkFields) return Fail(TraceErrorKind.Malformed, start, $"memory chunk array of {TraceFormat.ChunkFields} items", $"array of {items} items", ctx);
            if (!r.TryReadUInt64(out ulong address)) return FailCodec(ctx + " address");
            long lengthAt = r.Offset;
            if (!r.TryReadUInt64(out ulong length)) return FailCodec(ctx + " length");
            if (length == 0 || length > TraceFormat.ChunkBytesMax) return Fail(TraceErrorKind.LimitExceeded, lengthAt, $"chunk length in [1, {TraceFormat.ChunkBytesMax}]", $"{length}", ctx);
            if (address < _nextChunkAddress || address > ulong.MaxValue - length) return Fail(TraceErrorKind.Inconsistent, start, $"chunk at or after 0x{_nextChunkAddress:x} (ascending, not overlapping)", $"chunk at 0x{address:x}", ctx);
            if (!TryLocateChunk(address, length, out int region))
            {
                return Fail(TraceErrorKind.Inconsistent, start, "chunk inside the memory layout, starting on a page of its region and ending on one or at the region's end", $"chunk at 0x{address:x} of {length} bytes", ctx);
            }
            long binAt = r.Offset;
            if (!r.TryReadBinHeader(out int compressedLength)) return FailCodec(ctx + " data");
            if (compressedLength > TraceFormat.ChunkCompressedBytesMax) return Fail(TraceErrorKind.LimitExceeded, binAt, $"compressed chunk of at most {TraceFormat.ChunkCompressedBytesMax} bytes", $"{compressedLength} bytes", ctx);
            long dataAt = r.Offset;
            Span<byte> destination;
            if (target is null)
            {
                _scratch ??= new byte[TraceFormat.ChunkBytesMax];
                destination = _scratch.AsSpan(0, unchecked((int)length));
            }
            else if (!target.TryGetSpan(new GuestAddress(address), length, out destination))
            {
                return Fail(TraceErrorKind.Inconsistent, start, "chunk inside the memory layout", $"chunk at 0x{address:x} of {length} bytes", ctx);
            }
            _compressed ??= new byte[TraceFormat.ChunkCompressedBytesMax];
            if (!r.TryReadRaw(_compressed.AsSpan(0, compressedLength))) return FailCodec(ctx + " data");
            if (!ZlibChunkInflater.TryInflate(_compressed.AsMemory(0, compressedLength), destination, out string expected, out string found, out int at))
            {
                return Fail(TraceErrorKind.Malformed, dataAt + at, expected, found, ctx);
            }
            HashZerosUpTo(region, address - _regions[region].Base);
            _memoryHash.Add(destination);
            _hashedTo += length;
            _nextChunkAddress = address + length;
            _chunksLeft--;
        }
        HashZerosUpTo(_regions.Length, 0);
        ulong actual = _memoryHash.Finish();
        if (actual != InitialMemoryHash)
        {
            return Fail(TraceErrorKind.Inconsistent, r.Offset, $"initial memory with content hash 0x{InitialMemoryHash:x16} (the memory map's content_hash)", $"0x{actual:x16}", "memory chunks");
        }
        return true;
    }

    /// <summary>The region holding all of [address, address + length), with the chunk starting on a page
    /// boundary of the region and ending on one or at the region's end (traces/README.md §2).</summary>
    private bool TryLocateChunk(ulong address, ulong length, out int region)
    {
        for (region = 0; region < _regions.Length; region++)
        {
            RegionSpec s = _regions[region];
            if (address < s.Base || address - s.Base >= s.Size) continue;
            ulong offset = address - s.Base;
            return length <= s.Size - offset
                && offset % GuestMemory.PageSize == 0
                && (length % GuestMemory.PageSize == 0 || length == s.Size - offset);
        }
        return false;
    }

    /// <summary>Feeds <see cref="GuestMemory.ContentHash"/>'s words and zero bytes up to
    /// <paramref name="offset"/> in <paramref name="region"/> (<see cref="_regions"/>.Length: to the end).</summary>
    private void HashZerosUpTo(int region, ulong offset)
    {
        while (_hashRegion < region)
        {
            StartHashRegion();
            HashZeros(_regions[_hashRegion].Size - _hashedTo);
            _hashRegion++;
            _hashedTo = 0;
            _hashRegionStarted = false;
        }
        if (region < _regions.Length)
        {
            StartHashRegion();
            HashZeros(offset - _hashedTo);
            _hashedTo = offset;
        }
    }

    private void StartHashRegion()
    {
        if (_hashRegionStarted) return;
        _memoryHash.AddUInt64(_regions[_hashRegion].Base);
        _memoryHash.AddUInt64(_regions[_hashRegion].Size);
        _hashRegionStarted = true;
    }

    /// <summary>Zero bytes in blocks of a multiple of 8, so the hash's word boundaries stay those of one long span.</summary>
    private void HashZeros(ulong count)
    {
        while (count > 0)
        {
            int n = unchecked((int)Math.Min(count, (ulong)ZeroBlock.Length));
            _memoryHash.Add(ZeroBlock.AsSpan(0, n));
            count -= (ulong)n;
        }
    }

    // ---------------------------------------------------------------- events

    /// <summary>
    /// The next event: true with <paramref name="ev"/> set (its data valid until the next call).
    /// False with <paramref name="error"/> null when the footer was reached and verified
    /// (<see cref="Footer"/>); false with <paramref name="error"/> set on failure — including
    /// <see cref="TraceErrorKind.Truncated"/> for a trace that ends without a footer.
    /// Skips the initial memory if <see cref="TryReadInitialMemory"/> was not called.
    /// </summary>
    public bool TryReadNext(out TraceEvent ev, out TraceError? error)
    {
        ev = default;
        if (_stage != Stage.Events && !TryEnterEvents())
        {
            error = Error;
            return false;
        }
        MsgPackReader r = _reader;
        if (r.TryPeekCode(out byte code) && code == MsgPackCode.FixArrayMin + TraceFormat.EventFields)
        {
            long start = r.Offset;
            if (r.TryReadArrayHeader(out _)
                && r.TryReadUInt64(out ulong kind)
                && r.TryReadInt64(out long delta)
                && r.TryReadUInt32(out uint source)
                && r.TryReadUInt64(out ulong address)
                && r.TryReadUInt64(out ulong value)
                && r.TryReadBinHeader(out int dataLength))
            {
                if (kind >= TraceFormat.KindsMax) return FailEvent(TraceErrorKind.Malformed, start, "event kind in [0, 255]", $"{kind}", out error);
                if (dataLength > TraceFormat.EventDataBytesMax) return FailEvent(TraceErrorKind.LimitExceeded, start, $"event data of at most {TraceFormat.EventDataBytesMax} bytes", $"{dataLength} bytes", out error);
                if (_checkpointEvery != 0 && !TryPlaceCheckpoint(kind, source, start, out error)) return false;
                if (r.TryReadRawSpan(dataLength, out ReadOnlySpan<byte> data))
                {
                    long time = unchecked(_lastTime + delta);
                    ev = new TraceEvent((TraceEventKind)kind, time, source, address, value, data);
                    _lastTime = time;
                    _counts[kind]++;
                    _hash.Add(ev);
                    EventsRead++;
                    error = null;
                    return true;
                }
            }
            FailCodec($"event {EventsRead}");
            error = Error;
            return false;
        }
        return TryReadNextSlow(out error);
    }

    /// <summary>Periodic checkpoints (<see cref="TraceHeader.CheckpointIntervalEvents"/> = N &gt; 0): a
    /// Checkpoint of source <see cref="TraceFormat.CheckpointSourcePeriodic"/> follows every N other events,
    /// exactly there (the simulation emits it right after the Nth event), and nowhere else.</summary>
    private bool TryPlaceCheckpoint(ulong kind, uint source, long start, out TraceError? error)
    {
        error = null;
        if (kind == (ulong)TraceEventKind.Checkpoint && source == TraceFormat.CheckpointSourcePeriodic)
        {
            if (_sinceCheckpoint != _checkpointEvery)
            {
                return FailEvent(TraceErrorKind.Inconsistent, start, $"a periodic Checkpoint only after every {_checkpointEvery} events (header checkpoint interval)", $"one after {_sinceCheckpoint} events", out error);
            }
            _sinceCheckpoint = 0;
            return true;
        }
        if (_sinceCheckpoint == _checkpointEvery)
        {
            return FailEvent(TraceErrorKind.Inconsistent, start, $"a periodic Checkpoint (kind 17, source 0) after {_checkpointEvery} events (header checkpoint interval)", $"event kind {kind}, source {source}", out error);
        }
        _sinceCheckpoint++;
        return true;
    }

    /// <summary>Reads the rest of the trace to its verified footer without returning the events: after a
    /// replay has diverged, this tells a recording that contradicts itself (corrupt: footer counts or hash
    /// that disagree with the events, a truncated file) from one the live run merely differs from.
    /// Each call consumes at least one byte, so the trace's length bounds the loop.</summary>
    public bool TryVerifyRest([NotNullWhen(false)] out TraceError? error)
    {
        while (TryReadNext(out _, out error))
        {
        }
        if (error is null && Footer is not null) return true;
        error ??= Error ?? new TraceError(TraceErrorKind.Truncated, Offset, $"byte {Offset}: expected the footer, found nothing more");
        return false;
    }

    private bool FailEvent(TraceErrorKind kind, long offset, string expected, string found, out TraceError? error)
    {
        Fail(kind, offset, expected, found, $"event {EventsRead}");
        error = Error;
        return false;
    }

    private bool TryEnterEvents()
    {
        if (_stage == Stage.Memory)
        {
            if (!TryReadChunks(null)) return false;
            _stage = Stage.Events;
            return true;
        }
        return false; // Complete (Error null) or Failed (Error set)
    }

    /// <summary>Not a 6-item fixarray: the footer, end of stream, or garbage.</summary>
    private bool TryReadNextSlow(out TraceError? error)
    {
        MsgPackReader r = _reader;
        long start = r.Offset;
        string ctx = $"event {EventsRead}";
        error = null;
        if (r.IsAtEnd())
        {
            Error = new TraceError(TraceErrorKind.Truncated, start, $"byte {start}: expected event array or footer map, found end of stream (after {EventsRead} events); the trace is truncated (no footer)");
            _stage = Stage.Failed;
        }
        else if (!r.TryPeekType(out MsgPackType type))
        {
            FailCodec(ctx);
        }
        else if (type == MsgPackType.Array)
        {
            if (r.TryReadArrayHeader(out int items)) Fail(TraceErrorKind.Malformed, start, $"event array of {TraceFormat.EventFields} items", $"array of {items} items", ctx);
            else FailCodec(ctx);
        }
        else if (type == MsgPackType.Map)
        {
            if (TryReadFooter()) return false;
        }
        else
        {
            Fail(TraceErrorKind.Malformed, start, "event array or footer map", MsgPackReader.Describe(PeekCodeOrZero()), ctx);
        }
        error = Error;
        return false;
    }

    private bool TryReadFooter()
    {
        const string Ctx = "footer";
        MsgPackReader r = _reader;
        long start = r.Offset;
        if (!r.TryReadMapHeader(out int keys)) return FailCodec(Ctx);
        if (keys > TraceFormat.HeaderKeysMax) return Fail(TraceErrorKind.LimitExceeded, start, $"footer of at most {TraceFormat.HeaderKeysMax} keys", $"{keys} keys", Ctx);
        ulong? events = null, memoryHash = null, eventHash = null;
        long? endTime = null;
        SortedDictionary<TraceEventKind, ulong>? byKind = null;
        for (int i = 0; i < keys; i++)
        {
            if (!r.TryReadString(out string? key)) return FailCodec(Ctx);
            bool ok = key switch
            {
                TraceFormat.KeyEvents => TryReadUInt64(out events),
                TraceFormat.KeyEventsByKind => TryReadCounts(out byKind),
                TraceFormat.KeyMemoryHash => TryReadUInt64(out memoryHash),
                TraceFormat.KeyEventHash => TryReadUInt64(out eventHash),
                TraceFormat.KeyEndTime => TryReadInt64(out endTime),
                _ => r.TrySkip(),
            };
            if (!ok) return Error is not null ? false : FailCodec($"footer key {Quote(key)}");
        }
        if (events is null || byKind is null || memoryHash is null || eventHash is null || endTime is null)
        {
            return Fail(TraceErrorKind.Malformed, start, "footer with events, events_by_kind, memory_hash, event_hash, end_time", "a footer without them", Ctx);
        }
        if (events != EventsRead) return Fail(TraceErrorKind.Inconsistent, start, $"footer event count {EventsRead} (events read)", $"{events}", Ctx);
        for (int k = 0; k < _counts.Length; k++)
        {
            byKind.TryGetValue((TraceEventKind)k, out ulong stated);
            if (stated != _counts[k]) return Fail(TraceErrorKind.Inconsistent, start, $"footer count {_counts[k]} for event kind {(TraceEventKind)k}", $"{stated}", Ctx);
        }
        if (eventHash != EventHash) return Fail(TraceErrorKind.Inconsistent, start, $"footer event hash 0x{EventHash:x16} (events read)", $"0x{eventHash:x16}", Ctx);
        if (endTime < _lastTime) return Fail(TraceErrorKind.Inconsistent, start, $"footer end time at or after the last event's time {_lastTime}", $"{endTime}", Ctx);
        if (_checkpointEvery != 0 && _sinceCheckpoint == _checkpointEvery)
        {
            return Fail(TraceErrorKind.Inconsistent, start, $"a periodic Checkpoint after the last {_checkpointEvery} events (header checkpoint interval)", "the footer", Ctx);
        }
        long endAt = r.Offset;
        if (!r.IsAtEnd())
        {
            if (r.IsFaulted) return FailCodec("end of trace");
            return Fail(TraceErrorKind.Malformed, endAt, "end of stream after the footer", MsgPackReader.Describe(PeekCodeOrZero()), "end of trace");
        }
        Footer = new TraceFooter(events.Value, byKind, memoryHash.Value, eventHash.Value, endTime.Value);
        _stage = Stage.Complete;
        return true;
    }

    private bool TryReadCounts(out SortedDictionary<TraceEventKind, ulong>? counts)
    {
        counts = null;
        MsgPackReader r = _reader;
        long start = r.Offset;
        if (!r.TryReadArrayHeader(out int n)) return false;
        if (n > TraceFormat.KindsMax) return Fail(TraceErrorKind.LimitExceeded, start, $"at most {TraceFormat.KindsMax} kinds", $"{n}", "footer events_by_kind");
        var result = new SortedDictionary<TraceEventKind, ulong>();
        for (int i = 0; i < n; i++)
        {
            long at = r.Offset;
            if (!r.TryReadArrayHeader(out int items)) return false;
            if (items != 2) return Fail(TraceErrorKind.Malformed, at, "[kind, count] pair", $"array of {items} items", "footer events_by_kind");
            if (!r.TryReadUInt64(out ulong kind) || !r.TryReadUInt64(out ulong count)) return false;
            if (kind >= TraceFormat.KindsMax) return Fail(TraceErrorKind.Malformed, at, "event kind in [0, 255]", $"{kind}", "footer events_by_kind");
            if (!result.TryAdd((TraceEventKind)kind, count)) return Fail(TraceErrorKind.Malformed, at, "each kind once", $"kind {kind} again", "footer events_by_kind");
        }
        counts = result;
        return true;
    }
}
