using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using MessagePack;
using Sim.Engine.Memory;

namespace Sim.Engine.Trace;

/// <summary>The memory map and chunks (traces/README.md §2).</summary>
public sealed partial class TraceReader
{
    private long _chunksLeft;
    private ulong _nextChunkAddress;
    private byte[]? _scratch;
    private RegionSpec[] _regions = [];
    private StableHash64 _memoryHash = new();
    private int _hashRegion;
    private ulong _hashedTo;
    private bool _hashRegionStarted;

    // Format 2's page-wise hash of the chunks so far: zero pages contribute nothing, so only the chunks count.
    private ulong _pageHashXor;

    /// <summary>Zero pages between chunks are hashed from this.</summary>
    private static readonly byte[] ZeroBlock = new byte[TraceFormat.ChunkBytesMax];

    private bool DecodeMemoryMap(ref MessagePackReader r)
    {
        const string Ctx = "memory map";
        long start = _input.Offset;
        if (r.NextMessagePackType != MessagePackType.Map)
            return Fail(TraceErrorKind.Malformed, start, "memory map after the header", Describe(r.NextCode), Ctx);
        int keys = ReadMapHeader(ref r, "memory map");
        if (keys > TraceFormat.HeaderKeysMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                start,
                $"memory map of at most {TraceFormat.HeaderKeysMax} keys",
                $"{keys} keys",
                Ctx
            );
        string? compression = null;
        ulong? pageSize = null,
            chunks = null,
            hash = null;
        for (int i = 0; i < keys; i++)
        {
            string? key = ReadString(ref r, "memory map key (str)", Ctx);
            if (key is null)
                return false;
            string ctx = $"memory map key {Quote(key)}";
            switch (key)
            {
                case TraceFormat.KeyCompression:
                    if ((compression = ReadString(ref r, "compression (str)", ctx)) is null)
                        return false;
                    break;
                case TraceFormat.KeyPageSize:
                    pageSize = ReadUInt64(ref r, "page size (uint)");
                    break;
                case TraceFormat.KeyChunks:
                    chunks = ReadUInt64(ref r, "chunk count (uint)");
                    break;
                case TraceFormat.KeyContentHash:
                    hash = ReadUInt64(ref r, "content hash (uint 64)");
                    break;
                default:
                    if (!TrySkip(ref r, ctx))
                        return false;
                    break;
            }
        }
        if (!TryCheckMemoryMap(start, compression, pageSize, chunks, hash))
            return false;
        _chunksLeft = Narrow.AsInt64Bits(chunks!.Value);
        _regions = [.. Header.MemoryLayout.Regions.OrderBy(s => s.Base)];
        _checkpointEvery = Header.CheckpointIntervalEvents;
        MemoryChunks = _chunksLeft;
        InitialMemoryHash = hash!.Value;
        _stage = Stage.Memory;
        return true;
    }

    /// <summary>The memory map's values: zlib compression, the guest page size, and a chunk count (within
    /// <see cref="TraceFormat.ChunksMax"/>) and content hash both present.</summary>
    private bool TryCheckMemoryMap(long start, string? compression, ulong? pageSize, ulong? chunks, ulong? hash)
    {
        const string Ctx = "memory map";
        if (compression != TraceFormat.CompressionZlib)
            return Fail(
                TraceErrorKind.Unsupported,
                start,
                $"compression {Quote(TraceFormat.CompressionZlib)}",
                compression is null ? "none" : Quote(compression),
                Ctx
            );
        if (pageSize != GuestMemory.PageSize)
            return Fail(
                TraceErrorKind.Unsupported,
                start,
                $"page size {GuestMemory.PageSize}",
                pageSize is null ? "none" : $"{pageSize}",
                Ctx
            );
        if (chunks is null || hash is null)
            return Fail(
                TraceErrorKind.Malformed,
                start,
                "memory map with chunks and content_hash",
                "a map without them",
                Ctx
            );
        if (chunks > (ulong)TraceFormat.ChunksMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                start,
                $"at most {TraceFormat.ChunksMax} chunks",
                $"{chunks}",
                Ctx
            );
        return true;
    }

