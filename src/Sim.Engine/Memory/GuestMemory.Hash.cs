using System.Numerics;

namespace Sim.Engine.Memory;

/// <summary>Content hashes of the whole memory (traces/README.md §2, §4): the page-wise hash a checkpoint updates
/// from the pages written since the previous one, and the linear hash of format-1 traces.</summary>
public sealed partial class GuestMemory
{
    // The page-wise hash's running state, allocated by the first CheckpointHash: each page's contribution, their
    // exclusive-or, and the pages written since their contribution was computed whose dirty marks a ClearDirty
    // has dropped since (the dirty bitmap belongs to its other users: trace diffs, the KVM dirty log).
    private ulong[][]? _pageHashes;
    private ulong[][]? _hashStale;
    private ulong _pageHashXor;
    private RegionSpec[]? _specs;

    /// <summary>Which hash <see cref="ContentHash()"/> and <see cref="CheckpointHash"/> compute: page-wise
    /// (trace format 2, the default) or linear (a format-1 trace's; a replay sets it from the trace).</summary>
    public MemoryHashScheme HashScheme { get; set; }

    /// <summary>A 64-bit content hash over the layout and every byte in <see cref="HashScheme"/>: stable across
    /// runs, processes and machines (no per-process seeding), so traces can carry it. Computed from the bytes
    /// alone (no cached state): the authority a checkpoint's incremental hash must equal.</summary>
    public ulong ContentHash() => ContentHash(HashScheme);

    /// <summary><see cref="ContentHash()"/> in the given scheme.</summary>
    public ulong ContentHash(MemoryHashScheme scheme)
    {
        if (scheme == MemoryHashScheme.Linear)
            return LinearContentHash();
        ulong xor = 0;
        foreach (MemoryRegion r in _regions)
            xor ^= PageHash.XorOfPages(r.Base, r.Bytes);
        return PageHash.Combine(Specs, xor);
    }

    /// <summary>The same value as <see cref="ContentHash()"/>, for the periodic checkpoints: in the page-wise
    /// scheme only the pages written since the previous call (dirty, or dirty before a
    /// <see cref="ClearDirty"/>) are rehashed. Writes through <see cref="TryGetSpan"/> must be followed by
    /// <see cref="MarkDirty"/>, as for every other user of the dirty marks.</summary>
    public ulong CheckpointHash()
    {
        if (HashScheme == MemoryHashScheme.Linear)
            return LinearContentHash();
        if (_pageHashes is null || _hashStale is null)
        {
            InitPageHashes();
            return PageHash.Combine(Specs, _pageHashXor);
        }
        ulong xor = _pageHashXor;
        for (int r = 0; r < _regions.Length; r++)
        {
            ulong[] dirty = _dirty[r],
                stale = _hashStale[r],
                hashes = _pageHashes[r];
            byte[] bytes = _regions[r].Bytes;
            ulong baseAddress = _regions[r].Base;
            for (int w = 0; w < dirty.Length; w++)
            {
                ulong word = dirty[w] | stale[w];
                stale[w] = 0;
                while (word != 0)
                {
                    int page = (w << 6) + BitOperations.TrailingZeroCount(word);
                    word &= word - 1;
                    int offset = page * PageSize;
                    ulong now = PageHash.OfPage(
                        baseAddress + checked((ulong)offset),
                        bytes.AsSpan(offset, Math.Min(PageSize, bytes.Length - offset))
                    );
                    xor ^= hashes[page] ^ now;
                    hashes[page] = now;
                }
            }
        }
        _pageHashXor = xor;
        return PageHash.Combine(Specs, xor);
    }

    private RegionSpec[] Specs => _specs ??= [.. _regions.Select(r => new RegionSpec(r.Base, r.Size))];

    /// <summary>Every page's contribution from the bytes; nothing is stale after it.</summary>
    private void InitPageHashes()
    {
        _pageHashes = new ulong[_regions.Length][];
        _hashStale = new ulong[_regions.Length][];
        ulong xor = 0;
        for (int r = 0; r < _regions.Length; r++)
        {
            byte[] bytes = _regions[r].Bytes;
            var hashes = new ulong[(bytes.Length + PageSize - 1) / PageSize];
            for (int page = 0; page < hashes.Length; page++)
            {
                int offset = page * PageSize;
                hashes[page] = PageHash.OfPage(
                    _regions[r].Base + checked((ulong)offset),
                    bytes.AsSpan(offset, Math.Min(PageSize, bytes.Length - offset))
                );
                xor ^= hashes[page];
            }
            _pageHashes[r] = hashes;
            _hashStale[r] = new ulong[_dirty[r].Length];
        }
        _pageHashXor = xor;
    }

    /// <summary>Before <see cref="ClearDirty"/> drops region <paramref name="region"/>'s dirty marks: keeps them as
    /// pages whose contribution to the checkpoint hash is stale (once the page-wise state exists).</summary>
    private void SaveStalePages(int region, ulong[] dirty)
    {
        if (_hashStale is null)
            return;
        ulong[] stale = _hashStale[region];
        for (int w = 0; w < dirty.Length; w++)
            stale[w] |= dirty[w];
    }

    /// <summary>The format-1 hash: one <see cref="StableHash64"/> chain over each region's base, size and
    /// bytes.</summary>
    private ulong LinearContentHash()
    {
        var hasher = new StableHash64();
        foreach (MemoryRegion r in _regions)
        {
            hasher.AddUInt64(r.Base);
            hasher.AddUInt64(r.Size);
            hasher.Add(r.Bytes);
        }
        return hasher.Finish();
    }
}
