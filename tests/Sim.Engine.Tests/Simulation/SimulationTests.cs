using Sim.Engine.Memory;
using Sim.Engine.Tests.Kvm;
using Sim.Engine.Trace;
using Sim.Machine.Simulation;
using Xunit;

namespace Sim.Engine.Tests.SimulationTests;

public sealed class SimulationTests
{
    private sealed class Counting : ITimerListener
    {
        public List<long> Times { get; } = new();

        public Action<VirtualTimer>? Then { get; set; }

        public void OnTimer(VirtualTimer timer)
        {
            Times.Add(timer.Fires);
            Then?.Invoke(timer);
        }
    }

    [Fact]
    public void Timer_OneShotAndPeriodic()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        RecordingSink sink = sim.Record();
        var l = new Counting();
        VirtualTimer once = sim.CreateTimer(l, "once");
        VirtualTimer tick = sim.CreateTimer(l, "tick", ticksMax: 3);
        once.Start(50);
        tick.Start(10, 100);
        sim.Run();
        Assert.Equal(
            new[] { (0u, 50L, 1UL), (1u, 10L, 1UL), (1u, 110L, 2UL), (1u, 210L, 3UL) }.OrderBy(t => t.Item2),
            sink.Of(TraceEventKind.TimerFire).Select(e => (e.Source, e.Time, e.Value))
        );
        Assert.False(tick.IsArmed);
        Assert.False(tick.Start(1)); // TicksMax reached
        Assert.Equal(4, sim.Counters.TimerFirings);
    }

    [Fact]
    public void Timer_CancelAndRestartDropQueuedExpiries()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        var l = new Counting();
        VirtualTimer t = sim.CreateTimer(l);
        l.Then = timer =>
        {
            if (timer.Fires == 2)
                timer.Cancel();
        };
        t.Start(10, 10);
        t.Start(5, 10); // restart: the expiry queued for 10 is stale
        sim.Run();
        Assert.Equal(new long[] { 1, 2 }, l.Times);
        Assert.Equal(2, sim.Counters.TimerFirings); // fired at 5 and 15; the stale events at 10 and 25 did nothing
    }

    [Fact]
    public void Checkpoints_EveryIntervalEvents_CarryEventAndMemoryHashes()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation(checkpointInterval: 3);
        RecordingSink sink = sim.Record();
        ulong hashAfterThree = 0;
        for (int i = 0; i < 7; i++)
        {
            sim.Emit(TraceEventKind.DeviceResult, 1, (ulong)i, 0, default);
            if (i == 2)
                hashAfterThree = sim.EventHash;
        }
        RecordedEvent[] cps = sink.Of(TraceEventKind.Checkpoint).ToArray();
        Assert.Equal(2, cps.Length);
        Assert.Equal(hashAfterThree, cps[0].Value);
        Assert.Equal(sim.Memory.ContentHash(), cps[0].Address);
        Assert.Equal(7, sim.EventCount);
        Assert.Equal(9, sink.Events.Count);
    }

    [Fact]
    public void Hash_DependsOnEveryField()
    {
        ulong Hash(Action<Sim.Machine.Simulation.Simulation> emit)
        {
            Sim.Machine.Simulation.Simulation s = KvmTestKit.NewSimulation(checkpointInterval: 1000);
            emit(s);
            return s.EventHash;
        }
        var hashes = new[]
        {
            Hash(s => s.Emit(TraceEventKind.DeviceResult, 1, 2, 3, [4])),
            Hash(s => s.Emit(TraceEventKind.DeviceWrite, 1, 2, 3, [4])),
            Hash(s => s.Emit(TraceEventKind.DeviceResult, 9, 2, 3, [4])),
            Hash(s => s.Emit(TraceEventKind.DeviceResult, 1, 9, 3, [4])),
            Hash(s => s.Emit(TraceEventKind.DeviceResult, 1, 2, 9, [4])),
            Hash(s => s.Emit(TraceEventKind.DeviceResult, 1, 2, 3, [9])),
            Hash(s => s.Emit(TraceEventKind.DeviceResult, 1, 2, 3, [4, 0])),
        };
        Assert.Equal(hashes.Length, hashes.Distinct().Count());
    }

    [Fact]
    public void NoSinkNoCheckpoints_EventsOnlyCounted()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation(checkpointInterval: 0);
        ulong empty = sim.EventHash;
        Assert.False(sim.IsTracing);
        sim.Emit(TraceEventKind.DeviceResult, 1, 2, 3, default);
        Assert.Equal(1, sim.EventCount);
        Assert.Equal(empty, sim.EventHash);
    }

    [Fact]
    public void InvalidOptions_Throw()
    {
        Assert.Throws<ArgumentException>(() =>
            new Sim.Machine.Simulation.Simulation(new SimulationOptions { MemoryLayout = new MemoryLayout([]) })
        );
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new Sim.Machine.Simulation.Simulation(new SimulationOptions { EventsMax = 0 })
        );
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new Sim.Machine.Simulation.Simulation(
                new SimulationOptions { Latency = new Sim.Machine.Kvm.LatencyModel() with { IoEventFdNs = -1 } }
            )
        );
    }

    [Fact]
    public void Counters_PrintOnOneLineInAFixedOrder()
    {
        var c = new Sim.Machine.Kvm.RunCounters { TimeNs = 5, Halts = 2 };
        Assert.Equal(
            "time_ns=5 mmio_read=0 mmio_write=0 pio_in=0 pio_out=0 unmapped=0 ioeventfd=0 eventfd_signal=0 "
                + "eventfd_read=0 irq_injected=0 irq_coalesced=0 irq_delivered=0 eoi=0 halt=2 ctx_switch=0 timer=0",
            c.ToString()
        );
    }
}
