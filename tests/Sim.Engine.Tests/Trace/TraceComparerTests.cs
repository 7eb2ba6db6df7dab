using Sim.Engine.Trace;
using Xunit;

namespace Sim.Engine.Tests.Trace;

public sealed class TraceComparerTests
{
    private static readonly TraceRecord[] Recorded = TraceSamples.Events(40, seed: 7);

    private static TraceComparer Open(TraceRecord[] events, bool complete = true)
    {
        byte[] bytes = TraceSamples.Write(TraceSamples.Header(), TraceSamples.Memory(), events, complete);
        Assert.True(
            TraceReader.TryOpen(new MemoryStream(bytes), out TraceReader? reader, out TraceError? error),
            error?.Message
        );
        return new TraceComparer(reader);
    }

    private static TraceComparer Replay(TraceRecord[] live, bool complete = true)
    {
        TraceComparer c = Open(Recorded, complete);
        foreach (TraceRecord e in live)
            c.Write(e.ToEvent());
        c.Finish();
        return c;
    }

    [Fact]
    public void IdenticalRun_HasNoDivergence()
    {
        TraceComparer c = Replay(Recorded);
        Assert.Null(c.Divergence);
        Assert.Equal(40UL, c.EventsSeen);
    }

    [Theory]
    [InlineData(TraceField.Kind)]
    [InlineData(TraceField.Time)]
    [InlineData(TraceField.Source)]
    [InlineData(TraceField.Address)]
    [InlineData(TraceField.Value)]
    [InlineData(TraceField.Data)]
    public void FirstDivergence_IsFoundExactly(TraceField field)
    {
        foreach (int index in new[] { 0, 17, 39 })
        {
            TraceRecord[] live = (TraceRecord[])Recorded.Clone();
            TraceRecord e = live[index];
            live[index] = field switch
            {
                TraceField.Kind => e with
                {
                    Kind = e.Kind == TraceEventKind.Halt ? TraceEventKind.IrqEoi : TraceEventKind.Halt,
                },
                TraceField.Time => e with { Time = e.Time + 1 },
                TraceField.Source => e with { Source = e.Source + 1 },
                TraceField.Address => e with { Address = e.Address ^ 0x40 },
                TraceField.Value => e with { Value = e.Value + 1 },
                _ => e with { Data = e.Data.ToArray().Append((byte)0xaa).ToArray() },
            };
            // A second, later difference must not replace the first.
            if (index + 1 < live.Length)
                live[index + 1] = live[index + 1] with { Value = live[index + 1].Value + 1 };
            TraceComparer c = Replay(live);
            TraceDivergence d = Assert.IsType<TraceDivergence>(c.Divergence);
            Assert.Equal((ulong)index, d.EventIndex);
            Assert.Equal(field, d.Field);
            Assert.Equal(Recorded[index].Time, d.Time);
            Assert.Equal(Recorded[index].Kind, d.Kind);
        }
    }

    [Fact]
    public void DataDivergence_ShowsHexAroundFirstDifferingByte()
    {
        byte[] expected = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        byte[] actual = (byte[])expected.Clone();
        actual[40] = 0xee;
        TraceRecord[] trace = [new TraceRecord(TraceEventKind.DeviceWrite, 10, 1, 0x2000, 0, expected)];
        TraceComparer c = Open(trace);
        c.Write(new TraceEvent(TraceEventKind.DeviceWrite, 10, 1, 0x2000, 0, actual));
        TraceDivergence d = c.Divergence!;
        Assert.Equal(TraceField.Data, d.Field);
        Assert.Contains("first difference at byte 40", d.Actual, StringComparison.Ordinal);
        Assert.Contains(
            "expected: 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25 26 27 28 29",
            d.DataDiff,
            StringComparison.Ordinal
        );
        Assert.Contains(
            "actual:   18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25 26 27 ee 29",
            d.DataDiff,
            StringComparison.Ordinal
        );
        string[] lines = d.DataDiff!.Split(Environment.NewLine);
        Assert.Equal(lines[1].IndexOf("28", StringComparison.Ordinal), lines[3].IndexOf('^', StringComparison.Ordinal));
    }

    [Fact]
    public void LiveRunEndsEarly_IsFoundByFinish()
    {
        TraceComparer c = Replay(Recorded[..25]);
        Assert.Equal(TraceField.Presence, c.Divergence!.Field);
        Assert.Equal(25UL, c.Divergence.EventIndex);
        Assert.Equal(Recorded[25].Time, c.Divergence.Time);
    }

    [Fact]
    public void LiveRunGoesOn_IsFoundAtTheFirstExtraEvent()
    {
        TraceComparer c = Replay([.. Recorded, .. TraceSamples.Events(5, seed: 8)]);
        Assert.Equal(TraceField.Presence, c.Divergence!.Field);
        Assert.Equal(40UL, c.Divergence.EventIndex);
        Assert.Equal(45UL, c.EventsSeen);
    }

    [Fact]
    public void TruncatedTrace_IsReportedAsUnreadable()
    {
        TraceComparer c = Replay(Recorded, complete: false);
        Assert.Equal(TraceField.TraceUnreadable, c.Divergence!.Field);
        Assert.Equal(40UL, c.Divergence.EventIndex);
        Assert.Contains("no footer", c.Divergence.Expected, StringComparison.Ordinal);
    }
}
