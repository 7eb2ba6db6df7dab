using System.Buffers;
using System.IO.Compression;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Engine.Trace.Codec;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.Trace;

/// <summary>Hostile traces: the reader returns a <see cref="TraceError"/> with an offset, never
/// another exception, never hangs, never allocates by a declared length.</summary>
public sealed class TraceRobustnessTests(ITestOutputHelper output)
{
    private static readonly MemoryLayout SmallLayout = new([new RegionSpec(0x10000, 8 * 4096)]);

    /// <summary>Header (and an empty memory map, cut off) of a trace over <see cref="SmallLayout"/>, then whatever
    /// <paramref name="rest"/> writes.</summary>
    private static byte[] HandMade(Action<Packer> rest)
    {
        Assert.True(GuestMemory.TryCreate(SmallLayout, out GuestMemory? zero, out _));
        byte[] prefix = TraceSamples.Write(TraceSamples.Header(SmallLayout), zero, [], complete: false);
        byte[] emptyMap = Encode(w => WriteMemoryMap(w, 0, zero.ContentHash()));
        Assert.True(prefix.AsSpan().EndsWith(emptyMap));
        return [.. prefix.AsSpan(0, prefix.Length - emptyMap.Length), .. Encode(rest)];
    }

    private static byte[] Encode(Action<Packer> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new Packer(buffer);
        write(w);
        Packer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteMemoryMap(Packer w, ulong chunks, ulong hash)
    {
        w.WriteMapHeader(4);
        w.Write("compression");
        w.Write("zlib");
        w.Write("page_size");
        w.Write(4096);
        w.Write("chunks");
        w.Write(chunks);
        w.Write("content_hash");
        w.Write(hash);
    }

    private static byte[] Zlib(byte[] data)
    {
        var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            z.Write(data);
        return ms.ToArray();
    }

    private static void WriteChunk(Packer w, ulong address, ulong length, byte[] compressed)
    {
        w.WriteArrayHeader(3);
        w.Write(address);
        w.Write(length);
        w.Write(compressed.AsSpan());
    }

    private static TraceError ReadError(byte[] bytes)
    {
        var (_, footer, error, _) = TraceSamples.ReadAll(bytes);
        Assert.Null(footer);
        Assert.NotNull(error);
        Assert.InRange(error.Offset, 0, bytes.Length);
        Assert.StartsWith($"byte {error.Offset}: expected ", error.Message, StringComparison.Ordinal);
        return error;
    }

    [Fact]
    public void EveryPrefix_IsAnErrorNeverComplete()
    {
        byte[] bytes = TraceSamples.Sample(20);
        Assert.NotNull(TraceSamples.ReadAll(bytes).Footer);
        for (int n = 0; n < bytes.Length; n++)
        {
            // Alternate between loading the initial memory and skipping it: both paths see every cut.
            var (_, footer, error, _) = TraceSamples.ReadAll(bytes[..n], loadMemory: n % 2 == 0);
            Assert.Null(footer);
            Assert.NotNull(error);
            Assert.Equal(TraceErrorKind.Truncated, error.Kind);
        }
    }

    [Fact]
    public void MissingFooter_IsTruncatedAfterAllEvents()
    {
        byte[] bytes = TraceSamples.Sample(30, complete: false);
        var (events, footer, error, _) = TraceSamples.ReadAll(bytes);
        Assert.Equal(30, events.Count);
        Assert.Null(footer);
        Assert.Equal(TraceErrorKind.Truncated, error!.Kind);
        Assert.Equal(bytes.Length, error.Offset);
        Assert.Contains("truncated (no footer)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TrailingBytesAfterFooter_AreMalformed()
    {
        byte[] bytes = [.. TraceSamples.Sample(3), 0xc0];
        TraceError e = ReadError(bytes);
        Assert.Equal(TraceErrorKind.Malformed, e.Kind);
        Assert.Equal(bytes.Length - 1, e.Offset);
    }

    [Fact]
    public void Bin32Of4GiB_InTenByteFile_IsACleanError()
    {
        byte[] bytes = [0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5];
        long before = GC.GetAllocatedBytesForCurrentThread();
        TraceError e = ReadError(bytes);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 256 * 1024);
        Assert.Equal(
            "byte 0: expected header map (a virtsim trace starts with one), found bin (0xc6) (in header)",
            e.Message
        );
    }

    [Fact]
    public void EventDataBin32Of4GiB_IsALimitErrorWithoutAllocation()
    {
        byte[] bytes = HandMade(w =>
        {
            WriteMemoryMap(w, 0, ZeroHash());
            w.WriteArrayHeader(6);
            w.Write(1);
            w.Write(0);
            w.Write(0);
            w.Write(0);
            w.Write(0);
            w.WriteRaw([0xc6, 0xff, 0xff, 0xff, 0xff]); // bin 32 of 4 GiB - 1
        });
        long before = GC.GetAllocatedBytesForCurrentThread();
        TraceError e = ReadError(bytes);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 512 * 1024);
        Assert.Equal(TraceErrorKind.LimitExceeded, e.Kind);
        Assert.Contains("in event 0", e.Message, StringComparison.Ordinal);
    }

    private static ulong ZeroHash()
    {
        Assert.True(GuestMemory.TryCreate(SmallLayout, out GuestMemory? zero, out _));
        return zero.ContentHash();
    }

    [Fact]
    public void EventArrayOfWrongShape_SaysSo()
    {
        byte[] bytes = HandMade(w =>
        {
            WriteMemoryMap(w, 0, ZeroHash());
            w.WriteArrayHeader(5);
        });
        TraceError e = ReadError(bytes);
        Assert.Equal(TraceErrorKind.Malformed, e.Kind);
        Assert.Contains(
            "expected event array of 6 items, found array of 5 items (in event 0)",
            e.Message,
            StringComparison.Ordinal
        );
        TraceError e2 = ReadError(
            HandMade(w =>
            {
                WriteMemoryMap(w, 0, ZeroHash());
                w.Write("hello");
            })
        );
        Assert.Contains(
            "expected event array or footer map, found fixstr (0xa5)",
            e2.Message,
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void FooterDisagreeingWithEvents_IsInconsistent()
    {
        byte[] bytes = HandMade(w =>
        {
            WriteMemoryMap(w, 0, ZeroHash());
            w.WriteArrayHeader(6);
            w.Write(10);
            w.Write(5);
            w.Write(0);
            w.Write(0);
            w.Write(1);
            w.Write(ReadOnlySpan<byte>.Empty);
            w.WriteMapHeader(5);
            w.Write("events");
            w.Write(2);
            w.Write("events_by_kind");
            w.WriteArrayHeader(1);
            w.WriteArrayHeader(2);
            w.Write(10);
            w.Write(2);
            w.Write("memory_hash");
            w.Write(0);
            w.Write("event_hash");
            w.Write(0);
            w.Write("end_time");
            w.Write(5);
        });
        var (events, footer, error, _) = TraceSamples.ReadAll(bytes);
        Assert.Single(events);
        Assert.Null(footer);
        Assert.Equal(TraceErrorKind.Inconsistent, error!.Kind);
        Assert.Contains("footer event count 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChunkOutsideLayout_IsInconsistent()
    {
        byte[] page = new byte[4096];
        page[0] = 1;
        TraceError e = ReadError(
            HandMade(w =>
            {
                WriteMemoryMap(w, 1, 0);
                WriteChunk(w, 0x10000 + (8 * 4096), 4096, Zlib(page));
            })
        );
        Assert.Equal(TraceErrorKind.Inconsistent, e.Kind);
        Assert.Contains("chunk inside the memory layout", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChunksOutOfOrder_AreInconsistent()
    {
        byte[] page = new byte[4096];
        page[0] = 1;
        TraceError e = ReadError(
            HandMade(w =>
            {
                WriteMemoryMap(w, 2, 0);
                WriteChunk(w, 0x12000, 4096, Zlib(page));
                WriteChunk(w, 0x11000, 4096, Zlib(page));
            })
        );
        Assert.Equal(TraceErrorKind.Inconsistent, e.Kind);
    }

    [Fact]
    public void ChunkInflatingBeyondItsLength_IsMalformed_AndWritesNoMore()
    {
        // A decompression bomb: 64 KiB of zeros compress to ~100 bytes but the chunk declares one page.
        byte[] bomb = Zlib(new byte[TraceFormat.ChunkBytesMax]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        TraceError e = ReadError(
            HandMade(w =>
            {
                WriteMemoryMap(w, 1, 0);
                WriteChunk(w, 0x10000, 4096, bomb);
            })
        );
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 2 * 1024 * 1024);
        Assert.Equal(TraceErrorKind.Malformed, e.Kind);
        Assert.Contains("found more bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChunkInflatingShort_OrNotZlib_IsMalformed()
    {
        TraceError shortChunk = ReadError(
            HandMade(w =>
            {
                WriteMemoryMap(w, 1, 0);
                WriteChunk(w, 0x10000, 8192, Zlib(new byte[4096]));
            })
        );
        Assert.Contains("found 4096 bytes", shortChunk.Message, StringComparison.Ordinal);
        TraceError garbage = ReadError(
            HandMade(w =>
            {
                WriteMemoryMap(w, 1, 0);
                WriteChunk(w, 0x10000, 4096, [1, 2, 3, 4, 5, 6, 7, 8]);
            })
        );
        Assert.Equal(TraceErrorKind.Malformed, garbage.Kind);
        Assert.Contains("expected zlib data", garbage.Message, StringComparison.Ordinal);
    }

    /// <summary>One page of <see cref="SmallLayout"/>'s first page with a few non-zero bytes, and the content hash of
    /// the memory holding it.</summary>
    private static (byte[] Page, ulong Hash) OnePage()
    {
        byte[] page = new byte[4096];
        for (int i = 0; i < page.Length; i += 7)
            page[i] = (byte)(i * 13 + 1);
        Assert.True(GuestMemory.TryCreate(SmallLayout, out GuestMemory? m, out _));
        using (m.As(MemoryActor.Host))
            Assert.True(m.TryWrite(new GuestAddress(0x10000), page));
        return (page, m.ContentHash());
    }

    /// <summary>A memory image whose one chunk is corrupted as named; the expected message part.</summary>
    public static TheoryData<string, string> CorruptImages =>
        new()
        {
            { "bad-zlib", "expected zlib data" },
            { "bad-zlib-header", "RFC 1950 header" },
            { "bomb", "found more bytes (a decompression bomb)" },
            { "short-stream", "found 4096 bytes (a short stream)" },
            { "cut-stream", "a cut-short stream" },
            { "trailing-bytes", "found 3 trailing bytes" },
            { "bad-adler", "expected zlib data" },
            { "outside-layout", "chunk inside the memory layout" },
            { "unaligned", "starting on a page of its region" },
            { "wrong-hash", "initial memory with content hash" },
        };

    private static byte[] CorruptImage(string corruption)
    {
        (byte[] page, ulong hash) = OnePage();
        byte[] z = Zlib(page);
        (ulong address, ulong length, byte[] data, ulong stated) = corruption switch
        {
            "bad-zlib" => (0x10000UL, 4096UL, [.. z[..2], .. Enumerable.Repeat((byte)0xff, 40)], hash),
            "bad-zlib-header" => (0x10000UL, 4096UL, [0x78, 0x9d, .. z[2..]], hash),
            "bomb" => (0x10000UL, 4096UL, Zlib([.. page, .. page]), hash),
            "short-stream" => (0x10000UL, 8192UL, z, hash),
            "cut-stream" => (0x10000UL, 4096UL, z[..^2], hash),
            "trailing-bytes" => (0x10000UL, 4096UL, [.. z, 0, 0, 0], hash),
            "bad-adler" => (0x10000UL, 4096UL, [.. z[..^1], (byte)(z[^1] ^ 1)], hash),
            "outside-layout" => (0x10000UL + (8 * 4096), 4096UL, z, hash),
            "unaligned" => (0x10010UL, 4096UL, z, hash),
            "wrong-hash" => (0x10000UL, 4096UL, z, hash ^ 1),
            _ => throw new ArgumentException(corruption, nameof(corruption)),
        };
        return HandMade(w =>
        {
            WriteMemoryMap(w, 1, stated);
            WriteChunk(w, address, length, data);
        });
    }

    /// <summary>Every reader rejects a corrupt memory image, whether it loads the memory (replay) or only
    /// passes over it (show): same kind, same offset, same message.</summary>
    [Theory]
    [MemberData(nameof(CorruptImages))]
    public void CorruptMemoryImage_IsAnError_WhetherLoadedOrSkipped(string corruption, string says)
    {
        byte[] bytes = CorruptImage(corruption);
        TraceError loaded = ReadError(bytes);
        var (_, footer, skipped, _) = TraceSamples.ReadAll(bytes, loadMemory: false);
        Assert.Null(footer);
        Assert.NotNull(skipped);
        output.WriteLine($"{corruption}: {loaded.Message}");
        Assert.Contains(says, loaded.Message, StringComparison.Ordinal);
        Assert.Equal(loaded.Kind, skipped.Kind);
        Assert.Equal(loaded.Offset, skipped.Offset);
        Assert.Equal(loaded.Message, skipped.Message);
        Assert.NotEqual(TraceErrorKind.Truncated, loaded.Kind);
    }

    [Fact]
    public void TheUncorruptedImage_Loads_AndIsVerifiedWhenSkipped()
    {
        (byte[] page, ulong hash) = OnePage();
        byte[] bytes = HandMade(w =>
        {
            WriteMemoryMap(w, 1, hash);
            WriteChunk(w, 0x10000, 4096, Zlib(page));
            w.WriteMapHeader(5);
            w.Write("events");
            w.Write(0);
            w.Write("events_by_kind");
            w.WriteArrayHeader(0);
            w.Write("memory_hash");
            w.Write(hash);
            w.Write("event_hash");
            w.Write(new TraceEventHash().Value);
            w.Write("end_time");
            w.Write(0);
        });
        Assert.NotNull(TraceSamples.ReadAll(bytes).Footer);
        Assert.NotNull(TraceSamples.ReadAll(bytes, loadMemory: false).Footer);
    }

    [Fact]
    public void TrailingBytesInAChunk_AreReportedAtTheirOffset()
    {
        (byte[] page, ulong hash) = OnePage();
        byte[] z = Zlib(page);
        byte[] bytes = HandMade(w =>
        {
            WriteMemoryMap(w, 1, hash);
            WriteChunk(w, 0x10000, 4096, [.. z, 0xAA]);
        });
        TraceError e = ReadError(bytes);
        // The trailing byte is the file's last byte.
        Assert.Equal(bytes.Length - 1, e.Offset);
    }

    [Fact]
    public void FooterEndTimeBeforeTheLastEvent_IsInconsistent()
    {
        byte[] bytes = HandMade(w =>
        {
            WriteMemoryMap(w, 0, ZeroHash());
            w.WriteArrayHeader(6);
            w.Write(10);
            w.Write(500);
            w.Write(0);
            w.Write(0);
            w.Write(1);
            w.Write(ReadOnlySpan<byte>.Empty);
            var hash = new TraceEventHash();
            hash.Add(new TraceEvent((TraceEventKind)10, 500, 0, 0, 1, default));
            w.WriteMapHeader(5);
            w.Write("events");
            w.Write(1);
            w.Write("events_by_kind");
            w.WriteArrayHeader(1);
            w.WriteArrayHeader(2);
            w.Write(10);
            w.Write(1);
            w.Write("memory_hash");
            w.Write(0);
            w.Write("event_hash");
            w.Write(hash.Value);
            w.Write("end_time");
            w.Write(499);
        });
        TraceError e = ReadError(bytes);
        Assert.Equal(TraceErrorKind.Inconsistent, e.Kind);
        Assert.Contains(
            "footer end time at or after the last event's time 500, found 499",
            e.Message,
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void HugeChunkCount_IsALimitError()
    {
        TraceError e = ReadError(HandMade(w => WriteMemoryMap(w, 1UL << 40, 0)));
        Assert.Equal(TraceErrorKind.LimitExceeded, e.Kind);
    }

    [Fact]
    public void MemoryHashMismatch_IsInconsistent()
    {
        byte[] page = new byte[4096];
        page[7] = 9;
        TraceError e = ReadError(
            HandMade(w =>
            {
                WriteMemoryMap(w, 1, 12345);
                WriteChunk(w, 0x10000, 4096, Zlib(page));
            })
        );
        Assert.Equal(TraceErrorKind.Inconsistent, e.Kind);
        Assert.Contains("content hash", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongFormatOrVersion_IsRejected()
    {
        byte[] notOurs = Encode(w =>
        {
            w.WriteMapHeader(1);
            w.Write("format");
            w.Write("something-else");
        });
        Assert.Contains(
            "expected format \"virtsim-trace\", found \"something-else\"",
            ReadError(notOurs).Message,
            StringComparison.Ordinal
        );
        foreach (int unknown in new[] { 0, 3 })
        {
            byte[] other = Encode(w =>
            {
                w.WriteMapHeader(2);
                w.Write("format");
                w.Write("virtsim-trace");
                w.Write("format_version");
                w.Write(unknown);
            });
            Assert.Equal(TraceErrorKind.Unsupported, ReadError(other).Kind);
        }
        byte[] missing = Encode(w =>
        {
            w.WriteMapHeader(2);
            w.Write("format");
            w.Write("virtsim-trace");
            w.Write("format_version");
            w.Write(2);
        });
        Assert.Contains(
            "expected header key \"virtsim_version\"",
            ReadError(missing).Message,
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void UnknownHeaderKeys_AreSkipped()
    {
        byte[] sample = TraceSamples.Sample(2);
        // Bump the header's map size by one and append an unknown key after its first entry.
        Assert.Equal(0x8c, sample[0]);
        byte[] extra = Encode(w =>
        {
            w.Write("future_key");
            w.WriteArrayHeader(2);
            w.WriteMapHeader(1);
            w.Write("x");
            w.WriteNil();
            w.Write(1.5);
        });
        int afterFirst =
            1
            + Encode(w =>
            {
                w.Write("format");
                w.Write("virtsim-trace");
            }).Length;
        byte[] patched = [0x8d, .. sample.AsSpan(1, afterFirst - 1), .. extra, .. sample.AsSpan(afterFirst)];
        var (events, footer, error, _) = TraceSamples.ReadAll(patched);
        Assert.Null(error);
        Assert.NotNull(footer);
        Assert.Equal(2, events.Count);
    }

    private static readonly Gen<(int Op, int Position, int Value)[]> Mutations = Gen.Choose(1, 4)
        .SelectMany(n =>
            Gen.ArrayOf(
                from op in Gen.Choose(0, 3)
                from position in Gen.Choose(0, int.MaxValue)
                from value in Gen.Choose(0, 255)
                select (op, position, value),
                n
            )
        );

    private static byte[] Mutate(byte[] bytes, (int Op, int Position, int Value)[] mutations)
    {
        var list = bytes.ToList();
        foreach ((int op, int position, int value) in mutations)
        {
            if (list.Count == 0)
                break;
            int at = position % list.Count;
            switch (op)
            {
                case 0:
                    list[at] = (byte)value;
                    break;
                case 1:
                    list.Insert(at, (byte)value);
                    break;
                case 2:
                    list.RemoveRange(at, Math.Min(1 + (value % 8), list.Count - at));
                    break;
                default:
                    for (int k = at; k < Math.Min(at + 4, list.Count); k++)
                        list[k] = 0xff;
                    break;
            }
        }
        return [.. list];
    }

    /// <summary>Mutated valid traces (byte flips, insertions, deletions, 0xff runs that make huge
    /// lengths): a complete read or a TraceError, nothing else, in bounded steps.</summary>
    [Property(MaxTest = 2000, Replay = "(2060320770,11400714819323198485)")]
    public Property MutatedTraces_OnlyEverYieldTraceErrors()
    {
        byte[] sample = TraceSamples.Sample(12);
        return Prop.ForAll(Arb.From(Mutations), mutations =>
        {
            byte[] bytes = Mutate(sample, mutations);
            var (_, footer, error, _) = TraceSamples.ReadAll(bytes, eventsMax: bytes.Length);
            return (footer is null) != (error is null)
                && (error is null || (error.Offset >= 0 && error.Offset <= bytes.Length));
        });
    }

    /// <summary>A valid header and memory followed by arbitrary bytes, and wholly arbitrary bytes.</summary>
    [Property(MaxTest = 2000, Replay = "(2060320771,11400714819323198485)")]
    public Property ArbitraryBytes_OnlyEverYieldTraceErrors()
    {
        byte[] prefix = TraceSamples.Sample(0, complete: false);
        return Prop.ForAll(Arb.From(Gen.Zip(Gen.Elements(true, false), PropertyCheck.Bytes(200))), t =>
        {
            byte[] bytes = t.Item1 ? [.. prefix, .. t.Item2] : t.Item2;
            var (_, footer, error, _) = TraceSamples.ReadAll(bytes, loadMemory: !t.Item1, eventsMax: bytes.Length);
            return (footer is null) != (error is null);
        });
    }
}
