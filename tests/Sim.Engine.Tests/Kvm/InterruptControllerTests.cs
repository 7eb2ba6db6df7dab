using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Xunit;

namespace Sim.Engine.Tests.Kvm;

public sealed class InterruptControllerTests
{
    private static InterruptController Chip(out Sim.Machine.Simulation.Simulation sim)
    {
        sim = KvmTestKit.NewSimulation();
        return sim.Kvm.Irqchip;
    }

    [Fact]
    public void Acknowledge_NeedsIF_AndTakesLowestGsiFirst()
    {
        InterruptController chip = Chip(out Sim.Machine.Simulation.Simulation sim);
        RecordingSink sink = sim.Record();
        Assert.True(chip.Pulse(7));
        Assert.True(chip.Pulse(3));
        Assert.False(chip.TryAcknowledge(out _)); // IF=0
        chip.InterruptsEnabled = true;
        Assert.True(chip.TryAcknowledge(out uint first));
        Assert.True(chip.TryAcknowledge(out uint second));
        Assert.False(chip.TryAcknowledge(out _));
        Assert.Equal((3u, 7u), (first, second));
        Assert.Equal(
            new[] { (7UL, 0x27UL), (3UL, 0x23UL) },
            sink.Of(TraceEventKind.IrqInject).Select(e => (e.Address, e.Value))
        );
    }

    [Fact]
    public void Masked_RequestWaitsForUnmask()
    {
        InterruptController chip = Chip(out _);
        chip.InterruptsEnabled = true;
        chip.SetMasked(4, true);
        chip.Pulse(4);
        Assert.True(chip.IsPending(4));
        Assert.False(chip.CanDeliver);
        chip.SetMasked(4, false);
        Assert.True(chip.TryAcknowledge(out uint gsi));
        Assert.Equal(4u, gsi);
    }

    [Fact]
    public void InService_BlocksSameGsiUntilEoi_SpuriousEoiIgnored()
    {
        InterruptController chip = Chip(out Sim.Machine.Simulation.Simulation sim);
        chip.InterruptsEnabled = true;
        Assert.False(chip.Eoi(2)); // nothing in service
        Assert.False(chip.Eoi(1000));
        chip.Pulse(2);
        Assert.True(chip.TryAcknowledge(out _));
        chip.Pulse(2); // latched again while in service
        Assert.False(chip.TryAcknowledge(out _));
        Assert.True(chip.Eoi(2));
        Assert.True(chip.TryAcknowledge(out uint gsi));
        Assert.Equal(2u, gsi);
        Assert.Equal(1, sim.Counters.Eois);
    }

    [Fact]
    public void Edge_RaiseOfAHighLineIsNoNewEdge()
    {
        InterruptController chip = Chip(out Sim.Machine.Simulation.Simulation sim);
        Assert.True(chip.Raise(9));
        Assert.False(chip.Raise(9));
        chip.Lower(9);
        Assert.True(chip.IsPending(9)); // an edge request survives the line going low
        Assert.False(chip.Pulse(9)); // already pending: coalesced
        Assert.Equal(1, sim.Counters.InterruptsInjected);
        Assert.Equal(2, sim.Counters.InterruptsCoalesced);
    }

    [Fact]
    public void Level_LowerWithdrawsRequest_EoiWhileHighReRequests()
    {
        InterruptController chip = Chip(out _);
        chip.InterruptsEnabled = true;
        chip.SetLevelTriggered(11, true);
        chip.Raise(11);
        chip.Lower(11);
        Assert.False(chip.IsPending(11));
        chip.Raise(11);
        Assert.True(chip.TryAcknowledge(out _));
        Assert.True(chip.Eoi(11)); // line still high: requested again (IOAPIC remote IRR)
        Assert.True(chip.IsPending(11));
        Assert.True(chip.TryAcknowledge(out _));
        chip.Lower(11);
        Assert.True(chip.Eoi(11));
        Assert.False(chip.IsPending(11));
    }

    [Fact]
    public void InvalidGsi_FromHostCode_Throws()
    {
        InterruptController chip = Chip(out _);
        Assert.Throws<ArgumentOutOfRangeException>(() => chip.Raise(InterruptController.GsiMax));
        Assert.Equal(0x25u, InterruptController.VectorOf(5));
    }
}
