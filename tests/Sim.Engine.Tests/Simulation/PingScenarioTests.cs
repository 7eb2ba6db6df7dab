using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Engine.Tests.Kvm;
using Sim.Engine.Time;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Machine.Scenarios;
using Sim.Scenarios.Ping;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.SimulationTests;

public sealed class PingScenarioTests
{
    private readonly ITestOutputHelper _output;

    public PingScenarioTests(ITestOutputHelper output) => _output = output;

    private ScenarioRun RunPing(ulong seed, long requests = 16, RecordingSink? sink = null)
    {
        _output.WriteLine($"reproduce: virtsim run ping --seed {seed} --option requests={requests}");
        ScenarioRun run = new PingScenario().Create(
            new ScenarioOptions(seed).With("requests", requests.ToString(CultureInfo.InvariantCulture))
        );
        if (sink is not null)
            run.Simulation.AddSink(sink);
        run.Run();
        return run;
    }

    [Fact]
    public void Ping_CompletesEveryRequest_WithCoalescingAndSlowPathKicks()
    {
        var sink = new RecordingSink();
        ScenarioRun run = RunPing(1, 32, sink);
        foreach (string line in run.ReportLines())
            _output.WriteLine(line);
        Sim.Machine.Simulation.Simulation sim = run.Simulation;
        Assert.True(sim.GuestExited);
        Assert.Equal(StopReason.Stopped, sim.StopReason);
        Assert.Contains("ping: done, completed=32", sim.Output[^1]);
        Assert.Equal(new ulong[] { 0x600D }, sim.DebugValues);
        // Paired kicks were read as one count > 1 by the worker.
        Assert.Contains(sink.Of(TraceEventKind.EventFdRead), e => e.Source == 0 && e.Value > 1);
        Assert.Contains(
            "coalesced_wakeups=",
            run.ReportLines().Single(l => l.StartsWith("backend:", StringComparison.Ordinal))
        );
        RunCounters c = sim.Counters;
        Assert.True(c.IoEventFdSignals > 0);
        Assert.True(c.MmioWriteExits > 0, "some kicks should have missed the ioeventfd and exited");
        Assert.Equal(32, c.IoEventFdSignals + c.MmioWriteExits);
        Assert.True(c.TimerFirings > 0);
        Assert.Equal(c.InterruptsDelivered, c.Eois);
        Assert.True(c.Halts > 0);
        // Every completion interrupt came through the irqfd (Source = irqfd id + 1).
        Assert.All(sink.Of(TraceEventKind.IrqInject).Where(e => e.Address == 5), e => Assert.Equal(1u, e.Source));
    }

    [Fact]
    public void Determinism_SameSeed_SameEventsCountersAndMemory()
    {
        ScenarioRun a = RunPing(7);
        ScenarioRun b = RunPing(7);
        Assert.Equal(a.Simulation.EventHash, b.Simulation.EventHash);
        Assert.Equal(a.Simulation.EventCount, b.Simulation.EventCount);
        Assert.Equal(a.Simulation.Counters.ToString(), b.Simulation.Counters.ToString());
        Assert.Equal(a.Simulation.Memory.ContentHash(), b.Simulation.Memory.ContentHash());
        Assert.Equal(a.ReportLines(), b.ReportLines());
    }

    [Fact]
    public void Determinism_DifferentSeed_DiffersWhereRandomnessIsUsed()
    {
        ScenarioRun a = RunPing(7);
        ScenarioRun b = RunPing(8);
        // The guest's compute times and kick choices come from its PRNG stream.
        Assert.NotEqual(a.Simulation.EventHash, b.Simulation.EventHash);
        Assert.NotEqual(a.Simulation.Counters.TimeNs, b.Simulation.Counters.TimeNs);
        // What does not depend on randomness is the same: every request completes.
        Assert.Equal(a.Simulation.Output[^1].Split(' ')[2], b.Simulation.Output[^1].Split(' ')[2]);
    }

    /// <summary>For any seed, two runs agree event for event and every request completes.</summary>
    [Property(MaxTest = 20, Replay = "(37190,1)")]
    public Property Property_AnySeed_RunsTwiceIdentically()
    {
        return Prop.ForAll(Arb.From(SeededProperty.UInt64), seed =>
        {
            ScenarioRun a = new PingScenario().Create(new ScenarioOptions(seed).With("requests", "6"));
            ScenarioRun b = new PingScenario().Create(new ScenarioOptions(seed).With("requests", "6"));
            a.Run();
            b.Run();
            return a.Simulation.GuestExited
                && a.Simulation.EventHash == b.Simulation.EventHash
                && a.ReportLines().SequenceEqual(b.ReportLines())
                && a.Simulation.Output[^1].Contains("completed=6", StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Options_AreValidated()
    {
        var scenario = new PingScenario();
        Assert.Throws<ArgumentException>(() => scenario.Create(new ScenarioOptions(1).With("request", "3")));
        Assert.Throws<ArgumentException>(() => scenario.Create(new ScenarioOptions(1).With("requests", "x")));
        Assert.Throws<ArgumentException>(() => scenario.Create(new ScenarioOptions(1).With("requests", "0")));
        ScenarioRun run = scenario.Create(new ScenarioOptions(1).With("tick_ns", "5000").With("requests", "2"));
        Assert.Equal(new[] { "requests", "scenario", "tick_ns" }, run.Simulation.Options.Named.Keys);
    }
}
