using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Transport;
using Sim.Machine.Simulation;
using Sim.Scenarios;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Fuzz.Tests.Oracles;

/// <summary>The offered-features oracle (<see cref="FeatureOracle"/>), the counter's timer oracle
/// (<see cref="TimerTickOracle"/>) and the blk fuzz disk's initial image (issue 12: device-area mutants that no oracle
/// or input shape reached).</summary>
public sealed class FeatureTimerDiskOracleTests
{
    private readonly ITestOutputHelper _output;

    public FeatureTimerDiskOracleTests(ITestOutputHelper output) => _output = output;

    private static VirtioStatus AckDriver => VirtioStatus.Acknowledge | VirtioStatus.Driver;

    [Fact]
    public void Offered_Demo_IsTheTransportBitsOnly_PerWindow()
    {
        (FeatureOracle oracle, FuzzContext context, _) = Demo();
        oracle.JudgeOffered(0, (1u << VirtioSpec.FIndirectDesc) | (1u << VirtioSpec.FEventIdx));
        oracle.JudgeOffered(1, 1); // VERSION_1 is bit 32
        oracle.JudgeOffered(2, 0); // QEMU: a window above 1 reads 0
        Assert.Null(context.Finding);
        oracle.JudgeOffered(0, (1u << VirtioSpec.FIndirectDesc) | (1u << VirtioSpec.FEventIdx) | 1);
        Assert.Equal("features/offered", context.Finding?.Site);
    }

    [Fact]
    public void Offered_AWindowAboveOne_ThatIsNotZero_Fires()
    {
        (FeatureOracle oracle, FuzzContext context, _) = Demo();
        oracle.JudgeOffered(7, 1);
        Assert.Equal("features/offered", context.Finding?.Site);
    }

    [Fact]
    public void Handshake_AcceptingAnUnofferedBit_FiresAccepted()
    {
        (FeatureOracle oracle, FuzzContext context, VirtioDevice device) = Demo();
        // The robust transport keeps the driver's unoffered bit until FEATURES_OK refuses it.
        var rig = new QemuBackendRig(RingSimulation.Create(1000), device);
        rig.Common(L.CommonDeviceStatus, 1, (ulong)AckDriver);
        rig.Common(L.CommonDriverFeatureSelect, 4, 0);
        rig.Common(L.CommonDriverFeature, 4, 1); // bit 0: not offered by the demo
        rig.Common(L.CommonDriverFeatureSelect, 4, 1);
        rig.Common(L.CommonDriverFeature, 4, 1); // VERSION_1
        var ok = (byte)(AckDriver | VirtioStatus.FeaturesOk);
        oracle.JudgeStatusWrite(AckDriver, ok, AckDriver); // refused, as it must be
        Assert.Null(context.Finding);
        oracle.JudgeStatusWrite(AckDriver, ok, AckDriver | VirtioStatus.FeaturesOk);
        Assert.Equal("features/accepted", context.Finding?.Site);
    }

    [Fact]
    public void Handshake_RefusingOfferedBits_FiresRefused_AndLegacyIsNotJudged()
    {
        (FeatureOracle oracle, FuzzContext context, VirtioDevice device) = Demo();
        var rig = new QemuBackendRig(RingSimulation.Create(1000), device);
        rig.Common(L.CommonDeviceStatus, 1, (ulong)AckDriver);
        var ok = (byte)(AckDriver | VirtioStatus.FeaturesOk);
        oracle.JudgeStatusWrite(AckDriver, ok, AckDriver); // no VERSION_1: legacy negotiation, nothing validated
        Assert.Null(context.Finding);
        rig.Common(L.CommonDriverFeatureSelect, 4, 1);
        rig.Common(L.CommonDriverFeature, 4, 1); // VERSION_1 alone, offered
        oracle.JudgeStatusWrite(AckDriver, ok, AckDriver);
        Assert.Equal("features/refused", context.Finding?.Site);
    }

