using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Rng;
using Sim.Engine.Memory;
using Sim.Engine.Random;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Oracles;

/// <summary>The device-configuration oracle (<see cref="ConfigSpaceOracle"/>; issue 12: config contents and
/// config_generation were judged by nothing).</summary>
public sealed class ConfigSpaceOracleTests
{
    private readonly ITestOutputHelper _output;

    public ConfigSpaceOracleTests(ITestOutputHelper output) => _output = output;

    /// <summary>A judged opt-1 store changes the demo's configuration: the next whole read must show a new
    /// config_generation (VIRTIO 1.2 §4.1.4.3.1) and the stored buff.</summary>
    [Fact]
    public void DemoStore_WithoutNewGeneration_FiresGenerationUnchanged()
    {
        (ConfigSpaceOracle config, ResponseOracle responses, FuzzContext context, GuestMemory memory) = Demo();
        config.JudgeSnapshot([0x33, 0x13, 0, 0], generation: 0, stable: true);
        Assert.Null(context.Finding);
        Store(responses, memory, buff: 5);
        config.AfterOp();
        config.JudgeSnapshot([5, 0, 0, 0], generation: 0, stable: true);
        Assert.Equal("config/generation-unchanged", context.Finding?.Site);
    }

    [Fact]
    public void DemoStore_WithNewGeneration_IsClean_AndAStaleValueFiresValue()
    {
        (ConfigSpaceOracle config, ResponseOracle responses, FuzzContext context, GuestMemory memory) = Demo();
        config.JudgeSnapshot([0x33, 0x13, 0, 0], generation: 0, stable: true);
        Store(responses, memory, buff: 5);
        config.AfterOp();
        config.JudgeSnapshot([5, 0, 0, 0], generation: 1, stable: true);
        Assert.Null(context.Finding);
        Store(responses, memory, buff: 9);
        config.AfterOp();
        config.JudgeSnapshot([5, 0, 0, 0], generation: 2, stable: true); // the device never mirrored the store
        Assert.Equal("config/value", context.Finding?.Site);
    }

    /// <summary>Counter: num_pages reads 0, actual and event what the driver wrote; a write split by the transport
    /// (8 bytes at offset 5: pieces 5, 6..7, 8..11, 12) stores only the pieces that fit.</summary>
    [Fact]
    public void Counter_DriverWrites_AreTheModel()
    {
        Simulation sim = RingSimulation.Create(1000);
        var device = new VirtioCounterDevice(sim, new CounterDeviceOptions { Flavour = Flavour.Robust });
        var context = new FuzzContext();
        var responses = new ResponseOracle();
        responses.Begin(device, Flavour.Robust, GuestMemory.CreateFlat(0x1000), null);
        var config = new ConfigSpaceOracle();
        config.Begin(device, Flavour.Robust, responses, context);
        config.AfterWrite(5, [0x1F, 1, 2, 3, 4, 5, 6, 7]);
        config.AfterWrite(0, [0xAA]); // num_pages: robust keeps reading 0
        config.JudgeSnapshot([0, 0, 0, 0, 0, 0x1F, 1, 2, 3, 4, 5, 6], generation: 0, stable: true);
        Assert.Null(context.Finding);
        config.JudgeAccess(10, [5, 6, 0xFF, 0xFF]); // 10..11 fit, 12..13 read all-ones
        Assert.Null(context.Finding);
        config.JudgeAccess(4, [1, 0, 0, 0]);
        Assert.Equal("config/value", context.Finding?.Site);
    }

