using Fuzz.Tests.Qemu;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit.Abstractions;

namespace Fuzz.Tests.FindingTraces;

/// <summary><see cref="FindingTraceTests"/>' two theories on the real-QEMU targets, in the
/// <see cref="RealQemuCollection"/> so that no other class drives the same QEMU meanwhile. Where QEMU is missing the
/// targets reject every input (logged), which the theories also hold to.</summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuFindingTraceTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-qemu-finding-traces-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Targets()
    {
        var data = new TheoryData<string>();
        foreach (IFuzzTarget t in FuzzTargets.All.Where(t => t is RealQemuTarget))
            data.Add(t.Name);
        return data;
    }

    [Fact]
    public void EveryDeviceWithAQemuBackend_IsHere()
    {
        Assert.Equal(
            [VirtioBlkQemuTarget.TargetName, VirtioNetQemuTarget.TargetName, VirtioRngQemuTarget.TargetName],
            FuzzTargets.All.Where(t => t is RealQemuTarget).Select(t => t.Name).Order(StringComparer.Ordinal)
        );
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void SeedInputs_RecordedTraces_ReplayAndMatch(string name) =>
        FindingTraceTests.CheckSeedTraces(name, output);

    [Theory]
    [MemberData(nameof(Targets))]
    public void CampaignFindings_SaveTraces_ThatReproduceTheFinding(string name) =>
        FindingTraceTests.CheckCampaignTraces(name, _dir, output);
}
