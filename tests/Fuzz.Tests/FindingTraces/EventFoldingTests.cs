using Sim.Engine.Trace;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests.FindingTraces;

/// <summary>Past <see cref="ExecutionTrace.EventsKeptMax"/> events a finding trace folds the rest into one checkpoint
/// hash, so a livelocked execution makes a small trace that still verifies every event.</summary>
public sealed class EventFoldingTests
{
    private const int Extra = 10;

    /// <summary>Emits EventsKeptMax + Extra events; only the folded ones depend on the input byte.</summary>
    private static ScriptedTarget Chatty() =>
        new(
            (d, c) =>
            {
                for (ulong i = 0; i < ExecutionTrace.EventsKeptMax + Extra; i++)
                    c.Emit(TraceEventKind.MmioWrite, 0, i, i < ExecutionTrace.EventsKeptMax ? 0UL : d[0], default);
                return FuzzOutcome.Completed;
            },
            [1]
        );

    private static (byte[] Trace, ulong Events) Record(byte[] input)
    {
        var header = new TraceHeader
        {
            VirtsimVersion = "test",
            GitCommit = "test",
            Scenario = "fuzz/toy-scripted",
            MemoryLayout = ExecutionTrace.PlaceholderLayout,
        };
        var executor = new FuzzExecutor(Chatty(), new NullCoverage("test"), ExecutionLimits.Default);
        using var stream = new MemoryStream();
        ulong events;
        using (var recorder = new FindingTraceRecorder(stream, header))
        {
            executor.Trace = recorder;
            ExecutionResult r = executor.Execute(input);
            recorder.Finish(r.Finding, r.Outcome);
            events = recorder.Events;
        }
        return (stream.ToArray(), events);
    }

    private static FindingTraceChecker Check(byte[] trace, byte[] input)
    {
        using var stream = new MemoryStream(trace);
        Assert.True(TraceReader.TryOpen(stream, out TraceReader? reader, out _));
        using (reader)
        {
            var checker = new FindingTraceChecker(reader);
            var executor = new FuzzExecutor(Chatty(), new NullCoverage("test"), ExecutionLimits.Default)
            {
                Trace = checker,
            };
            ExecutionResult r = executor.Execute(input);
            checker.Finish(r.Finding, r.Outcome);
            return checker;
        }
    }

    [Fact]
    public void EventsPastTheCap_FoldIntoOneCheckpoint_AndStillVerify()
    {
        (byte[] trace, ulong events) = Record([1]);
        Assert.Equal(ExecutionTrace.EventsKeptMax + 2, events);
        Assert.True(trace.Length < 4 << 20, $"trace of {trace.Length} bytes");
        Assert.Null(Check(trace, [1]).Divergence);
        TraceDivergence? d = Check(trace, [2]).Divergence;
        Assert.NotNull(d);
        Assert.Equal(TraceEventKind.Checkpoint, d.Kind);
        Assert.Equal(ExecutionTrace.EventsKeptMax, d.EventIndex);
    }
}
