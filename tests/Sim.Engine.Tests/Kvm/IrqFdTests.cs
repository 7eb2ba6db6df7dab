using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Xunit;

namespace Sim.Engine.Tests.Kvm;

/// <summary>KVM_IRQFD (Linux virt/kvm/eventfd.c: irqfd_wakeup, irqfd_inject, irqfd_resampler_ack).</summary>
public sealed class IrqFdTests
{
    private static IEnumerable<VcpuStep> HaltOnce(GuestContext g)
    {
        yield return VcpuStep.Halt;
    }

    [Fact]
    public void Edge_SignalInjectsAfterLatency_AndWakesTheHaltedVcpu()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        RecordingSink sink = sim.Record();
        EventFd fd = sim.CreateEventFd();
        Assert.True(sim.Kvm.TryRegisterIrqFd(fd, 5, null, out _));
        var program = new ScriptProgram(HaltOnce);
        sim.Kvm.Start(program);
        fd.Signal();
        sim.Run();
        LatencyModel l = sim.Kvm.Latency;
        RecordedEvent inject = Assert.Single(sink.Of(TraceEventKind.IrqInject));
        Assert.Equal(l.IrqFdInjectNs, inject.Time);
        Assert.Equal((5UL, 0x25UL, 1u), (inject.Address, inject.Value, inject.Source));
        (uint gsi, long time) = Assert.Single(program.Interrupts);
        Assert.Equal(5u, gsi);
        Assert.Equal(l.IrqFdInjectNs + l.HaltWakeupNs + l.InterruptDeliveryNs, time);
        Assert.Equal(0UL, fd.Counter); // irqfd consumed the count
        Assert.False(sim.Kvm.Irqchip.IsAsserted(5));
        Assert.Equal(1, sim.Counters.Halts);
        Assert.Equal(1, sim.Counters.Eois);
    }

    [Fact]
    public void Edge_SignalsBeforeInjection_Coalesce()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        Assert.True(sim.Kvm.TryRegisterIrqFd(fd, 5, null, out _));
        var program = new ScriptProgram(HaltOnce);
        sim.Kvm.Start(program);
        fd.Signal();
        fd.Signal();
        fd.Signal();
        sim.Run();
        Assert.Single(program.Interrupts);
        Assert.Equal(1, sim.Counters.InterruptsInjected);
        Assert.Equal(3, sim.Counters.EventFdSignals);
    }

    [Fact]
    public void Level_WithResample_StaysAssertedUntilEoi_ThenSignalsResampleFd()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        EventFd resample = sim.CreateEventFd();
        Assert.True(sim.Kvm.TryRegisterIrqFd(fd, 10, resample, out _));
        InterruptController chip = sim.Kvm.Irqchip;
        Assert.True(chip.IsLevelTriggered(10));
        var seen =
            new List<(bool AssertedBeforeEoi, ulong ResampleBefore, bool AssertedAfterEoi, ulong ResampleAfter)>();
        var program = new ScriptProgram(HaltOnce, (g, gsi) =>
        {
            bool before = chip.IsAsserted(gsi);
            ulong rb = resample.Counter;
            g.Eoi(gsi);
            seen.Add((before, rb, chip.IsAsserted(gsi), resample.Counter));
        });
        sim.Kvm.Start(program);
        fd.Signal();
        sim.Run();
        Assert.Equal((true, 0UL, false, 1UL), Assert.Single(seen));
        Assert.False(chip.IsPending(10)); // lowered by the resampler before the EOI re-check
    }

    [Fact]
    public void Register_Errors()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        Assert.False(sim.Kvm.TryRegisterIrqFd(fd, InterruptController.GsiMax, null, out KvmError e));
        Assert.Equal(KvmError.InvalidArgument, e);
        Assert.True(sim.Kvm.TryRegisterIrqFd(fd, 5, null, out _));
        Assert.False(sim.Kvm.TryRegisterIrqFd(fd, 6, null, out e));
        Assert.Equal(KvmError.Busy, e);
        Assert.False(sim.Kvm.UnregisterIrqFd(fd, 6));
        Assert.True(sim.Kvm.UnregisterIrqFd(fd, 5));
        fd.Signal();
        sim.Run();
        Assert.Equal(0, sim.Counters.InterruptsInjected);
        Assert.Equal(1UL, fd.Counter); // nobody consumed it
    }

    [Fact]
    public void Register_WithPendingCount_InjectsAtOnce()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        fd.Signal();
        Assert.True(sim.Kvm.TryRegisterIrqFd(fd, 5, null, out _));
        sim.Run();
        Assert.True(sim.Kvm.Irqchip.IsPending(5));
    }
}
