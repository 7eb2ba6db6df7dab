using System.Buffers.Binary;
using System.Globalization;
using Sim.Devices;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Oracles;

/// <summary>The taint oracle (issue 12 item 2): poisoned host buffers reaching guest memory or the device
/// log.</summary>
public sealed class TaintOracleTests
{
    private readonly ITestOutputHelper _output;

    public TaintOracleTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Pattern_HasHighBytes_IsFoundInAFilledBuffer_AndAvoidsTheInput()
    {
        var oracle = new TaintOracle();
        var memory = GuestMemory.CreateFlat(0x1000);
        byte[] input = Enumerable.Range(0, 4096).Select(i => unchecked((byte)(i * 131 + 7))).ToArray();
        oracle.Begin(null, input, memory, null);
        Assert.All(oracle.Pattern.ToArray(), b => Assert.True(b >= 0x80));
        Assert.Equal(-1, oracle.Find(input));
        byte[] buffer = new byte[13];
        oracle.Fill(buffer);
        Assert.Equal(0, oracle.Find(buffer));
        Assert.Equal(oracle.Pattern[4], buffer[12]);
        // Three poisoned bytes are not a window; the fourth makes one.
        byte[] partial = [0, 0, buffer[0], buffer[1], buffer[2], 0];
        Assert.Equal(-1, oracle.Find(partial));
        partial[5] = buffer[3];
        Assert.Equal(2, oracle.Find(partial));
    }

    /// <summary>One robust execution in <see cref="VirtioBackendTarget.UnhookedPeriod"/> runs the device as production
    /// does, with no poison hook (so code that works only while the hook is installed fails in the fuzzer too); which
    /// ones is a function of the input, so <c>--reproduce</c> runs alike.</summary>
    [Fact]
    public void SomeInputs_RunWithoutThePoisonHook_ChosenByTheInput()
    {
        const int Inputs = 800;
        int unhooked = 0;
        for (int i = 0; i < Inputs; i++)
        {
            byte[] input = BitConverter.GetBytes(i);
            bool first = VirtioBackendTarget.RunsUnhooked(input);
            Assert.Equal(first, VirtioBackendTarget.RunsUnhooked(input));
            if (first)
                unhooked++;
        }
        _output.WriteLine($"{unhooked} of {Inputs} inputs run without the hook");
        const int Expected = Inputs / VirtioBackendTarget.UnhookedPeriod;
        Assert.InRange(unhooked, Expected / 2, Expected * 2);
    }

    [Fact]
    public void PoisonedWordInTheLog_Fires_DeviceLog()
    {
        var oracle = new TaintOracle();
        var device = new VirtioDemoDevice(Flavour.Robust);
        var context = new FuzzContext();
        oracle.Begin(device, [1, 2, 3], GuestMemory.CreateFlat(0x1000), context);
        Assert.Same(oracle, device.Poison);
        device.Log.Add("request opt=1 buff=7 -> response {1, 7} state=7");
        oracle.OnCompleted(0, 0, new RangeList(), new RangeList(), plain: true);
        Assert.Null(context.Finding);
        byte[] word = new byte[8];
        oracle.Fill(word);
        device.Log.Add(
            string.Create(
                CultureInfo.InvariantCulture,
                $"request opt=0 buff={BinaryPrimitives.ReadUInt32LittleEndian(word.AsSpan(2)):x}"
            )
        );
        oracle.OnCompleted(1, 0, new RangeList(), new RangeList(), plain: true);
        Assert.Equal("taint/device-log", context.Finding?.Site);
    }

