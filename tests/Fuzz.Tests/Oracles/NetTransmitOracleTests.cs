using Sim.Devices;
using Sim.Devices.Virtio.Net;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Spec.Net;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// transmitq1 on the net model targets: the response oracle (<see cref="NetTransmitOracle"/>: one frame per completed
/// transmit chain, the readable bytes after the 12-byte header, used.len 0) and the liveness oracle on queue 1. The
/// robust net model passes on every transmit seed; a device that drops, truncates or repeats the frame, reports a
/// used.len, or strands a chain is caught.
/// </summary>
public sealed class NetTransmitOracleTests(ITestOutputHelper output)
{
    /// <summary>What the faulty device does wrong on transmitq1.</summary>
    public enum Fault
    {
        None,
        Drop,
        Truncate,
        Twice,
        UsedLen,
        Strand,
    }

    private static VirtioBackendTarget Target(Fault fault) =>
        new(
            "virtio-net",
            Flavour.Robust,
            "test device",
            (_, _) => new FaultyNetDevice(fault),
            transmitLink: d => ((FaultyNetDevice)d).Backend
        );

    [Fact]
    public void RobustNetModel_TransmitSeeds_NoFinding_FramesJudged()
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create("virtio-net-qemu-robust")!;
        foreach (byte[] seed in NetSeeds.Transmit())
        {
            var context = new FuzzContext();
            target.Execute(seed, context);
            Assert.True(context.Finding is null, $"{Convert.ToHexString(seed)}: {context.Finding}");
        }
        output.WriteLine($"frames judged: {target.TransmitJudged}");
        Assert.True(target.TransmitJudged >= 5, $"only {target.TransmitJudged} transmit chains judged");
    }

    [Fact]
    public void CorrectTestDevice_TransmitSeeds_NoFinding()
    {
        VirtioBackendTarget target = Target(Fault.None);
        foreach (byte[] seed in NetSeeds.Transmit())
        {
            var context = new FuzzContext();
            target.Execute(seed, context);
            Assert.True(context.Finding is null, $"{Convert.ToHexString(seed)}: {context.Finding}");
        }
        Assert.True(target.TransmitJudged >= 5);
    }

    [Theory]
    [InlineData(Fault.Drop, NetTransmitOracle.SiteFrameMissing)]
    [InlineData(Fault.Truncate, NetTransmitOracle.SiteFrame)]
    [InlineData(Fault.Twice, NetTransmitOracle.SiteFramesExtra)]
    [InlineData(Fault.UsedLen, "used-ring/len-exceeds-written")] // the used-ring oracle sees it first
    [InlineData(Fault.Strand, "liveness/queue1-chain-never-completed")]
    public void FaultyTransmit_IsCaught(Fault fault, string site)
    {
        VirtioBackendTarget target = Target(fault);
        byte[] seed = NetSeeds.Transmit().First(); // header + 60-byte frame in two buffers
        var context = new FuzzContext();
        target.Execute(seed, context);
        output.WriteLine(context.Finding?.ToString() ?? "no finding");
        Assert.Equal(site, context.Finding?.Site);
    }

    /// <summary>The strand is caught by a campaign too (from the seeds, the way a mutant would be), and the correct
    /// device stays clean over the same runs.</summary>
    [Fact]
    public void Campaign_FindsStrandedTransmitChain_CorrectDeviceClean()
    {
        const int seed = 3;
        output.WriteLine($"seed {seed}");
        CampaignResult Campaign(Fault fault) =>
            new FuzzCampaign(
                Target(fault),
                new CampaignOptions
                {
                    Seed = seed,
                    RunsMax = 2000,
                    Minimize = false,
                },
                new NullCoverage("test")
            ).Run();
        CampaignResult clean = Campaign(Fault.None);
        output.WriteLine("correct: " + clean.SummaryLine);
        Assert.Empty(clean.Findings);
        CampaignResult stranded = Campaign(Fault.Strand);
        output.WriteLine("strand: " + stranded.SummaryLine);
        Assert.Contains(stranded.Findings, f => f.Site == "liveness/queue1-chain-never-completed");
    }

    [Fact]
    public void UsedLenOfATransmitChain_FiresTheTransmitOracle()
    {
        var oracle = new NetTransmitOracle();
        var memory = Sim.Engine.Memory.GuestMemory.CreateFlat(0x1000);
        var context = new FuzzContext();
        oracle.Begin(new NetBackend(NetBackendMode.Sink), null, memory, context);
        oracle.OnCompleted(0, 12, new RangeList(), new RangeList(), plain: true);
        Assert.Equal(NetTransmitOracle.SiteUsedLen, context.Finding?.Site);
    }

    /// <summary>A two-queue network device whose transmit path can be made wrong; receiveq1 completes every chain with
    /// used.len 0 (a frame dropped, as the robust model does with one that does not fit), so queue 0's oracles stay
    /// quiet.</summary>
    private sealed class FaultyNetDevice(Fault fault)
        : VirtioDevice(
            NetSpec.DeviceId,
            [NetSpec.QueueSize, NetSpec.QueueSize],
            1UL << NetSpec.FMac,
            NetSpec.ConfigBytes,
            5
        )
    {
        private readonly QueueElement _element = new();

        public NetBackend Backend { get; } = new(NetBackendMode.Sink);

        protected override void HandleQueueNotify(int queueIndex)
        {
            if (!DriverOk)
                return;
            while (queueIndex == NetSpec.ReceiveQueue && TryPop(NetSpec.ReceiveQueue, _element))
            {
                TryPush(NetSpec.ReceiveQueue, _element, 0);
                NotifyQueue(NetSpec.ReceiveQueue);
            }
            while (queueIndex == NetSpec.TransmitQueue && TryPop(NetSpec.TransmitQueue, _element))
            {
                if (_element.OutBytes <= NetSpec.HeaderBytes)
                {
                    GetQueue(NetSpec.TransmitQueue).Detach();
                    SetBroken("virtio-net nothing to send");
                    return;
                }
                byte[] frame = new byte[checked((int)Math.Min(_element.OutBytes - NetSpec.HeaderBytes, 1 << 16))];
                frame = frame[.._element.ReadOut(Memory, NetSpec.HeaderBytes, frame)];
                if (fault == Fault.Truncate)
                    Backend.Transmit(frame.AsSpan(0, frame.Length - 1));
                else if (fault != Fault.Drop)
                    Backend.Transmit(frame);
                if (fault == Fault.Twice)
                    Backend.Transmit(frame);
                if (fault == Fault.Strand)
                    continue; // popped and sent, never completed, the device not broken
                TryPush(NetSpec.TransmitQueue, _element, fault == Fault.UsedLen ? 12u : 0u);
                NotifyQueue(NetSpec.TransmitQueue);
            }
        }
    }
}
