using Sim.Devices.Tests.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Counter;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Sim.Devices.Tests.Counter;

public sealed class VirtioCounterDeviceTests
{
    private const long First = 1_000;
    private const long Period = 500;

    private static (VirtioRig Rig, VirtioCounterDevice Device) Create(
        Flavour flavour,
        VirtioPciMode mode = VirtioPciMode.Legacy
    )
    {
        VirtioCounterDevice? device = null;
        var options = new CounterDeviceOptions
        {
            Flavour = flavour,
            FirstDelayNs = First,
            PeriodNs = Period,
        };
        VirtioRig rig = VirtioRig.Create(
            sim => device = new VirtioCounterDevice(sim, options),
            mode,
            flavour,
            legacyPciId: CounterSpec.LegacyPciDeviceId
        );
        return (rig, device!);
    }

    private static uint Send(VirtioRig rig, params uint[] numbers)
    {
        GuestAddress buf = rig.Alloc((ulong)numbers.Length * 4);
        for (int i = 0; i < numbers.Length; i++)
            rig.Memory.TryWriteUInt32(new GuestAddress(buf.Value + ((ulong)i * 4)), numbers[i]);
        return rig.Roundtrip([new GuestBuffer(buf, (uint)numbers.Length * 4)], []);
    }

    [Fact]
    public void IdentityAndFeatures()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Robust);
        Assert.Equal(CounterSpec.LegacyPciDeviceId, rig.Transport.Ids.DeviceId);
        Assert.Equal(CounterSpec.DeviceId, d.DeviceId);
        Assert.NotEqual(0u, rig.ReadLegacy(L.LegacyHostFeatures, 4) & (1u << CounterSpec.FCanPrint));
        Assert.Equal((uint)CounterSpec.QueueSize, rig.ReadLegacy(L.LegacyQueueNum, 2));
    }

    [Fact]
    public void Seed_TimerRunsFromRealizeAndTicksBeforeDriverOkAreLost()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Seed);
        Assert.True(d.Timer.IsArmed);
        rig.Sim.Loop.Run(First + Period + 100);
        Assert.Equal(2u, d.Ticks);
        Assert.Equal(2, d.TicksLost);
        Assert.Equal(0, d.Isr);
        Assert.Equal(["==============set config:0", "==============set config:1"], d.Log);
        rig.Init();
        rig.Sim.Loop.Run(First + (2 * Period) + 100);
        Assert.Equal(1, d.ConfigInterrupts);
        // QEMU virtio_notify_config: ISR |= 3, so legacy INTx (driven by ISR bit 0) fires.
        Assert.True(rig.Transport.IntxAsserted);
        Assert.Equal(L.IsrQueue | L.IsrConfig, rig.ReadIsr());
    }

    [Fact]
    public void Robust_TimerStartsAtDriverOkOnly()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Robust);
        Assert.False(d.Timer.IsArmed);
        rig.Sim.Loop.Run(10 * Period);
        Assert.Equal(0u, d.Ticks);
        rig.Init();
        long start = rig.Sim.Now;
        rig.Sim.Loop.Run(start + Period - 1);
        Assert.Equal(0u, d.Ticks);
        rig.Sim.Loop.Run(start + Period);
        Assert.Equal(1u, d.Ticks);
        Assert.Equal(1, d.ConfigInterrupts);
        Assert.Equal(0, d.TicksLost);
        Assert.True(rig.Transport.IntxAsserted);
        Assert.Equal(L.IsrConfig, rig.ReadIsr()); // VIRTIO 1.2 §4.1.4.5: only the config bit
        rig.Sim.Loop.Run(start + (3 * Period));
        Assert.Equal(3u, d.Ticks);
    }

    [Fact]
    public void Spec_4_1_4_3_ModernConfigChangeBumpsGeneration()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Robust, VirtioPciMode.Modern);
        rig.Init();
        byte before = d.ConfigGeneration;
        rig.Sim.Loop.Run(rig.Sim.Now + Period);
        Assert.Equal(1u, d.Ticks);
        Assert.NotEqual(before, d.ConfigGeneration);
    }

    [Fact]
    public void Seed_ResetNeitherStopsTheTimerNorClearsTheCounter()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Seed);
        rig.Init();
        rig.Sim.Loop.Run(First + Period);
        Assert.Equal(2u, d.Ticks);
        Assert.Equal(2, d.ConfigInterrupts);
        rig.Reset();
        Assert.True(d.Timer.IsArmed);
        rig.Sim.Loop.Run(First + (3 * Period));
        Assert.Equal(4u, d.Ticks);
        Assert.Equal(2, d.ConfigInterrupts); // no DRIVER_OK: the ticks go nowhere
        Assert.Equal(2, d.TicksLost);
        Assert.Equal("==============set config:3", d.Log[^1]);
        rig.Init();
        rig.Sim.Loop.Run(First + (4 * Period));
        Assert.Equal(3, d.ConfigInterrupts);
    }

    [Fact]
    public void Robust_ResetStopsTheTimerAndClearsTheCounter()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Robust);
        rig.Init();
        rig.Sim.Loop.Run(rig.Sim.Now + (2 * Period));
        Assert.Equal(2u, d.Ticks);
        rig.Reset();
        Assert.False(d.Timer.IsArmed);
        Assert.Equal(0u, d.Ticks);
        rig.Sim.Loop.Run(rig.Sim.Now + (10 * Period));
        Assert.Equal(0u, d.Ticks);
        rig.Init();
        rig.Sim.Loop.Run(rig.Sim.Now + Period);
        Assert.Equal("==============set config:0", d.Log[^1]);
    }

    [Theory]
    [InlineData(Flavour.Robust, 0u)]
    [InlineData(Flavour.Seed, 4u)]
    public void OneNumberIsLoggedAndPushed(Flavour flavour, uint expectedLen)
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(flavour);
        rig.Init();
        Assert.Equal(expectedLen, Send(rig, 7));
        Assert.Equal(["=========get virtio num:7"], d.Log);
        Assert.Equal([7u], d.Received);
        Assert.Equal(1, d.Requests);
        Assert.Equal(L.IsrQueue, rig.ReadIsr());
    }

    [Theory]
    [InlineData(Flavour.Robust, 0u)]
    [InlineData(Flavour.Seed, 12u)]
    public void SeveralNumbersAcrossBuffers(Flavour flavour, uint expectedLen)
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(flavour);
        rig.Init();
        GuestAddress a = rig.Alloc(4);
        GuestAddress b = rig.Alloc(8);
        rig.Memory.TryWriteUInt32(a, 1);
        rig.Memory.TryWriteUInt32(b, 0xFFFF_FFFF);
        rig.Memory.TryWriteUInt32(new GuestAddress(b.Value + 4), 3);
        Assert.Equal(expectedLen, rig.Roundtrip([new GuestBuffer(a, 4), new GuestBuffer(b, 8)], []));
        Assert.Equal([1u, 0xFFFF_FFFFu, 3u], d.Received);
        Assert.Equal("=========get virtio num:-1", d.Log[1]); // printed with %d
    }

    [Fact]
    public void Robust_NumbersPastTheFullLog_AreCountedAsDropped_WithoutAllocatingALineEach()
    {
        VirtioCounterDevice? device = null;
        var options = new CounterDeviceOptions
        {
            Flavour = Flavour.Robust,
            FirstDelayNs = First,
            PeriodNs = Period,
            LogLinesMax = 2,
        };
        VirtioRig rig = VirtioRig.Create(
            sim => device = new VirtioCounterDevice(sim, options),
            VirtioPciMode.Legacy,
            Flavour.Robust,
            legacyPciId: CounterSpec.LegacyPciDeviceId
        );
        VirtioCounterDevice d = device!;
        rig.Init();
        Send(rig, 1, 2, 3, 4, 5);
        Assert.Equal(["=========get virtio num:1", "=========get virtio num:2"], d.Log);
        Assert.Equal(3, d.LogLinesDropped);
        Assert.Equal(5, d.NumbersReceived);
        // A guest streaming numbers into a full log (camp1h resource finding: 70 MB in one fuzz execution): a
        // formatted line is at least 70 bytes, so 2048 of them would be over 140 KB; the request itself is far less.
        uint[] many = new uint[2048];
        Send(rig, many); // warm up the path
        long before = GC.GetAllocatedBytesForCurrentThread();
        Send(rig, many);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(3 + (2 * 2048), d.LogLinesDropped);
        Assert.True(allocated < 2048 * 16, $"{allocated} bytes allocated for 2048 numbers past the full log");
    }

    [Fact]
    public void Seed_RaggedTailIsIgnored()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Seed);
        rig.Init();
        GuestAddress a = rig.Alloc(6);
        rig.Memory.TryWriteUInt32(a, 9);
        Assert.Equal(4u, rig.Roundtrip([new GuestBuffer(a, 6)], []));
        Assert.Equal([9u], d.Received);
        Assert.Equal(2, d.TailBytesIgnored);
    }

    [Fact]
    public void Robust_RaggedTailBreaksTheDevice()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Robust);
        rig.Init();
        GuestAddress a = rig.Alloc(6);
        rig.Add([new GuestBuffer(a, 6)], []);
        rig.Kick();
        Assert.True(d.IsBroken);
        Assert.Empty(d.Received);
        Assert.False(rig.TryUsed(out _, out _));
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void RequestWithoutNumbers(Flavour flavour)
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(flavour);
        rig.Init();
        GuestAddress a = rig.Alloc(4);
        rig.Add([], [new GuestBuffer(a, 4)]);
        rig.Kick();
        if (flavour == Flavour.Robust)
        {
            Assert.True(d.IsBroken);
        }
        else
        {
            Assert.True(rig.TryUsed(out _, out uint len));
            Assert.Equal(0u, len);
            Assert.Equal(1, d.Requests);
        }
    }

    [Fact]
    public void HugeRequestIsBounded()
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(Flavour.Seed);
        rig.Init();
        GuestAddress a = rig.Alloc(64 * 1024);
        Assert.Equal(
            (uint)CounterDeviceOptions.NumbersPerRequestMax * 4,
            rig.Roundtrip([new GuestBuffer(a, 64 * 1024)], [])
        );
        Assert.Equal(CounterDeviceOptions.NumbersPerRequestMax, d.NumbersReceived);
    }

    [Theory]
    [InlineData(Flavour.Robust, 0u)]
    [InlineData(Flavour.Seed, VirtioCounterDevice.SeedUninitialisedNumPages)]
    public void ConfigNumPagesAndDriverWrites(Flavour flavour, uint numPages)
    {
        (VirtioRig rig, VirtioCounterDevice d) = Create(flavour);
        rig.Init();
        Assert.Equal(numPages, rig.ReadConfig(CounterSpec.ConfigNumPagesOffset, 4));
        rig.WriteConfig(CounterSpec.ConfigNumPagesOffset, 4, 42);
        Assert.Equal(numPages, rig.ReadConfig(CounterSpec.ConfigNumPagesOffset, 4));
        rig.WriteConfig(CounterSpec.ConfigActualOffset, 4, 5);
        rig.WriteConfig(CounterSpec.ConfigEventOffset, 4, 6);
        Assert.Equal(5u, d.Actual);
        Assert.Equal(6UL, rig.ReadConfig(CounterSpec.ConfigEventOffset, 4));
        rig.Reset();
        Assert.Equal(flavour == Flavour.Seed ? 5u : 0u, d.Actual);
    }

    [Fact]
    public void TicksMaxBoundsTheSeedTimer()
    {
        VirtioCounterDevice? device = null;
        VirtioRig rig = VirtioRig.Create(sim =>
            device = new VirtioCounterDevice(
                sim,
                new CounterDeviceOptions
                {
                    Flavour = Flavour.Seed,
                    FirstDelayNs = 0,
                    PeriodNs = 1,
                    TicksMax = 5,
                }
            )
        );
        Assert.Equal(Sim.Engine.Time.StopReason.Idle, rig.Sim.Loop.Run());
        Assert.Equal(5u, device!.Ticks);
    }
}
