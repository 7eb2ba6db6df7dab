using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// transmitq1 through the fuzz input (<see cref="RingInput.OpSelectQueue"/>): a transmit seed puts the same frame on
/// QEMU's link as on the model's, a header-only chain breaks both (Debian's 7.2.22 carries upstream 2c3e4e2de699,
/// "virtio-net nothing to send"), and the selection is a no-op for single-queue devices. The QEMU tests skip with a
/// message where QEMU is missing.
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuNetTransmitTests(ITestOutputHelper output)
{
    private bool Skipped()
    {
        if (VirtioNetQemuTarget.Available is not { } why)
            return false;
        output.WriteLine("SKIPPED: " + why);
        return true;
    }

    [Fact]
    public void TransmitSeed_QemuSendsTheModelsFrame()
    {
        if (Skipped())
            return;
        var target = new VirtioNetQemuTarget();
        byte[] seed = NetSeeds.Transmit().First(); // header + 60-byte frame in two 36-byte buffers
        var context = new FuzzContext { Log = new StringWriter() };
        Assert.Equal(FuzzOutcome.Completed, target.Execute(seed, context));
        output.WriteLine(context.Log.ToString());
        Assert.Null(context.Finding);
        Assert.Equal(1, VirtioNetQemuTarget.LastFacts.FramesSent);
        Assert.Equal(1, VirtioNetQemuTarget.LastFacts.QemuFramesSent);
    }

    [Fact]
    public void HeaderOnlyChain_BreaksBothHalves()
    {
        if (Skipped())
            return;
        var target = new VirtioNetQemuTarget();
        byte[] seed = NetSeeds.Transmit().ElementAt(5); // a 12-byte chain: the header alone
        var context = new FuzzContext { Log = new StringWriter() };
        target.Execute(seed, context);
        output.WriteLine(context.Log.ToString());
        Assert.Null(context.Finding);
        Assert.Contains("virtio-net nothing to send", VirtioNetQemuTarget.LastFacts.ModelBrokenReasons);
        Assert.Equal(0, VirtioNetQemuTarget.LastFacts.QemuFramesSent);
    }

    [Fact]
    public void SelectQueue_OnSingleQueueDevice_StaysOnQueueZero()
    {
        var guests = new QueueGuests();
        guests.Begin(Sim.Engine.Memory.GuestMemory.CreateFlat(RingInput.MemorySize), deviceQueues: 1, size: 8);
        guests.Select(1);
        Assert.Equal(0, guests.Selected);
        guests.Begin(Sim.Engine.Memory.GuestMemory.CreateFlat(RingInput.MemorySize), deviceQueues: 2, size: 8);
        guests.Select(3);
        Assert.Equal(1, guests.Selected);
    }
}
