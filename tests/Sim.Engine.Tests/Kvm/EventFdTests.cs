using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Xunit;

namespace Sim.Engine.Tests.Kvm;

public sealed class EventFdTests
{
    [Fact]
    public void Signals_CoalesceIntoOneRead()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        Assert.True(fd.Signal());
        Assert.True(fd.Signal(2));
        Assert.True(fd.Signal());
        Assert.True(fd.TryRead(out ulong value));
        Assert.Equal(4UL, value);
        Assert.False(fd.TryRead(out value)); // EAGAIN
        Assert.Equal(0UL, value);
        Assert.Equal(3, sim.Counters.EventFdSignals);
        Assert.Equal(1, sim.Counters.EventFdReads);
    }

    [Fact]
    public void Semaphore_ReadsOneAtATime()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd(semaphore: true);
        fd.Signal(3);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(fd.TryRead(out ulong v));
            Assert.Equal(1UL, v);
        }
        Assert.False(fd.TryRead(out _));
    }

    [Fact]
    public void Signal_RefusesToReachAllOnes()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        Assert.False(fd.Signal(ulong.MaxValue)); // EINVAL
        Assert.True(fd.Signal(EventFd.CounterMax));
        Assert.False(fd.Signal(1)); // would block: EAGAIN
        Assert.Equal(EventFd.CounterMax, fd.Counter);
        Assert.True(fd.Signal(0)); // a zero write succeeds
        Assert.True(fd.TryRead(out ulong v));
        Assert.Equal(EventFd.CounterMax, v);
    }

    [Fact]
    public void Listeners_WokenOnEverySignal_IdsInCreationOrder()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd a = sim.CreateEventFd();
        EventFd b = sim.CreateEventFd();
        Assert.Equal(0u, a.Id);
        Assert.Equal(1u, b.Id);
        var l = new CountingListener();
        b.AddListener(l);
        Assert.Throws<InvalidOperationException>(() => b.AddListener(l));
        b.Signal();
        b.Signal(0);
        Assert.Equal(2, l.Calls);
        Assert.True(b.RemoveListener(l));
        b.Signal();
        Assert.Equal(2, l.Calls);
    }

    [Fact]
    public void Trace_RecordsSignalAndRead()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        RecordingSink sink = sim.Record();
        EventFd fd = sim.CreateEventFd();
        fd.Signal(5);
        fd.TryRead(out _);
        Assert.Equal(
            new[] { (TraceEventKind.EventFdSignal, 0u, 5UL), (TraceEventKind.EventFdRead, 0u, 5UL) },
            sink.Events.Select(e => (e.Kind, e.Source, e.Value))
        );
    }
}
