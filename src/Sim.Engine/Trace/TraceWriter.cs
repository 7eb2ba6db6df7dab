using System.IO.Compression;
using MessagePack;
using Sim.Engine.Memory;
using Sim.Engine.Trace.Codec;

namespace Sim.Engine.Trace;

/// <summary>
/// Streams a trace (traces/README.md) to a <see cref="Stream"/>: the header and the compressed
/// initial memory at construction, one compact array per <see cref="Write"/>, the footer at
/// <see cref="Complete(TraceFooter)"/>. Nothing but a fixed buffer is held; writing an event
/// allocates nothing. Disposing without completing leaves a truncated trace (no footer), which
/// readers recognise: what a crashed recording looks like.
/// </summary>
public sealed class TraceWriter : ITraceSink, IDisposable
{
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly StreamBufferWriter _buffer;
    private readonly ulong[] _counts = new ulong[TraceFormat.KindsMax];
    private TraceEventHash _hash = new();
    private long _lastTime;
    private bool _completed;
    private bool _disposed;

    /// <summary>Starts a trace on <paramref name="stream"/>: writes <paramref name="header"/> and the memory image of
    /// <paramref name="initialMemory"/>.</summary>
    public TraceWriter(Stream stream, TraceHeader header, GuestMemory initialMemory, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(initialMemory);
        if (!header.MemoryLayout.Regions.SequenceEqual(initialMemory.Layout.Regions))
        {
            throw new ArgumentException(
                "the header's memory layout differs from the initial memory's layout",
                nameof(header)
            );
        }
        if (header.CheckpointIntervalEvents < 0)
        {
            throw new ArgumentException(
                "the checkpoint interval is an event count and cannot be negative",
                nameof(header)
            );
        }
        if (header.Origin == TraceOrigin.Kvm && header.Host is null)
        {
            throw new ArgumentException("a KVM trace needs its host", nameof(header));
        }
        _stream = stream;
        _leaveOpen = leaveOpen;
        _buffer = new StreamBufferWriter(stream);
        WriteHeader(header);
        WriteMemory(initialMemory);
        FlushToStream();
    }

    /// <summary>Events written so far.</summary>
    public ulong EventCount { get; private set; }

    /// <summary>Running <see cref="TraceEventHash"/> of the events written so far.</summary>
    public ulong EventHash => _hash.Value;

    /// <summary>Time of the last event written (0 before any).</summary>
    public long LastTime => _lastTime;

    /// <summary>Bytes of trace produced so far (including any still buffered).</summary>
    public long BytesWritten => _buffer.BytesWritten;

    /// <summary>Events written so far of <paramref name="kind"/>.</summary>
    public ulong CountOf(TraceEventKind kind) => _counts[(byte)kind];

    /// <summary>Appends [kind, time delta, source, address, value, data]. The delta is taken modulo
    /// 2^64 (two's complement) so any sequence of times round-trips exactly.</summary>
    public void Write(in TraceEvent ev)
    {
        ThrowIfClosed();
        if (ev.Data.Length > TraceFormat.EventDataBytesMax)
        {
            throw new ArgumentException(
                $"event data of {ev.Data.Length} bytes exceeds {TraceFormat.EventDataBytesMax}; split the access",
                nameof(ev)
            );
        }
        // MessagePack-CSharp's writer is a ref struct over the buffer: made per event, flushed (no copy) at the end.
        var w = new MessagePackWriter(_buffer);
        w.WriteArrayHeader(TraceFormat.EventFields);
        w.Write((ulong)ev.Kind);
        w.Write(unchecked(ev.Time - _lastTime));
        w.Write((ulong)ev.Source);
        w.Write(ev.Address);
        w.Write(ev.Value);
        w.Write(ev.Data);
        w.Flush();
        _lastTime = ev.Time;
        _counts[(byte)ev.Kind]++;
        EventCount++;
        _hash.Add(ev);
    }

    /// <summary>The footer for what was written, with the caller's final memory hash and end time.</summary>
    public TraceFooter CreateFooter(ulong memoryHash, long endTime)
    {
        var counts = new SortedDictionary<TraceEventKind, ulong>();
        for (int k = 0; k < _counts.Length; k++)
        {
            if (_counts[k] != 0)
                counts.Add((TraceEventKind)k, _counts[k]);
        }
        return new TraceFooter(EventCount, counts, memoryHash, EventHash, endTime);
    }

