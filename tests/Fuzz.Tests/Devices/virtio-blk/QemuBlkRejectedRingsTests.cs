using Fuzz.Tests.Oracles;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// <c>exception</c> NullReferenceException in GuestActor.Apply from the lockstep (campaign camp1h): when the device
/// rejects the initial rings the queue never becomes ready, so the guest actor must already point at this execution's
/// memory. Prints why it skipped where QEMU is missing (xunit 2 has no dynamic skip: it returns).
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuBlkRejectedRingsTests(ITestOutputHelper output)
{
    [Fact]
    public void GuestOpsOnRejectedRings_NoHostException()
    {
        if (VirtioBlkQemuTarget.Available is { } why)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        var target = new VirtioBlkQemuTarget { ReproducerDirectory = null };
        for (int round = 0; round < 2; round++)
        {
            var context = new FuzzContext();
            target.Execute(RobustFindingRegressionTests.GuestOpsOnRejectedRings, context);
            Assert.True(
                context.Finding?.Oracle != "exception",
                $"round {round}: {context.Finding?.Site}: {context.Finding?.Message}"
            );
        }
    }
}