    /// <summary>Provenance (a second cause of a false <c>taint/device-log</c>): the guest offers, as one 4-byte
    /// number, bytes that make a pattern word although no 4-byte window of the input holds them (here split between two
    /// readable buffers, as ReadOut assembles a number across iovecs). The device logging it is right: the oracle
    /// judges the logged word by provenance (the chain's readable bytes hold it) and stays quiet; the same line with
    /// the word in no readable buffer still fires.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void PatternWordTheGuestOffered_AcrossTwoBuffers_IsNotTaint(int split)
    {
        byte[] input = [0x04, 0x00, 0x00, 0x00, 0x02, 0x11, 0x22];
        var memory = GuestMemory.CreateFlat(0x1000);
        var device = new VirtioDemoDevice(Flavour.Robust);
        var context = new FuzzContext();
        var oracle = new TaintOracle();
        oracle.Begin(device, input, memory, context);
        byte[] word = oracle.Pattern[..4].ToArray();
        Assert.Equal(-1, oracle.Find(input)); // the input holds no pattern window
        // Buffer 1 at 0x100 ends with the word's first bytes, buffer 2 at 0x200 starts with the rest.
        Assert.True(memory.TryWrite(new GuestAddress(0x100 + 8 - (ulong)split), word.AsSpan(0, split)));
        Assert.True(memory.TryWrite(new GuestAddress(0x200), word.AsSpan(split)));
        var readable = new RangeList();
        Assert.True(readable.Add(new GuestRange(0x100, 8)));
        Assert.True(readable.Add(new GuestRange(0x200, 8)));
        int number = BinaryPrimitives.ReadInt32LittleEndian(word);
        string line = string.Create(CultureInfo.InvariantCulture, $"=========get virtio num:{number}");
        device.Log.Add(line);
        oracle.OnCompleted(0, 0, readable, new RangeList(), plain: true);
        Assert.Null(context.Finding);
        // Not offered by this chain (its readable bytes hold something else): the device's own bytes.
        device.Log.Add(line);
        var other = new RangeList();
        Assert.True(other.Add(new GuestRange(0x300, 8)));
        oracle.OnCompleted(1, 0, other, new RangeList(), plain: true);
        Assert.Equal("taint/device-log", context.Finding?.Site);
    }

    /// <summary>The counter's false <c>taint/device-log</c> of issue 12 (<c>virtio-counter-qemu-robust --seed 5 --runs
    /// 20000</c>, execution 17,061 on main 1922eba: "get virtio num:-392417875", whose bytes AD 2D 9C E8 are no
    /// pattern window): a pattern with the window FF FF FF FD, AC F0 FF FF or FF FF FF D9 has the signed log token
    /// "-3", "-3924" or "-39", which a substring test found at the start of that number. A token counts only as a
    /// whole number; the same word printed alone still fires.</summary>
    [Theory]
    [InlineData(new byte[] { 0xFD, 0xFF, 0xFF, 0xFF, 0x80, 0x81, 0x82, 0x83 })]
    [InlineData(new byte[] { 0xAC, 0xF0, 0xFF, 0xFF, 0x80, 0x81, 0x82, 0x83 })]
    [InlineData(new byte[] { 0xD9, 0xFF, 0xFF, 0xFF, 0x80, 0x81, 0x82, 0x83 })]
    public void CounterLine_WhoseNumberStartsWithAPatternToken_IsNotTaint(byte[] pattern)
    {
        var device = new VirtioDemoDevice(Flavour.Robust);
        var context = new FuzzContext();
        var oracle = new TaintOracle();
        oracle.Begin(device, [1, 2, 3], GuestMemory.CreateFlat(0x1000), context);
        oracle.UsePattern(pattern);
        device.Log.Add("=========get virtio num:-392417875");
        oracle.OnCompleted(0, 0, new RangeList(), new RangeList(), plain: true);
        Assert.Null(context.Finding);
        int word = BinaryPrimitives.ReadInt32LittleEndian(pattern);
        device.Log.Add(string.Create(CultureInfo.InvariantCulture, $"=========get virtio num:{word}"));
        oracle.OnCompleted(1, 0, new RangeList(), new RangeList(), plain: true);
        Assert.Equal("taint/device-log", context.Finding?.Site);
    }

    [Theory]
    [InlineData("num:-3", "-3", 1, true)]
    [InlineData("num:-392417875", "-3", 1, false)]
    [InlineData("num:12-3", "-3", 1, false)]
    [InlineData("num:-3 and -31", "-3", 1, true)]
    [InlineData("buff=fffffffd}", "fffffffd", 2, true)]
    [InlineData("buff=0xfffffffd", "fffffffd", 2, true)]
    [InlineData("buff=afffffffd", "fffffffd", 2, false)]
    [InlineData("buff=fffffffd0", "fffffffd", 2, false)]
    [InlineData("bytes \\x01\\xfd\\xff\\xff\\xff", "\\xfd\\xff\\xff\\xff", 3, true)]
    public void Printed_MatchesWholeNumbersOnly(string line, string token, int kind, bool printed) =>
        Assert.Equal(printed, TaintOracle.Printed(line, token, kind));

