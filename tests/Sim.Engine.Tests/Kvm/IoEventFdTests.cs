using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Xunit;

namespace Sim.Engine.Tests.Kvm;

/// <summary>KVM_IOEVENTFD rules (Linux virt/kvm/eventfd.c: kvm_assign_ioeventfd_idx,
/// ioeventfd_check_collision, ioeventfd_in_range).</summary>
public sealed class IoEventFdTests
{
    private const ulong Doorbell = 0xFEB0_0000;

    private static (Sim.Machine.Simulation.Simulation Sim, EventFd Fd, ArrayDevice Dev) Setup()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        var dev = new ArrayDevice(0x1000);
        Assert.True(sim.Kvm.Mmio.TryRegister(Doorbell, 0x1000, dev, "doorbell"));
        return (sim, fd, dev);
    }

    private static void RunGuest(Sim.Machine.Simulation.Simulation sim, Func<GuestContext, IEnumerable<VcpuStep>> body)
    {
        sim.Kvm.Start(new ScriptProgram(body));
        sim.Run();
        Assert.True(sim.GuestExited);
    }

    [Fact]
    public void Length_MustBe0_1_2_4_8()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, _) = Setup();
        foreach (int bad in new[] { -1, 3, 5, 6, 7, 9, 16 })
        {
            Assert.False(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, bad, null, fd, out KvmError e));
            Assert.Equal(KvmError.InvalidArgument, e);
        }
        foreach (int good in new[] { 1, 2, 4, 8 })
        {
            Assert.True(
                sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell + (ulong)(good * 16), good, null, fd, out _)
            );
        }
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell + 0x200, 0, null, fd, out _));
    }

    [Fact]
    public void DataMatch_WithLengthZero_IsInvalid_AndOverflowIsInvalid()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, _) = Setup();
        Assert.False(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 0, 5, fd, out KvmError e));
        Assert.Equal(KvmError.InvalidArgument, e);
        Assert.False(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, ulong.MaxValue - 2, 4, null, fd, out e));
        Assert.Equal(KvmError.InvalidArgument, e);
        Assert.False(sim.Kvm.TryRegisterIoEventFd(BusKind.Pio, 0xFFFE, 4, null, fd, out e));
        Assert.Equal(KvmError.InvalidArgument, e);
    }

    [Fact]
    public void Duplicates_AreEEXIST_DistinctDataMatchesCoexist()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, _) = Setup();
        EventFd other = sim.CreateEventFd();
        KvmModel kvm = sim.Kvm;
        Assert.True(kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, 0, fd, out _));
        Assert.True(kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, 1, other, out _));
        Assert.True(kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 2, 0, other, out _)); // other length
        Assert.True(kvm.TryRegisterIoEventFd(BusKind.Pio, 0xC050, 4, 0, other, out _)); // other bus
        // Same datamatch.
        AssertExists(kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, 0, other, out KvmError e), e);
        // Wildcard vs datamatch.
        AssertExists(kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, null, other, out e), e);
        AssertExists(kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 0, null, other, out e), e); // any-length
        Assert.True(kvm.UnregisterIoEventFd(BusKind.Mmio, Doorbell, 4, 0, fd));
        Assert.False(kvm.UnregisterIoEventFd(BusKind.Mmio, Doorbell, 4, 0, fd));
        Assert.False(kvm.UnregisterIoEventFd(BusKind.Mmio, Doorbell, 4, null, other)); // flags must agree
        Assert.True(kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, 0, other, out _));
    }

    private static void AssertExists(bool ok, KvmError e)
    {
        Assert.False(ok);
        Assert.Equal(KvmError.AlreadyExists, e);
    }

    [Fact]
    public void MatchingWrite_SignalsInKernel_NoUserspaceExit()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, ArrayDevice dev) = Setup();
        RecordingSink sink = sim.Record();
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, 7, fd, out _));
        long cost = -1;
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.MmioWrite(Doorbell, 4, 7);
            cost = g.Cost;
            yield break;
        }
        RunGuest(sim, Body);
        Assert.Equal(sim.Kvm.Latency.IoEventFdNs, cost);
        Assert.Equal(1, sim.Counters.IoEventFdSignals);
        Assert.Equal(0, sim.Counters.MmioWriteExits);
        Assert.Empty(dev.Writes);
        Assert.Equal(1UL, fd.Counter);
        RecordedEvent io = Assert.Single(sink.Of(TraceEventKind.IoEventFd));
        Assert.Equal((fd.Id, Doorbell, 4UL), (io.Source, io.Address, io.Value));
        Assert.Equal(new byte[] { 7, 0, 0, 0 }, io.Data);
    }

    [Fact]
    public void WrongValueOrWidth_ExitsToUserspace_AndReachesTheDevice()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, ArrayDevice dev) = Setup();
        RecordingSink sink = sim.Record();
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, 7, fd, out _));
        long cost = -1;
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.MmioWrite(Doorbell, 4, 8); // wrong value
            g.MmioWrite(Doorbell, 2, 7); // wrong width
            g.MmioWrite(Doorbell + 4, 4, 7); // wrong address
            cost = g.Cost;
            yield break;
        }
        RunGuest(sim, Body);
        Assert.Equal(3 * sim.Kvm.Latency.UserspaceExitNs, cost);
        Assert.Equal(3, sim.Counters.MmioWriteExits);
        Assert.Equal(0, sim.Counters.IoEventFdSignals);
        Assert.Equal(0UL, fd.Counter);
        Assert.Equal(new ulong[] { 0, 0, 4 }, dev.Writes.Select(w => w.Offset));
        Assert.Equal(new byte[] { 7, 0 }, dev.Writes[1].Data);
        Assert.Equal(new[] { 4UL, 2UL, 4UL }, sink.Of(TraceEventKind.MmioWrite).Select(e => e.Value));
    }

    [Fact]
    public void DataMatch_ComparesTheZeroExtendedValue()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, _) = Setup();
        // A 1-byte ioeventfd whose datamatch has high bits can never match (ioeventfd_in_range
        // compares the zero-extended u8 with the u64 datamatch).
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 1, 0x1FF, fd, out _));
        EventFd low = sim.CreateEventFd();
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell + 8, 1, 0xFF, low, out _));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.MmioWrite(Doorbell, 1, 0xFF);
            g.MmioWrite(Doorbell + 8, 1, 0xFF);
            yield break;
        }
        RunGuest(sim, Body);
        Assert.Equal(0UL, fd.Counter);
        Assert.Equal(1UL, low.Counter);
        Assert.Equal(1, sim.Counters.MmioWriteExits);
    }

    [Fact]
    public void LengthZero_MatchesAnyWidthAtTheExactAddress()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, _) = Setup();
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 0, null, fd, out _));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.MmioWrite(Doorbell, 1, 1);
            g.MmioWrite(Doorbell, 8, 0x1234_5678_9ABC);
            g.MmioWrite(Doorbell + 1, 1, 1); // not the exact address
            yield break;
        }
        RunGuest(sim, Body);
        Assert.Equal(2UL, fd.Counter);
        Assert.Equal(1, sim.Counters.MmioWriteExits);
    }

    [Fact]
    public void Pio_IoEventFd_AbsorbsOut_ButNotIn()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        EventFd fd = sim.CreateEventFd();
        var dev = new ArrayDevice(0x20);
        Assert.True(sim.Kvm.Pio.TryRegister(0xC000, 0x20, dev, "legacy virtio"));
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Pio, 0xC010, 2, 0, fd, out _));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.PioOut(0xC010, 2, 0); // QUEUE_NOTIFY for queue 0
            _ = g.PioIn(0xC010, 2);
            yield break;
        }
        RunGuest(sim, Body);
        Assert.Equal(1UL, fd.Counter);
        Assert.Equal(0, sim.Counters.PioOutExits);
        Assert.Equal(1, sim.Counters.PioInExits);
        Assert.Single(dev.Reads);
    }

    [Fact]
    public void Unregistered_IoEventFd_NoLongerAbsorbs()
    {
        (Sim.Machine.Simulation.Simulation sim, EventFd fd, ArrayDevice dev) = Setup();
        Assert.True(sim.Kvm.TryRegisterIoEventFd(BusKind.Mmio, Doorbell, 4, null, fd, out _));
        Assert.True(sim.Kvm.UnregisterIoEventFd(BusKind.Mmio, Doorbell, 4, null, fd));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.MmioWrite(Doorbell, 4, 0);
            yield break;
        }
        RunGuest(sim, Body);
        Assert.Equal(0UL, fd.Counter);
        Assert.Single(dev.Writes);
    }
}