    /// <summary>Writes the footer for what was written (see <see cref="CreateFooter"/>) and flushes.</summary>
    public void Complete(ulong memoryHash, long endTime) => Complete(CreateFooter(memoryHash, endTime));

    /// <summary>Writes <paramref name="footer"/> and flushes. Its counts and event hash must be the
    /// ones of the events written (host misuse otherwise: the trace would not verify).</summary>
    public void Complete(TraceFooter footer)
    {
        ArgumentNullException.ThrowIfNull(footer);
        ThrowIfClosed();
        if (footer.EventCount != EventCount || footer.EventHash != EventHash)
        {
            throw new ArgumentException(
                $"footer says {footer.EventCount} events with hash 0x{footer.EventHash:x16}; {EventCount} were "
                    + $"written with hash 0x{EventHash:x16}",
                nameof(footer)
            );
        }
        for (int k = 0; k < _counts.Length; k++)
        {
            footer.CountsByKind.TryGetValue((TraceEventKind)k, out ulong stated);
            if (stated != _counts[k])
                throw new ArgumentException(
                    $"footer says {stated} events of kind {k}; {_counts[k]} were written",
                    nameof(footer)
                );
        }
        if (footer.CountsByKind.Keys.Any(k => (int)k >= _counts.Length))
            throw new ArgumentException("footer counts a kind that does not fit a byte", nameof(footer));

        var w = new MessagePackWriter(_buffer);
        w.WriteMapHeader(5);
        w.Write(TraceFormat.KeyEvents);
        w.Write(footer.EventCount);
        w.Write(TraceFormat.KeyEventsByKind);
        // An array of [kind, count] pairs, not a map with integer keys: msgpack-python's Unpacker
        // rejects non-string map keys by default (strict_map_key=True).
        w.WriteArrayHeader(Narrow.AsUInt32Bits(footer.CountsByKind.Count));
        foreach (KeyValuePair<TraceEventKind, ulong> kv in footer.CountsByKind)
        {
            w.WriteArrayHeader(2);
            w.Write((ulong)kv.Key);
            w.Write(kv.Value);
        }
        w.Write(TraceFormat.KeyMemoryHash);
        w.Write(footer.MemoryHash);
        w.Write(TraceFormat.KeyEventHash);
        w.Write(footer.EventHash);
        w.Write(TraceFormat.KeyEndTime);
        w.Write(footer.EndTime);
        w.Flush();
        _completed = true;
        FlushToStream();
    }

    /// <summary>Pushes buffered bytes to the stream (and flushes the stream).</summary>
    public void Flush()
    {
        if (_disposed)
            return;
        FlushToStream();
    }

    private void FlushToStream()
    {
        _buffer.Flush();
        _stream.Flush();
    }

