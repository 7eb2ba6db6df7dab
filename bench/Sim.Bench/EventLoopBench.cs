using BenchmarkDotNet.Attributes;
using Sim.Engine.Time;

namespace Sim.Bench;

/// <summary>Simple events through the loop: each handler call reschedules itself, with a spread of
/// delays so the heap holds <see cref="Pending"/> events. Target: at least 5M events/s per core and
/// no allocation per event (the heap is pre-grown by the first iteration).</summary>
[MemoryDiagnoser]
public class EventLoopBench
{
    private const int EventsPerInvoke = 1_000_000;

    private EventLoop _loop = null!;
    private Rescheduler[] _actors = null!;

    [Params(1, 64, 4096)]
    public int Pending { get; set; }

    private sealed class Rescheduler : IEventHandler
    {
        public long Remaining;

        public void Handle(EventLoop loop, in ScheduledEvent ev)
        {
            if (--Remaining > 0)
                loop.Schedule(1 + (ev.Argument & 127), this, 0, ev.Argument + 7);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        _loop = new EventLoop { EventsMax = long.MaxValue };
        _actors = new Rescheduler[Pending];
        for (int i = 0; i < Pending; i++)
            _actors[i] = new Rescheduler();
    }

    [Benchmark(OperationsPerInvoke = EventsPerInvoke)]
    public long Run()
    {
        long each = EventsPerInvoke / Pending;
        for (int i = 0; i < Pending; i++)
        {
            _actors[i].Remaining = each;
            _loop.Schedule(i & 15, _actors[i], 0, i);
        }
        _loop.Run();
        return _loop.EventsExecuted;
    }
}