    /// <summary>The real transport and a correct robust device agree with the oracle through a whole handshake that
    /// asks for an unoffered bit: FEATURES_OK is refused and read back clear.</summary>
    [Fact]
    public void Transport_RefusesAnUnofferedBit_AndTheOracleAgrees()
    {
        Simulation sim = RingSimulation.Create(1000);
        var device = new VirtioDemoDevice(Flavour.Robust);
        var rig = new QemuBackendRig(sim, device);
        var context = new FuzzContext();
        var oracle = new FeatureOracle();
        oracle.Begin(device, Flavour.Robust, context);
        rig.Common(L.CommonDeviceStatus, 1, 0);
        rig.Common(L.CommonDeviceStatus, 1, (ulong)AckDriver);
        rig.Common(L.CommonDriverFeatureSelect, 4, 0);
        rig.Common(L.CommonDriverFeature, 4, 1u << 3);
        rig.Common(L.CommonDriverFeatureSelect, 4, 1);
        rig.Common(L.CommonDriverFeature, 4, 1);
        VirtioStatus before = rig.ReadStatus();
        var ok = (byte)(AckDriver | VirtioStatus.FeaturesOk);
        rig.Common(L.CommonDeviceStatus, 1, ok);
        VirtioStatus after = rig.ReadStatus();
        Assert.Equal(VirtioStatus.None, after & VirtioStatus.FeaturesOk);
        oracle.JudgeStatusWrite(before, ok, after);
        Assert.Null(context.Finding);
        Assert.Equal(1, oracle.RefusalsTotal);
    }

    /// <summary>The robust counter built the fuzz target's way ticks every period from DRIVER_OK; the reference
    /// agrees over runs that end inside a period and exactly on a tick, across a DRIVER_OK clear and set, and across
    /// a reset (the sequence restarts at 0).</summary>
    [Fact]
    public void CounterTicks_FollowTheReference_AcrossStatusChangesAndReset()
    {
        Simulation sim = RingSimulation.Create(100_000);
        VirtioDevice device = DeviceCatalog.Find("virtio-counter")!.CreateVirtio!(sim, Flavour.Robust);
        var counter = (VirtioCounterDevice)device;
        Assert.Equal(DeviceCatalog.CounterFuzzPeriodNs, counter.Options.PeriodNs);
        var rig = new QemuBackendRig(sim, device);
        var context = new FuzzContext();
        var oracle = new TimerTickOracle();
        oracle.Begin(device, Flavour.Robust, context, sim.Now);
        rig.Initialize(false, true, 8, 0x1000, 0x2000, 0x3000);
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        const long P = DeviceCatalog.CounterFuzzPeriodNs;
        sim.Loop.Run(sim.Now + (2 * P) + (P / 2)); // two ticks, ends inside a period
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        sim.Loop.Run(sim.Now + (P / 2)); // ends exactly on the third tick
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        Assert.Null(context.Finding);
        Assert.Equal(3u, counter.Ticks);
        // DRIVER_OK cleared: no ticks; set again: armed one period later, the sequence goes on.
        rig.Common(L.CommonDeviceStatus, 1, (ulong)(AckDriver | VirtioStatus.FeaturesOk));
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        sim.Loop.Run(sim.Now + (3 * P));
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        rig.Common(L.CommonDeviceStatus, 1, (ulong)(AckDriver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk));
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        sim.Loop.Run(sim.Now + P);
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        Assert.Equal(4u, counter.Ticks);
        // A reset restarts set_config at 0.
        rig.Initialize(false, true, 8, 0x1000, 0x2000, 0x3000);
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        sim.Loop.Run(sim.Now + (2 * P));
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        Assert.Null(context.Finding);
        Assert.Equal("==============set config:1", counter.Log[^1]);
        Assert.Equal(6, oracle.TicksJudgedTotal);
    }

    /// <summary>A counter whose timer is not re-armed after its first tick is caught (a test double for the broken
    /// re-arm: the timer is cancelled after the first tick).</summary>
    [Fact]
    public void CounterTicks_MissingTick_FiresTicks()
    {
        Simulation sim = RingSimulation.Create(100_000);
        var counter = new VirtioCounterDevice(
            sim,
            new CounterDeviceOptions { Flavour = Flavour.Robust, PeriodNs = 300_000 }
        );
        var rig = new QemuBackendRig(sim, counter);
        var context = new FuzzContext();
        var oracle = new TimerTickOracle();
        oracle.Begin(counter, Flavour.Robust, context, sim.Now);
        rig.Initialize(false, true, 8, 0x1000, 0x2000, 0x3000);
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        sim.Loop.Run(sim.Now + 400_000); // the first tick
        oracle.AfterOp(sim.Now, sim.Now, rig.ConfigGeneration());
        Assert.Null(context.Finding);
        counter.Timer.Cancel(); // not re-armed: the next period's tick never comes
        // Nothing is queued now, so the loop's clock stays at its last event: the oracle counts to the run's limit.
        long limit = sim.Now + 700_000;
        sim.Loop.Run(limit);
        oracle.AfterOp(limit, sim.Now, rig.ConfigGeneration());
        Assert.Equal("timer/ticks", context.Finding?.Site);
    }