    private void ThrowIfClosed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
            throw new InvalidOperationException("the trace is complete; no more events may be written");
    }

    /// <summary>Flushes what is buffered and closes the stream unless it was to be left open. Without a
    /// <see cref="Complete(TraceFooter)"/> first there is no footer, so the trace reads as truncated.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        FlushToStream();
        _disposed = true;
        if (!_leaveOpen)
            _stream.Dispose();
    }

    private void WriteHeader(TraceHeader h)
    {
        var w = new MessagePackWriter(_buffer);
        w.WriteMapHeader(12);
        w.Write(TraceFormat.KeyFormat);
        w.Write(TraceFormat.FormatName);
        w.Write(TraceFormat.KeyFormatVersion);
        w.Write(TraceFormat.FormatVersion);
        w.Write(TraceFormat.KeyVirtsimVersion);
        w.Write(h.VirtsimVersion);
        w.Write(TraceFormat.KeyGitCommit);
        w.Write(h.GitCommit);
        w.Write(TraceFormat.KeySeed);
        w.Write(h.Seed);
        w.Write(TraceFormat.KeyScenario);
        w.Write(h.Scenario);
        w.Write(TraceFormat.KeyOptions);
        WriteStringMap(ref w, h.Options);
        w.Write(TraceFormat.KeyOrigin);
        w.Write(h.Origin == TraceOrigin.Kvm ? TraceFormat.OriginKvm : TraceFormat.OriginSimulated);
        w.Write(TraceFormat.KeyHost);
        if (h.Host is { } host)
        {
            w.WriteMapHeader(host.CpuModel.Length == 0 ? 3u : 4u);
            w.Write(TraceFormat.KeyKernelRelease);
            w.Write(host.KernelRelease);
            w.Write(TraceFormat.KeyKvmApiVersion);
            w.Write(host.KvmApiVersion);
            w.Write(TraceFormat.KeyKvmFlavour);
            w.Write(host.KvmFlavour);
            if (host.CpuModel.Length != 0)
            {
                w.Write(TraceFormat.KeyCpuModel);
                w.Write(host.CpuModel);
            }
        }
        else
        {
            w.WriteNil();
        }
        w.Write(TraceFormat.KeyDevices);
        WriteStringMap(ref w, h.Devices);
        w.Write(TraceFormat.KeyMemoryLayout);
        w.WriteArrayHeader(Narrow.AsUInt32Bits(h.MemoryLayout.Regions.Count));
        foreach (RegionSpec r in h.MemoryLayout.Regions.OrderBy(r => r.Base))
        {
            w.WriteArrayHeader(2);
            w.Write(r.Base);
            w.Write(r.Size);
        }
        w.Write(TraceFormat.KeyCheckpointInterval);
        w.Write(Narrow.AsUInt64Bits(h.CheckpointIntervalEvents));
        w.Flush();
        if (_buffer.BytesWritten > TraceFormat.HeaderBytesMax)
            throw new ArgumentException(
                $"the header encodes to more than {TraceFormat.HeaderBytesMax} bytes",
                nameof(h)
            );
    }

    private static void WriteStringMap(ref MessagePackWriter w, SortedDictionary<string, string> map)
    {
        if (map.Count > TraceFormat.OptionsMax)
            throw new ArgumentException($"more than {TraceFormat.OptionsMax} entries in a header map", nameof(map));
        // Sorted ordinally regardless of the dictionary's comparer: the same options, the same bytes.
        string[] keys = map.Keys.ToArray();
        Array.Sort(keys, StringComparer.Ordinal);
        w.WriteMapHeader(Narrow.AsUInt32Bits(keys.Length));
        foreach (string key in keys)
        {
            w.Write(key);
            w.Write(map[key]);
        }
    }

    /// <summary>Only non-zero pages, as runs of consecutive pages of at most
    /// <see cref="TraceFormat.ChunkBytesMax"/> bytes inside one region, each a separate zlib stream.</summary>
    private void WriteMemory(GuestMemory memory)
    {
        var chunks = new List<(int Region, int Offset, int Length)>();
        IReadOnlyList<MemoryRegion> regions = memory.Regions;
        for (int r = 0; r < regions.Count; r++)
        {
            ReadOnlySpan<byte> bytes = regions[r].Contents;
            int runStart = -1;
            for (int offset = 0; offset < bytes.Length; offset += GuestMemory.PageSize)
            {
                int pageLength = Math.Min(GuestMemory.PageSize, bytes.Length - offset);
                bool nonZero = bytes.Slice(offset, pageLength).ContainsAnyExcept((byte)0);
                if (nonZero && runStart < 0)
                    runStart = offset;
                if (runStart >= 0 && (!nonZero || offset + pageLength - runStart > TraceFormat.ChunkBytesMax))
                {
                    chunks.Add((r, runStart, offset - runStart));
                    runStart = nonZero ? offset : -1;
                }
            }
            if (runStart >= 0)
                chunks.Add((r, runStart, bytes.Length - runStart));
        }

        var w = new MessagePackWriter(_buffer);
        w.WriteMapHeader(4);
        w.Write(TraceFormat.KeyCompression);
        w.Write(TraceFormat.CompressionZlib);
        w.Write(TraceFormat.KeyPageSize);
        w.Write(GuestMemory.PageSize);
        w.Write(TraceFormat.KeyChunks);
        w.Write(Narrow.AsUInt64Bits(chunks.Count));
        w.Write(TraceFormat.KeyContentHash);
        w.Write(memory.ContentHash(MemoryHashScheme.PageWise)); // format 2's scheme, whatever the memory's

        using var compressed = new MemoryStream();
        foreach ((int region, int offset, int length) in chunks)
        {
            compressed.SetLength(0);
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                z.Write(regions[region].Contents.Slice(offset, length));
            }
            w.WriteArrayHeader(TraceFormat.ChunkFields);
            w.Write(regions[region].Base + Narrow.AsUInt64Bits(offset));
            w.Write(Narrow.AsUInt64Bits(length));
            w.Write(compressed.GetBuffer().AsSpan(0, Narrow.LowInt32(compressed.Length)));
        }
        w.Flush();
    }
}
