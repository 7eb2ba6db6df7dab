using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// Frames the input itself makes arrive (op 13, <see cref="RingInput.OpInjectFrame"/>) on QEMU 7.2's virtio-net and on
/// the model alike: each seed of <see cref="NetSeeds.InputFrames"/> agrees with QEMU (the frame placed where the model
/// placed it, or kept until a chain and kick), and op 13 stays "nothing" for the other devices. The QEMU test skips
/// with a message where QEMU is missing.
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuNetInputFrameTests(ITestOutputHelper output)
{
    [Fact]
    public void InputFrameSeeds_AgreeWithQemu72()
    {
        if (VirtioNetQemuTarget.Available is { } why)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        var target = new VirtioNetQemuTarget { ReproducerDirectory = null };
        // (frames the input injects, frames the model delivers): the third seed's last frame finds no chain; the
        // fourth's second frame delivers the waiting one and itself.
        (int Injected, int Received)[] expected = [(1, 1), (1, 1), (3, 2), (2, 2)];
        int n = 0;
        foreach (byte[] seed in NetSeeds.InputFrames())
        {
            var context = new FuzzContext { Log = new StringWriter() };
            Assert.Equal(FuzzOutcome.Completed, target.Execute(seed, context));
            NetRunFacts facts = VirtioNetQemuTarget.LastFacts;
            output.WriteLine(
                $"seed {n}: {context.Finding?.ToString() ?? "agree"}; input frames {facts.InputFrames}, received "
                    + $"{facts.FramesReceived}, sent to QEMU {facts.FramesInjected} {context.Log}"
            );
            Assert.Null(context.Finding);
            Assert.Equal(expected[n].Injected, facts.InputFrames);
            Assert.Equal(expected[n].Received, facts.FramesReceived);
            n++;
        }
        Assert.Equal(expected.Length, n);
    }

    /// <summary>The same seeds on the model target: no oracle fires (op 13's frame lands in the chain made available
    /// without a kick, used.len 12 + frame; see Sim.Devices.Tests' VirtioNetDeviceTests for the bytes).</summary>
    [Fact]
    public void InputFrameSeeds_ModelTarget_NoFinding()
    {
        IFuzzTarget target = FuzzTargets.Create("virtio-net-qemu-robust")!;
        foreach (byte[] seed in NetSeeds.InputFrames())
        {
            var context = new FuzzContext();
            target.Execute(seed, context);
            Assert.True(context.Finding is null, $"{Convert.ToHexString(seed)}: {context.Finding}");
        }
    }

    [Fact]
    public void InjectedFrame_FromOperands_BoundedAndBroadcast()
    {
        var op = new RingInput.Op(RingInput.OpInjectFrame, 0, 70_000, 0, 0, 5, 0x1122_3344_5566, 0);
        byte[] frame = InjectedFrame.From(op);
        Assert.Equal(InjectedFrame.BytesMax, frame.Length);
        Assert.All(frame[..6], b => Assert.Equal(0xFF, b));
        Assert.Equal(0x66 & 0xFC | 0x02, frame[6]);
        Assert.Equal([0x88, 0xB5], frame[12..14]);
        Assert.Single(InjectedFrame.From(op with { Len = 0 }));
    }
}