    /// <summary>The blk fuzz disk starts from the pattern (non-zero, no byte of the taint oracle's poison range), and
    /// a device whose disk lost its image is caught by the response model on the first read of data the guest never
    /// wrote.</summary>
    [Fact]
    public void BlkImage_IsNonZeroPattern_AndAZeroedDiskIsCaught()
    {
        ReadOnlySpan<byte> image = DeviceCatalog.BlkFuzzImage.Span;
        Assert.Equal((int)DeviceCatalog.BlkFuzzDiskBytes, image.Length);
        Assert.DoesNotContain(image.ToArray(), b => b == 0 || b >= 0x80);
        Assert.False(image[..512].SequenceEqual(image.Slice(512, 512)), "sectors must differ");
        byte[] readSector0 = BlkSeeds.All().First(); // IN of sector 0, 512 bytes
        var zeroed = new VirtioBackendTarget(
            "virtio-blk",
            Flavour.Robust,
            "test: a disk that lost its image",
            (_, fl) =>
                new VirtioBlkDevice(
                    new MemoryBlockBackend(DeviceCatalog.BlkFuzzDiskBytes),
                    new BlkDeviceOptions { Flavour = fl }
                ),
            UsedLenRule.Offered,
            initialDisk: DeviceCatalog.BlkFuzzImage
        );
        var context = new FuzzContext();
        zeroed.Execute(readSector0, context);
        _output.WriteLine($"judged {zeroed.ResponsesJudged}; {Convert.ToHexString(readSector0)}");
        Assert.Equal("response/blk-data", context.Finding?.Site);
        IFuzzTarget good = FuzzTargets.Create("virtio-blk-qemu-robust")!;
        context = new FuzzContext();
        good.Execute(readSector0, context);
        Assert.Null(context.Finding);
    }

    /// <summary>The robust targets run a campaign clean with device_feature windows and handshakes judged (and, for
    /// the counter, ticks).</summary>
    [Theory]
    [InlineData("virtio-demo-qemu-robust")]
    [InlineData("virtio-factorial-qemu-robust")]
    [InlineData("virtio-counter-qemu-robust")]
    [InlineData("virtio-blk-qemu-robust")]
    [InlineData("virtio-rng-qemu-robust")]
    [InlineData("virtio-net-qemu-robust")]
    public void RobustTarget_Campaign_JudgesFeatures_AndStaysClean(string name)
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create(name)!;
        const int seed = 29;
        _output.WriteLine($"seed {seed}, 3000 runs of {name}");
        var options = new CampaignOptions { Seed = seed, RunsMax = 3000 };
        CampaignResult r = new FuzzCampaign(target, options, new NullCoverage("test")).Run();
        _output.WriteLine(
            $"{r.SummaryLine}; feature windows judged {target.FeatureWindowsJudged}, handshakes "
                + $"{target.HandshakesJudged}, ticks {target.TicksJudged}"
        );
        Assert.Empty(r.Findings);
        Assert.True(target.FeatureWindowsJudged > 3000, $"only {target.FeatureWindowsJudged} windows judged");
        Assert.True(target.HandshakesJudged >= 3000, $"only {target.HandshakesJudged} handshakes judged");
        if (name.StartsWith("virtio-counter", StringComparison.Ordinal))
            Assert.True(target.TicksJudged > 1000, $"only {target.TicksJudged} ticks judged");
    }

    private static (FeatureOracle, FuzzContext, VirtioDevice) Demo()
    {
        var device = new VirtioDemoDevice(Flavour.Robust);
        var context = new FuzzContext();
        var oracle = new FeatureOracle();
        oracle.Begin(device, Flavour.Robust, context);
        return (oracle, context, device);
    }
}
