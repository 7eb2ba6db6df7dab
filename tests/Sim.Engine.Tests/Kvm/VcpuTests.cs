using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Xunit;

namespace Sim.Engine.Tests.Kvm;

public sealed class VcpuTests
{
    private sealed class PulseOnTimer : ITimerListener
    {
        private readonly Sim.Machine.Simulation.Simulation _sim;
        private readonly uint _gsi;

        public PulseOnTimer(Sim.Machine.Simulation.Simulation sim, uint gsi)
        {
            _sim = sim;
            _gsi = gsi;
        }

        public void OnTimer(VirtualTimer timer) => _sim.Kvm.Irqchip.Pulse(_gsi);
    }

    [Fact]
    public void Halt_WithNoInterruptSource_BlocksForever()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        RecordingSink sink = sim.Record();
        bool after = false;
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            yield return VcpuStep.Halt;
            after = true;
        }
        sim.Kvm.Start(new ScriptProgram(Body));
        Assert.Equal(StopReason.Idle, sim.Run());
        Assert.False(after);
        Assert.Equal(VcpuState.Halted, sim.Kvm.Vcpu.State);
        Assert.Equal(1, sim.Counters.Halts);
        Assert.Equal(1UL, Assert.Single(sink.Of(TraceEventKind.Halt)).Value);
    }

    [Fact]
    public void Halt_BlocksUntilTimerInterrupt_ThenHandlerRunsBeforeTheProgramContinues()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        var order = new List<string>();
        long resumedAt = -1;
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            yield return VcpuStep.Halt;
            order.Add("program");
            resumedAt = g.Now;
        }
        var program = new ScriptProgram(Body, (g, gsi) =>
        {
            order.Add("handler");
            Assert.False(g.InterruptsEnabled); // interrupt gate
            g.Eoi(gsi);
        });
        sim.CreateTimer(new PulseOnTimer(sim, 3)).Start(10_000);
        sim.Kvm.Start(program);
        sim.Run();
        LatencyModel l = sim.Kvm.Latency;
        Assert.Equal(new[] { "handler", "program" }, order);
        Assert.Equal(10_000 + l.HaltWakeupNs + l.InterruptDeliveryNs + l.EoiNs, resumedAt);
        Assert.Equal(1, sim.Counters.TimerFirings);
        Assert.Equal(1, sim.Counters.InterruptsDelivered);
    }

    [Fact]
    public void Halt_WithInterruptAlreadyPending_DoesNotBlock()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        RecordingSink sink = sim.Record();
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            sim.Kvm.Irqchip.Pulse(4); // a device line raised while IF=0
            yield return VcpuStep.Halt;
        }
        var program = new ScriptProgram(Body);
        sim.Kvm.Start(program);
        sim.Run();
        Assert.Equal(0UL, Assert.Single(sink.Of(TraceEventKind.Halt)).Value);
        Assert.Single(program.Interrupts);
        Assert.True(sim.GuestExited);
    }

    [Fact]
    public void InterruptsDisabled_DeferDeliveryUntilSti()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        var log = new List<string>();
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.DisableInterrupts();
            sim.Kvm.Irqchip.Pulse(6);
            yield return VcpuStep.Compute(1000);
            log.Add("cli section done");
            g.EnableInterrupts();
            yield return VcpuStep.Yield;
            log.Add("after sti");
        }
        var program = new ScriptProgram(Body, (g, gsi) =>
        {
            log.Add("irq");
            g.Eoi(gsi);
        });
        sim.Kvm.Start(program);
        sim.Run();
        Assert.Equal(new[] { "cli section done", "irq", "after sti" }, log);
    }

    [Fact]
    public void Steps_AreChargedTheirCosts()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        var times = new List<long>();
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            times.Add(sim.Now);
            g.PioOut(0x80, 1, 0); // unmapped port: still a userspace exit
            yield return VcpuStep.Compute(300);
            times.Add(sim.Now);
        }
        sim.Kvm.Start(new ScriptProgram(Body));
        sim.Run();
        LatencyModel l = sim.Kvm.Latency;
        Assert.Equal(new[] { 0, l.UserspaceExitNs + l.GuestStepNs + 300 }, times);
        Assert.Equal(1, sim.Counters.UnmappedAccesses);
    }

    [Fact]
    public void Exits_ReturnDeviceBytes_AndAreTraced()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        RecordingSink sink = sim.Record();
        var dev = new ArrayDevice(0x10);
        dev.Bytes[4] = 0x78;
        dev.Bytes[5] = 0x56;
        dev.Bytes[6] = 0x34;
        dev.Bytes[7] = 0x12;
        Assert.True(sim.Kvm.Mmio.TryRegister(0xE000_0000, 0x10, dev, "regs"));
        var values = new List<ulong>();
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            values.Add(g.MmioRead(0xE000_0004, 4));
            values.Add(g.MmioRead(0xE000_0004, 2));
            values.Add(g.MmioRead(0xF000_0000, 4)); // unmapped
            values.Add(g.PioIn(0x60, 1)); // unmapped
            g.DebugWrite(0xCAFE);
            g.PioOut(0x70, 1, 0x8F);
            yield break;
        }
        sim.Kvm.Start(new ScriptProgram(Body));
        sim.Run();
        Assert.Equal(new ulong[] { 0x1234_5678, 0x5678, 0xFFFF_FFFF, 0xFF }, values);
        Assert.Equal(new byte[] { 0x78, 0x56, 0x34, 0x12 }, sink.Of(TraceEventKind.MmioRead).First().Data);
        Assert.Equal(3, sim.Counters.MmioReadExits);
        Assert.Equal(1, sim.Counters.PioInExits);
        Assert.Equal(2, sim.Counters.PioOutExits);
        RecordedEvent debug = Assert.Single(sink.Of(TraceEventKind.DebugPort));
        Assert.Equal((0xE9UL, 0xCAFEUL), (debug.Address, debug.Value));
        Assert.Equal(new ulong[] { 0xCAFE }, sim.DebugValues);
        RecordedEvent pio = Assert.Single(sink.Of(TraceEventKind.PioOut));
        Assert.Equal((0x70UL, 1UL), (pio.Address, pio.Value));
        Assert.Equal(new byte[] { 0x8F }, pio.Data);
    }

    [Fact]
    public void BadAccessSizeOrValue_IsAHostBug()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => g.MmioRead(0, 3));
            Assert.Throws<ArgumentOutOfRangeException>(() => g.MmioWrite(0, 1, 0x100));
            yield break;
        }
        sim.Kvm.Start(new ScriptProgram(Body));
        sim.Run();
        Assert.True(sim.GuestExited);
    }

    private sealed class DmaDevice : IBusDevice
    {
        private readonly GuestMemory _memory;

        public DmaDevice(GuestMemory memory) => _memory = memory;

        public void Read(BusKind bus, ulong offset, Span<byte> data) => data.Clear();

        public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data) =>
            _memory.TryWriteUInt8(new GuestAddress(0x200), data[0]);
    }

    [Fact]
    public void MemoryAccesses_AttributedToGuestOrDevice()
    {
        Sim.Machine.Simulation.Simulation sim = KvmTestKit.NewSimulation();
        RecordingSink sink = sim.Record();
        Assert.True(sim.Kvm.Mmio.TryRegister(0xE000_0000, 0x10, new DmaDevice(sim.Memory), "dma"));
        IEnumerable<VcpuStep> Body(GuestContext g)
        {
            g.Memory.TryWriteUInt32(new GuestAddress(0x100), 0xAABBCCDD);
            g.Memory.TryReadUInt32(new GuestAddress(0x100), out _); // guest reads are not traced
            g.MmioWrite(0xE000_0000, 1, 0x42);
            g.Memory.TryWriteUInt8(new GuestAddress(0x101), 1);
            yield break;
        }
        sim.Kvm.Start(new ScriptProgram(Body));
        sim.Run();
        var memEvents = sink
            .Events.Where(e =>
                e.Kind is TraceEventKind.GuestWrite or TraceEventKind.DeviceWrite or TraceEventKind.DeviceRead
            )
            .Select(e => (e.Kind, e.Address))
            .ToArray();
        Assert.Equal(
            new[]
            {
                (TraceEventKind.GuestWrite, 0x100UL),
                (TraceEventKind.DeviceWrite, 0x200UL),
                (TraceEventKind.GuestWrite, 0x101UL),
            },
            memEvents
        );
        Assert.Equal(MemoryActor.Device, sim.Memory.Actor); // restored after the step
    }
}
