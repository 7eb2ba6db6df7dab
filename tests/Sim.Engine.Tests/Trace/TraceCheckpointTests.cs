using System.Text;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Xunit;

namespace Sim.Engine.Tests.Trace;

/// <summary>The header's checkpoint interval: an event count (old traces call it "checkpoint_interval_ns"),
/// never negative, and periodic Checkpoint events exactly where it puts them.</summary>
public sealed class TraceCheckpointTests
{
    private static readonly MemoryLayout Layout = MemoryLayout.Single(4096);

    private static TraceRecord Ev(int i) =>
        new(TraceEventKind.MmioWrite, 10 * (i + 1), 0, 0x1000, (ulong)i, new byte[] { 1, 2 });

    private static TraceRecord Cp(int i, uint source = TraceFormat.CheckpointSourcePeriodic) =>
        new(TraceEventKind.Checkpoint, 10 * (i + 1), source, 0, 0, ReadOnlyMemory<byte>.Empty);

    private static byte[] Write(long interval, params TraceRecord[] events)
    {
        Assert.True(GuestMemory.TryCreate(Layout, out GuestMemory? memory, out _));
        return TraceSamples.Write(TraceSamples.Header(Layout, checkpointIntervalEvents: interval), memory, events);
    }

    [Fact]
    public void PeriodicCheckpoints_AfterEveryNEvents_Read()
    {
        byte[] bytes = Write(3, Ev(0), Ev(1), Ev(2), Cp(2), Ev(3), Cp(3, source: 0xffff_ffff), Ev(4), Cp(4));
        var (events, footer, error, reader) = TraceSamples.ReadAll(bytes, loadMemory: false);
        Assert.Null(error);
        Assert.NotNull(footer);
        Assert.Equal(8, events.Count);
        Assert.Equal(3, reader!.Header.CheckpointIntervalEvents);
    }

    [Fact]
    public void ACheckpointBeforeItsTime_IsInconsistent()
    {
        var (events, _, error, _) = TraceSamples.ReadAll(Write(3, Ev(0), Ev(1), Cp(1), Ev(2)));
        Assert.Equal(2, events.Count);
        Assert.Equal(TraceErrorKind.Inconsistent, error!.Kind);
        Assert.Contains(
            "expected a periodic Checkpoint only after every 3 events (header checkpoint interval), found one after "
                + "2 events (in event 2)",
            error.Message,
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void AMissingCheckpoint_IsInconsistent_AtTheEventThatTookItsPlace()
    {
        var (events, _, error, _) = TraceSamples.ReadAll(Write(2, Ev(0), Ev(1), Ev(2)));
        Assert.Equal(2, events.Count);
        Assert.Equal(TraceErrorKind.Inconsistent, error!.Kind);
        Assert.Contains("(in event 2)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingCheckpointBeforeTheFooter_IsInconsistent()
    {
        var (events, footer, error, _) = TraceSamples.ReadAll(Write(2, Ev(0), Ev(1)));
        Assert.Equal(2, events.Count);
        Assert.Null(footer);
        Assert.Equal(TraceErrorKind.Inconsistent, error!.Kind);
        Assert.Contains("found the footer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IntervalZero_LeavesCheckpointsUnplaced()
    {
        var (events, footer, error, _) = TraceSamples.ReadAll(Write(0, Cp(0), Ev(1), Cp(1), Cp(2)));
        Assert.Null(error);
        Assert.NotNull(footer);
        Assert.Equal(4, events.Count);
    }

    [Fact]
    public void TheWriter_RefusesANegativeInterval()
    {
        Assert.True(GuestMemory.TryCreate(Layout, out GuestMemory? memory, out _));
        Assert.Throws<ArgumentException>(() =>
            new TraceWriter(new MemoryStream(), TraceSamples.Header(Layout, checkpointIntervalEvents: -1), memory)
        );
    }

    private static readonly byte[] NewKey = [0xba, .. Encoding.ASCII.GetBytes("checkpoint_interval_events")];
    private static readonly byte[] OldKey = [0xb6, .. Encoding.ASCII.GetBytes("checkpoint_interval_ns")];

    /// <summary><paramref name="bytes"/> with the header's checkpoint entry (key and one-byte value)
    /// replaced.</summary>
    private static byte[] PatchEntry(byte[] bytes, byte[] entry)
    {
        int at = bytes.AsSpan().IndexOf(NewKey);
        Assert.True(at > 0);
        return [.. bytes.AsSpan(0, at), .. entry, .. bytes.AsSpan(at + NewKey.Length + 1)];
    }

    [Fact]
    public void TheOldKey_IsReadAsTheEventCount()
    {
        byte[] bytes = PatchEntry(Write(2, Ev(0), Ev(1), Cp(1)), [.. OldKey, 0x02]);
        var (events, footer, error, reader) = TraceSamples.ReadAll(bytes);
        Assert.Null(error);
        Assert.NotNull(footer);
        Assert.Equal(3, events.Count);
        Assert.Equal(2, reader!.Header.CheckpointIntervalEvents);
    }

    [Theory]
    [InlineData(new byte[] { 0xff }, "-1")]
    [InlineData(new byte[] { 0xd0, 0x80 }, "-128")]
    [InlineData(new byte[] { 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0 }, "-9223372036854775808")]
    public void ANegativeInterval_IsMalformed_UnderEitherKey(byte[] value, string shown)
    {
        foreach (byte[] key in new[] { NewKey, OldKey })
        {
            byte[] bytes = PatchEntry(Write(0), [.. key, .. value]);
            var (_, _, error, _) = TraceSamples.ReadAll(bytes);
            Assert.Equal(TraceErrorKind.Malformed, error!.Kind);
            Assert.Contains(
                $"expected checkpoint interval as a non-negative event count, found {shown}",
                error.Message,
                StringComparison.Ordinal
            );
        }
    }

    [Fact]
    public void BothKeys_AreMalformed()
    {
        byte[] bytes = Write(0);
        Assert.Equal(0x8c, bytes[0]);
        int at = bytes.AsSpan().IndexOf(NewKey);
        byte[] patched = [0x8d, .. bytes.AsSpan(1, at - 1), .. OldKey, 0x00, .. bytes.AsSpan(at)];
        var (_, _, error, _) = TraceSamples.ReadAll(patched);
        Assert.Equal(TraceErrorKind.Malformed, error!.Kind);
        Assert.Contains("found both", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryVerifyRest_ReadsToTheFooter_AndReportsAContradiction()
    {
        byte[] good = Write(0, Ev(0), Ev(1), Ev(2));
        Assert.True(TraceReader.TryOpen(new MemoryStream(good), out TraceReader? reader, out _));
        Assert.True(reader.TryReadNext(out _, out _));
        Assert.True(reader.TryVerifyRest(out TraceError? error), error?.Message);
        Assert.Equal(3UL, reader.EventsRead);
        Assert.True(reader.IsComplete);

        // The last event's value byte changed, the footer not: the trace contradicts its own event hash.
        byte[] bad = (byte[])good.Clone();
        int value = bad.AsSpan().LastIndexOf(new byte[] { 0x02, 0xc4, 0x02, 1, 2 });
        Assert.True(value > 0);
        bad[value] = 0x03;
        Assert.True(TraceReader.TryOpen(new MemoryStream(bad), out reader, out _));
        Assert.False(reader.TryVerifyRest(out error));
        Assert.Equal(TraceErrorKind.Inconsistent, error.Kind);
        Assert.Contains("footer event hash", error.Message, StringComparison.Ordinal);
    }
}