    /// <summary>Guest memory with the header's layout (all zero) hashing in the trace's scheme, or why the layout is
    /// unusable.
    /// Allocation is bounded by <paramref name="totalBytesMax"/> (at most
    /// <see cref="MemoryLayout.TotalSizeMax"/>): tools that only inspect a trace pass a smaller cap.</summary>
    public bool TryCreateMemory(
        [NotNullWhen(true)] out GuestMemory? memory,
        [NotNullWhen(false)] out TraceError? error,
        ulong totalBytesMax = MemoryLayout.TotalSizeMax
    )
    {
        ulong total = 0;
        foreach (RegionSpec region in Header.MemoryLayout.Regions)
        {
            if (region.Size > totalBytesMax - total)
            {
                memory = null;
                error = new TraceError(
                    TraceErrorKind.LimitExceeded,
                    0,
                    $"byte 0: expected a memory layout of at most {totalBytesMax} bytes, found a larger one (in "
                        + "header key \"memory_layout\")"
                );
                return false;
            }
            total += region.Size;
        }
        if (GuestMemory.TryCreate(Header.MemoryLayout, out memory, out string? why))
        {
            memory.HashScheme = Header.MemoryHashScheme;
            error = null;
            return true;
        }
        error = new TraceError(
            TraceErrorKind.Unsupported,
            0,
            $"byte 0: expected a usable memory layout, found {why} (in header key \"memory_layout\")"
        );
        return false;
    }