    /// <summary>The four robust devices fill their reused buffers with the poison and never answer with it.</summary>
    [Theory]
    [InlineData("virtio-demo-qemu-robust")]
    [InlineData("virtio-factorial-qemu-robust")]
    [InlineData("virtio-counter-qemu-robust")]
    [InlineData("virtio-blk-qemu-robust")]
    public void RobustTarget_Campaign_SearchesAnswers_AndStaysClean(string name)
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create(name)!;
        const int seed = 13;
        _output.WriteLine($"seed {seed}, 3000 runs of {name}");
        CampaignResult r = new FuzzCampaign(
            target,
            new CampaignOptions { Seed = seed, RunsMax = 3000 },
            new NullCoverage("test")
        ).Run();
        _output.WriteLine($"{r.SummaryLine}; chains searched {target.TaintSearched}");
        Assert.Empty(r.Findings);
        Assert.True(target.TaintSearched > 100, $"only {target.TaintSearched} chains searched");
    }

    /// <summary>The mutant: a device that copies its 16-byte request header from the readable buffer without checking
    /// the length, and answers the header's second half (a "sector" echo). With a short readable buffer the answer is
    /// bytes the request never set: zeros in production (C# zero-initialises, and no reference model knows this
    /// device, so no other oracle can tell), the poison under the taint oracle.</summary>
    [Fact]
    public void HeaderCopiedFromAShortBuffer_IsFoundOnlyByTheTaintOracle()
    {
        const int seed = 5;
        _output.WriteLine($"seed {seed}");
        CampaignResult Campaign(Flavour flavour, bool checkLength) =>
            new FuzzCampaign(
                new VirtioBackendTarget("leaky-echo", flavour, "test mutant", (_, _) =>
                    new LeakyEchoDevice(checkLength)
                ),
                new CampaignOptions
                {
                    Seed = seed,
                    RunsMax = 5000,
                    Minimize = false,
                },
                new NullCoverage("test")
            ).Run();

        CampaignResult leaky = Campaign(Flavour.Robust, checkLength: false);
        _output.WriteLine("taint on, length unchecked: " + leaky.SummaryLine);
        Assert.NotEmpty(leaky.Findings);
        Assert.All(leaky.Findings, f => Assert.Equal("taint/guest-memory", f.Site));

        CampaignResult unpoisoned = Campaign(Flavour.Seed, checkLength: false);
        _output.WriteLine("taint off, length unchecked: " + unpoisoned.SummaryLine);
        Assert.Empty(unpoisoned.Findings);

        CampaignResult fixedDevice = Campaign(Flavour.Robust, checkLength: true);
        _output.WriteLine("taint on, length checked: " + fixedDevice.SummaryLine);
        Assert.Empty(fixedDevice.Findings);
    }

    private sealed class LeakyEchoDevice : VirtioDevice
    {
        private readonly bool _checkLength;
        private readonly QueueElement _element = new();
        private readonly byte[] _header = new byte[16];

        public LeakyEchoDevice(bool checkLength)
            : base(0x7E, [64], 0, 4, 0x7E) => _checkLength = checkLength;

        protected override void HandleQueueNotify(int queueIndex)
        {
            for (int n = 0; n < 64 && TryPop(queueIndex, _element); n++)
            {
                Poison?.Fill(_header);
                uint written = 0;
                bool whole = _element.OutBytes >= 16;
                if ((whole || !_checkLength) && _element.InBytes >= 8)
                {
                    // The mutant: a short read leaves the rest of the header stale.
                    _element.ReadOut(Memory, 0, _header);
                    written = unchecked((uint)_element.WriteIn(Memory, 0, _header.AsSpan(8, 8)));
                }
                TryPush(queueIndex, _element, written);
                NotifyQueue(queueIndex);
            }
        }
    }
}
