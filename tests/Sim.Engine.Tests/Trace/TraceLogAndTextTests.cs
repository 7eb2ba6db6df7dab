using Sim.Engine.Trace;
using Xunit;

namespace Sim.Engine.Tests.Trace;

public sealed class TraceLogAndTextTests
{
    [Fact]
    public void TraceLog_OwnsCopies()
    {
        var log = new TraceLog();
        byte[] data = [1, 2, 3];
        log.Write(new TraceEvent(TraceEventKind.MmioWrite, 5, 0, 0x1000, 3, data));
        data[0] = 9;
        Assert.Equal(1, log[0].Data.Span[0]);
        var copy = new TraceLog();
        log.ReplayTo(copy);
        Assert.Equal(log.Records, copy.Records);
        var small = new TraceLog(eventsMax: 1);
        small.Write(new TraceEvent(TraceEventKind.Halt, 0, 0, 0, 0, default));
        Assert.Throws<InvalidOperationException>(() =>
            small.Write(new TraceEvent(TraceEventKind.Halt, 0, 0, 0, 0, default))
        );
    }

    [Fact]
    public void TextFormatter_OneLinePerEvent()
    {
        Assert.Equal(
            "#12 t=1234 MmioWrite src=0 addr=0x1000 val=0x4 data=01000000",
            TraceTextFormatter.FormatEvent(
                12,
                new TraceEvent(TraceEventKind.MmioWrite, 1234, 0, 0x1000, 4, [1, 0, 0, 0])
            )
        );
        string longData = TraceTextFormatter.FormatEvent(
            0,
            new TraceEvent(TraceEventKind.DeviceRead, 0, 1, 0, 0, new byte[40])
        );
        Assert.EndsWith("...(+8 bytes)", longData, StringComparison.Ordinal);

        byte[] bytes = TraceSamples.Sample(5);
        Assert.True(TraceReader.TryOpen(new MemoryStream(bytes), out TraceReader? reader, out _));
        var text = new StringWriter();
        Assert.Null(TraceTextFormatter.WriteAll(reader, text));
        string[] lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith(
            "# virtsim-trace v2: scenario virtio-net-echo, seed 42, origin simulated",
            lines[0],
            StringComparison.Ordinal
        );
        Assert.Equal(5, lines.Count(l => l.StartsWith('#') && char.IsDigit(l[1])));
        Assert.Contains(lines, l => l.StartsWith("# end: 5 events", StringComparison.Ordinal));

        Assert.True(TraceReader.TryOpen(new MemoryStream(TraceSamples.Sample(5, complete: false)), out reader, out _));
        TraceError? error = TraceTextFormatter.WriteAll(reader, new StringWriter());
        Assert.Equal(TraceErrorKind.Truncated, error!.Kind);
    }
}