    /// <summary>Zeroes <paramref name="target"/> and decompresses the initial pages into it, then
    /// checks the stated content hash and clears its dirty marks. <paramref name="target"/> must have
    /// the header's layout (see <see cref="TryCreateMemory"/>). Call before <see cref="TryReadNext"/>.</summary>
    public bool TryReadInitialMemory(GuestMemory target, [NotNullWhen(false)] out TraceError? error)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (_stage == Stage.Failed)
        {
            error = Error!;
            return false;
        }
        if (_stage != Stage.Memory || _chunksLeft != MemoryChunks)
            throw new InvalidOperationException("the initial memory can be read once, before the first event");
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
        _chunkTarget = target;
        while (_chunksLeft > 0)
        {
            if (
                !TryDecode(
                    DecodeChunk,
                    TraceFormat.ChunkCompressedBytesMax + 64,
                    $"memory chunk {MemoryChunks - _chunksLeft}"
                )
            )
                return false;
        }
        ulong actual;
        if (Header.MemoryHashScheme == MemoryHashScheme.PageWise)
        {
            actual = PageHash.Combine(_regions, _pageHashXor);
        }
        else
        {
            HashZerosUpTo(_regions.Length, 0);
            actual = _memoryHash.Finish();
        }
        if (actual != InitialMemoryHash)
        {
            return Fail(
                TraceErrorKind.Inconsistent,
                _input.Offset,
                $"initial memory with content hash 0x{InitialMemoryHash:x16} (the memory map's content_hash)",
                $"0x{actual:x16}",
                "memory chunks"
            );
        }
        return true;
    }

    private GuestMemory? _chunkTarget;

    /// <summary>One [address, length, zlib bin] chunk, inflated into the target memory or the scratch run.</summary>
    private bool DecodeChunk(ref MessagePackReader r)
    {
        string ctx = $"memory chunk {MemoryChunks - _chunksLeft}";
        long start = _input.Offset;
        if (r.NextMessagePackType != MessagePackType.Array)
            return Fail(
                TraceErrorKind.Malformed,
                start,
                $"memory chunk array of {TraceFormat.ChunkFields} items",
                Describe(r.NextCode),
                ctx
            );
        if (!TryReadChunkPlace(ref r, start, ctx, out ulong address, out ulong length, out int region))
            return false;
        long binAt = At(ref r);
        long compressedLength = BinLength(_input.Span, (int)r.Consumed, out int headerBytes);
        if (compressedLength > TraceFormat.ChunkCompressedBytesMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                binAt,
                $"compressed chunk of at most {TraceFormat.ChunkCompressedBytesMax} bytes",
                $"{compressedLength} bytes",
                ctx
            );
        Mark(ref r, "chunk data (bin)");
        if (compressedLength == NotBin)
            throw new MessagePackSerializationException("not a bin");
        ReadOnlySequence<byte> compressed = r.ReadBytes()
            ?? throw new MessagePackSerializationException("nil, not a bin");
        long dataAt = binAt + headerBytes;
        Span<byte> destination;
        if (_chunkTarget is null)
        {
            _scratch ??= new byte[TraceFormat.ChunkBytesMax];
            destination = _scratch.AsSpan(0, Narrow.LowInt32(length));
        }
        else if (!_chunkTarget.TryGetSpan(new GuestAddress(address), length, out destination))
        {
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                "chunk inside the memory layout",
                $"chunk at 0x{address:x} of {length} bytes",
                ctx
            );
        }
        if (
            !ZlibChunkInflater.TryInflate(
                compressed.First,
                destination,
                out string expected,
                out string found,
                out int at
            )
        )
        {
            return Fail(TraceErrorKind.Malformed, dataAt + at, expected, found, ctx);
        }
        HashChunk(region, address, length, destination);
        _nextChunkAddress = address + length;
        _chunksLeft--;
        return true;
    }

    /// <summary>A chunk's array header, address and length: a length within <see cref="TraceFormat.ChunkBytesMax"/>,
    /// chunks ascending and not overlapping, each inside one region of the layout (its index in
    /// <paramref name="region"/>).</summary>
    private bool TryReadChunkPlace(
        ref MessagePackReader r,
        long start,
        string ctx,
        out ulong address,
        out ulong length,
        out int region
    )
    {
        address = 0;
        length = 0;
        region = -1;
        int items = ReadArrayHeader(ref r, "memory chunk array");
        if (items != TraceFormat.ChunkFields)
            return Fail(
                TraceErrorKind.Malformed,
                start,
                $"memory chunk array of {TraceFormat.ChunkFields} items",
                $"array of {items} items",
                ctx
            );
        address = ReadUInt64(ref r, "chunk address (uint 64)");
        long lengthAt = At(ref r);
        length = ReadUInt64(ref r, "chunk length (uint)");
        if (length == 0 || length > TraceFormat.ChunkBytesMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                lengthAt,
                $"chunk length in [1, {TraceFormat.ChunkBytesMax}]",
                $"{length}",
                ctx
            );
        if (address < _nextChunkAddress || address > ulong.MaxValue - length)
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                $"chunk at or after 0x{_nextChunkAddress:x} (ascending, not overlapping)",
                $"chunk at 0x{address:x}",
                ctx
            );
        if (!TryLocateChunk(address, length, out region))
        {
            return Fail(
                TraceErrorKind.Inconsistent,
                start,
                "chunk inside the memory layout, starting on a page of its region and ending on one or at the "
                    + "region's end",
                $"chunk at 0x{address:x} of {length} bytes",
                ctx
            );
        }
        return true;
    }

    /// <summary>Adds an inflated chunk to the running hash of the initial memory: its pages (format 2), or the
    /// zeros before it and its bytes (format 1).</summary>
    private void HashChunk(int region, ulong address, ulong length, ReadOnlySpan<byte> data)
    {
        if (Header.MemoryHashScheme == MemoryHashScheme.PageWise)
        {
            // A chunk starts on a page of its region (TryLocateChunk), so its pages are the memory's pages.
            _pageHashXor ^= PageHash.XorOfPages(address, data);
        }
        else
        {
            HashZerosUpTo(region, address - _regions[region].Base);
            _memoryHash.Add(data);
            _hashedTo += length;
        }
    }

    /// <summary>The region holding all of [address, address + length), with the chunk starting on a page
    /// boundary of the region and ending on one or at the region's end (traces/README.md §2).</summary>
    private bool TryLocateChunk(ulong address, ulong length, out int region)
    {
        for (region = 0; region < _regions.Length; region++)
        {
            RegionSpec s = _regions[region];
            if (address < s.Base || address - s.Base >= s.Size)
                continue;
            ulong offset = address - s.Base;
            return length <= s.Size - offset
                && offset % GuestMemory.PageSize == 0
                && (length % GuestMemory.PageSize == 0 || length == s.Size - offset);
        }
        return false;
    }

    /// <summary>Format 1: feeds the linear <see cref="GuestMemory.ContentHash()"/>'s words and zero bytes up to
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
        if (_hashRegionStarted)
            return;
        _memoryHash.AddUInt64(_regions[_hashRegion].Base);
        _memoryHash.AddUInt64(_regions[_hashRegion].Size);
        _hashRegionStarted = true;
    }

    /// <summary>Zero bytes in blocks of a multiple of 8, so the hash's word boundaries stay those of one long
    /// span.</summary>
    private void HashZeros(ulong count)
    {
        while (count > 0)
        {
            int n = Narrow.LowInt32(Math.Min(count, Narrow.AsUInt64Bits(ZeroBlock.Length)));
            _memoryHash.Add(ZeroBlock.AsSpan(0, n));
            count -= checked((ulong)n);
        }
    }
}