    /// <summary>VIRTIO 1.2 §5.2.4 (QEMU virtio_blk_update_config): capacity in 512-byte sectors, size_max and geometry
    /// 0 (their features not offered), seg_max the host option, blk_size 512; a driver write changes none of it
    /// (virtio_blk_set_config takes only writeback, not offered).</summary>
    [Fact]
    public void Virtio12_5_2_4_BlkConfig_IsCapacitySegMaxBlkSize_AndDriverWritesChangeNothing()
    {
        var device = new VirtioBlkDevice(
            new MemoryBlockBackend(0x10000),
            new BlkDeviceOptions { Flavour = Flavour.Robust, SegMax = 7 }
        );
        (ConfigSpaceOracle config, FuzzContext context) = Begin(device);
        byte[] expected = new byte[24];
        expected[0] = 0x80; // 0x10000 bytes = 128 sectors
        expected[12] = 7;
        expected[21] = 2; // blk_size 512
        config.AfterWrite(0, [1, 2, 3, 4, 5, 6, 7, 8]);
        config.JudgeSnapshot(expected, generation: 0, stable: true);
        config.JudgeAccess(20, [0, 2, 0, 0]);
        config.JudgeAccess(22, [0, 0, 0xFF, 0xFF]); // 24..25 lie past the configuration
        Assert.Null(context.Finding);
        expected[12] = 8; // seg_max one too many
        config.JudgeSnapshot(expected, generation: 0, stable: true);
        Assert.Equal("config/value", context.Finding?.Site);
    }

    /// <summary>VIRTIO 1.2 §5.4.4: the entropy device has no configuration, so every byte reads all-ones (QEMU
    /// virtio_config_modern_readX past config_len).</summary>
    [Fact]
    public void Virtio12_5_4_4_RngConfig_IsEmpty_EveryReadAllOnes()
    {
        var device = new VirtioRngDevice(new Prng(1));
        (ConfigSpaceOracle config, FuzzContext context) = Begin(device);
        config.JudgeSnapshot([], generation: 0, stable: true);
        config.JudgeAccess(0, [0xFF, 0xFF, 0xFF, 0xFF]);
        Assert.Null(context.Finding);
        config.JudgeAccess(0, [0]);
        Assert.Equal("config/value", context.Finding?.Site);
    }

    /// <summary>The robust devices with a model run a campaign clean with reads judged.</summary>
    [Theory]
    [InlineData("virtio-demo-qemu-robust")]
    [InlineData("virtio-factorial-qemu-robust")]
    [InlineData("virtio-counter-qemu-robust")]
    [InlineData("virtio-blk-qemu-robust")]
    [InlineData("virtio-rng-qemu-robust")]
    public void RobustTarget_Campaign_JudgesConfig_AndStaysClean(string name)
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create(name)!;
        const int seed = 17;
        _output.WriteLine($"seed {seed}, 3000 runs of {name}");
        var options = new CampaignOptions { Seed = seed, RunsMax = 3000 };
        CampaignResult r = new FuzzCampaign(target, options, new NullCoverage("test")).Run();
        _output.WriteLine($"{r.SummaryLine}; config reads judged {target.ConfigJudged}");
        Assert.Empty(r.Findings);
        Assert.True(target.ConfigJudged > 1000, $"only {target.ConfigJudged} config reads judged");
    }

    private static (ConfigSpaceOracle, FuzzContext) Begin(Sim.Devices.Virtio.Transport.VirtioDevice device)
    {
        var responses = new ResponseOracle();
        responses.Begin(device, Flavour.Robust, GuestMemory.CreateFlat(0x1000), null);
        var context = new FuzzContext();
        var config = new ConfigSpaceOracle();
        config.Begin(device, Flavour.Robust, responses, context);
        return (config, context);
    }

    private static (ConfigSpaceOracle, ResponseOracle, FuzzContext, GuestMemory) Demo()
    {
        var device = new VirtioDemoDevice(Flavour.Robust);
        var memory = GuestMemory.CreateFlat(0x1000);
        var responses = new ResponseOracle();
        responses.Begin(device, Flavour.Robust, memory, null); // its own findings (no log lines here) go nowhere
        var context = new FuzzContext();
        var config = new ConfigSpaceOracle();
        config.Begin(device, Flavour.Robust, responses, context);
        return (config, responses, context, memory);
    }

    /// <summary>A completed opt-1 request {1, buff} answered {1, buff}, as the response oracle sees it.</summary>
    private static void Store(ResponseOracle responses, GuestMemory memory, uint buff)
    {
        byte[] request = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(request, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(4), buff);
        Assert.True(memory.TryWrite(new GuestAddress(0x100), request));
        Assert.True(memory.TryWrite(new GuestAddress(0x200), request));
        var readable = new RangeList();
        readable.Add(new GuestRange(0x100, 8));
        var writable = new RangeList();
        writable.Add(new GuestRange(0x200, 8));
        responses.OnCompleted(0, 8, readable, writable, plain: true);
    }
}
