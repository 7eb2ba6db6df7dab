using System.Buffers.Binary;
using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>`show` and `replay` on traces that are corrupt (exit 2 from both, with the byte offset and what
/// was expected) and on sound traces the run differs from (replay: exit 1). The memory image comes from
/// `ping --opt stale=1`, whose responses page starts non-zero.</summary>
public sealed class TraceIntegrityCliTests
{
    /// <summary>The chunk of the stale responses page: fixarray 3, address uint16 0x2000, length uint16
    /// 0x1000.</summary>
    private static readonly byte[] ChunkStart = [0x93, 0xcd, 0x20, 0x00, 0xcd, 0x10, 0x00];

    private static byte[] RecordStale(TempDir dir)
    {
        string trace = dir.File("stale.vtrace");
        var (code, _, err) = CliRunner.Run(
            "run",
            "ping",
            "--seed",
            "5",
            "--opt",
            "requests=8",
            "--opt",
            "stale=1",
            "--trace",
            trace
        );
        Assert.True(code == 0, err);
        return File.ReadAllBytes(trace);
    }

    /// <summary>The chunk's parts: where it starts, and its data (after the bin 16 header).</summary>
    private static (int Chunk, int Data, int Length) Locate(byte[] trace)
    {
        int chunk = trace.AsSpan().IndexOf(ChunkStart);
        Assert.True(chunk > 0, "the trace carries the stale page as one chunk");
        int bin = chunk + ChunkStart.Length;
        Assert.Equal(0xc5, trace[bin]); // bin 16: 4 KiB of random bytes do not compress below 256
        return (chunk, bin + 3, BinaryPrimitives.ReadUInt16BigEndian(trace.AsSpan(bin + 1)));
    }

    /// <summary>The trace with the chunk's data replaced (bin 16 length adjusted).</summary>
    private static byte[] WithData(byte[] trace, Func<byte[], byte[]> change)
    {
        (_, int data, int length) = Locate(trace);
        byte[] changed = change(trace.AsSpan(data, length).ToArray());
        byte[] header = [0xc5, (byte)(changed.Length >> 8), (byte)changed.Length];
        return [.. trace.AsSpan(0, data - 3), .. header, .. changed, .. trace.AsSpan(data + length)];
    }

    private static byte[] Corrupt(byte[] trace, string corruption)
    {
        (int chunk, _, _) = Locate(trace);
        switch (corruption)
        {
            case "bad-zlib":
                return WithData(trace, d => [.. d[..2], .. Enumerable.Repeat((byte)0xff, 64), .. d[66..]]);
            case "trailing-bytes":
                return WithData(trace, d => [.. d, 1, 2, 3]);
            case "cut-stream":
                return WithData(trace, d => d[..^2]);
            case "bad-adler":
                return WithData(trace, d => [.. d[..^1], (byte)(d[^1] ^ 0x40)]);
            case "bomb": // a page is declared, 64 KiB inflate
                return WithData(trace, _ => Zlib(new byte[16 * 4096]));
            case "short-stream": // declares two pages: the stream inflates to one
                return [.. trace.AsSpan(0, chunk + 4), 0xcd, 0x20, 0x00, .. trace.AsSpan(chunk + 7)];
            case "outside-layout": // at 2 MiB, beyond the 1 MiB region
                return [.. trace.AsSpan(0, chunk + 1), 0xce, 0x00, 0x20, 0x00, 0x00, .. trace.AsSpan(chunk + 4)];
            case "wrong-hash":
                byte[] copy = (byte[])trace.Clone();
                int key = copy.AsSpan().IndexOf("content_hash"u8);
                Assert.True(key > 0);
                copy[key + "content_hash".Length + 8] ^= 1; // the last byte of its uint 64 value
                return copy;
            default:
                throw new ArgumentException(corruption, nameof(corruption));
        }
    }

    private static byte[] Zlib(byte[] data)
    {
        var ms = new MemoryStream();
        using (
            var z = new System.IO.Compression.ZLibStream(
                ms,
                System.IO.Compression.CompressionLevel.Fastest,
                leaveOpen: true
            )
        )
            z.Write(data);
        return ms.ToArray();
    }

    [Theory]
    [InlineData("bad-zlib", "expected zlib data")]
    [InlineData("trailing-bytes", "found 3 trailing bytes")]
    [InlineData("cut-stream", "a cut-short stream")]
    [InlineData("bad-adler", "expected zlib data")]
    [InlineData("bomb", "a decompression bomb")]
    [InlineData("short-stream", "a short stream")]
    [InlineData("outside-layout", "chunk inside the memory layout")]
    [InlineData("wrong-hash", "initial memory with content hash")]
    public void ACorruptMemoryImage_IsRejectedByShowAndReplay_Exit2(string corruption, string says)
    {
        using TempDir dir = CliRunner.TempDir();
        byte[] good = RecordStale(dir);
        string file = dir.File(corruption + ".vtrace");
        File.WriteAllBytes(file, Corrupt(good, corruption));

        var (code, _, err) = CliRunner.Run("show", file);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Matches(@"virtsim: .*: byte \d+: expected ", err);
        Assert.Contains(says, err, StringComparison.Ordinal);

        (code, string output, _) = CliRunner.Run("replay", file);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("0 ok, 0 diverged, 1 unreadable", output, StringComparison.Ordinal);
        Assert.Matches(@"byte \d+: expected ", output);
        Assert.Contains(says, output, StringComparison.Ordinal);
    }

    [Fact]
    public void TheStaleTrace_CarriesAMemoryImage_AndReplays()
    {
        using TempDir dir = CliRunner.TempDir();
        byte[] good = RecordStale(dir);
        Locate(good);
        var (code, output, _) = CliRunner.Run("replay", dir.File("stale.vtrace"));
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("1 ok", output, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEventChangedWithoutItsFooter_IsCorrupt_Exit2_WithItsFooterRecomputed_ADivergence_Exit1()
    {
        using TempDir dir = CliRunner.TempDir();
        byte[] good = RecordStale(dir);
        Func<int, Sim.Engine.Trace.TraceRecord, Sim.Engine.Trace.TraceRecord> edit = (i, r) =>
            i == 5 ? r with { Value = r.Value ^ 1 } : r;
        byte[] sound = TraceRecoder.Recode(good, edit: edit);
        string divergent = dir.File("divergent.vtrace");
        File.WriteAllBytes(divergent, sound);
        var (code, output, _) = CliRunner.Run("replay", divergent);
        Assert.Equal(ExitCodes.Finding, code);
        Assert.Contains("DIVERGED", output, StringComparison.Ordinal);

        // The same event change with the original footer: the trace's own event hash no longer matches.
        byte[] original = TraceRecoder.Recode(good);
        byte[] footerStart = [0x85, 0xa6, .. "events"u8]; // fixmap 5, fixstr "events"
        int footer = original.AsSpan().LastIndexOf(footerStart);
        int soundFooter = sound.AsSpan().LastIndexOf(footerStart);
        Assert.True(footer > 0);
        Assert.Equal(footer, soundFooter);
        string corrupt = dir.File("corrupt.vtrace");
        File.WriteAllBytes(corrupt, [.. sound.AsSpan(0, footer), .. original.AsSpan(footer)]);
        (code, output, _) = CliRunner.Run("replay", corrupt);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("contradicts itself", output, StringComparison.Ordinal);
        Assert.Contains("footer event hash", output, StringComparison.Ordinal);
        (code, _, string err) = CliRunner.Run("show", corrupt);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("footer event hash", err, StringComparison.Ordinal);
    }

    [Fact]
    public void ADifferentEndTime_IsADivergence_Exit1()
    {
        using TempDir dir = CliRunner.TempDir();
        string file = dir.File("late.vtrace");
        File.WriteAllBytes(file, TraceRecoder.Recode(RecordStale(dir), endTimeDelta: 1));
        var (code, output, _) = CliRunner.Run("replay", file);
        Assert.Equal(ExitCodes.Finding, code);
        Assert.Contains("end time differs", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ADifferentCheckpointInterval_IsADivergence_Exit1()
    {
        using TempDir dir = CliRunner.TempDir();
        string file = dir.File("interval.vtrace");
        // The run has fewer events than either interval, so the trace stays consistent with its own header.
        File.WriteAllBytes(file, TraceRecoder.Recode(RecordStale(dir), checkpointInterval: 100_000));
        var (code, output, _) = CliRunner.Run("replay", file);
        Assert.Equal(ExitCodes.Finding, code);
        Assert.Contains(
            "checkpoint interval differs: the trace has a checkpoint every 100000 events, the run every 4096",
            output,
            StringComparison.Ordinal
        );
    }
}
