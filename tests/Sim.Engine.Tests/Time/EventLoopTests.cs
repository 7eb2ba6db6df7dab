using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Engine.Tests.SimulationTests;
using Sim.Engine.Time;
using Xunit;

namespace Sim.Engine.Tests.Time;

public sealed class EventLoopTests
{
    private sealed class Log : IEventHandler
    {
        public List<(long Time, long Argument)> Seen { get; } = new();

        public Action<EventLoop, ScheduledEvent>? Then { get; set; }

        public void Handle(EventLoop loop, in ScheduledEvent ev)
        {
            Seen.Add((loop.Now, ev.Argument));
            Then?.Invoke(loop, ev);
        }
    }

    /// <summary>Events run in (time, submission) order: a stable sort of the submissions by time.</summary>
    [Property(MaxTest = 200, Replay = "(4111,1)")]
    public Property Property_OrderIsTimeThenFifo()
    {
        return Prop.ForAll(Gen.ListOf(Gen.Choose(0, 20)).ToArbitrary(), delays =>
        {
            var loop = new EventLoop();
            var log = new Log();
            for (int i = 0; i < delays.Count; i++)
                loop.Schedule(delays[i], log, 0, i);
            loop.Run();
            // OrderBy is stable.
            var expected = delays.Select((d, i) => ((long)d, (long)i)).OrderBy(t => t.Item1).ToList();
            return log.Seen.SequenceEqual(expected);
        });
    }

    [Fact]
    public void EventsScheduledDuringRun_AtTheSameTime_RunAfterThoseAlreadyQueued()
    {
        var loop = new EventLoop();
        var log = new Log();
        log.Then = (l, ev) =>
        {
            if (ev.Argument == 0)
                l.Schedule(0, log, 0, 2);
        };
        loop.Schedule(5, log, 0, 0);
        loop.Schedule(5, log, 0, 1);
        loop.Run();
        Assert.Equal(new[] { 0L, 1, 2 }, log.Seen.Select(s => s.Argument));
    }

    [Fact]
    public void Limits_EventsTimeAndStop()
    {
        var loop = new EventLoop { EventsMax = 3 };
        var log = new Log();
        for (int i = 0; i < 10; i++)
            loop.Schedule(i * 10, log, 0, i);
        Assert.Equal(StopReason.EventLimit, loop.Run());
        Assert.Equal(3, log.Seen.Count);
        loop.EventsMax = 100;
        Assert.Equal(StopReason.TimeLimit, loop.Run(timeLimit: 55));
        Assert.Equal(55, loop.Now);
        Assert.Equal(6, log.Seen.Count);
        log.Then = (l, ev) =>
        {
            if (ev.Argument == 7)
                l.Stop();
        };
        Assert.Equal(StopReason.Stopped, loop.Run());
        Assert.Equal(70, loop.Now);
        Assert.Equal(StopReason.Idle, loop.Run());
        Assert.Equal(10, log.Seen.Count);
        Assert.Equal(10, loop.EventsExecuted);
    }

    [Fact]
    public void Scheduling_InThePast_Throws()
    {
        var loop = new EventLoop();
        var log = new Log();
        loop.Schedule(100, log);
        loop.Run();
        Assert.Throws<ArgumentOutOfRangeException>(() => loop.Schedule(-1, log));
        Assert.Throws<ArgumentOutOfRangeException>(() => loop.ScheduleAt(99, log));
        Assert.False(loop.Step());
    }
}
