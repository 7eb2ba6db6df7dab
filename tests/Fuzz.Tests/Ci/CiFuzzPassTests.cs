using Sim.Devices;
using Sim.Scenarios;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Ci;

/// <summary>
/// The CI fuzz pass: a bounded, deterministic campaign (fixed seed, fixed run count, no coverage guidance so the
/// result does not depend on instrumentation) over every registered target. Robust flavours and engine targets must
/// run clean; seed flavours must show their known flaw within the bound.
/// </summary>
public sealed class CiFuzzPassTests
{
    private const ulong Seed = 0x5EED_C1;

    private readonly ITestOutputHelper _output;

    public CiFuzzPassTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string> CleanTargets() =>
        [
            .. FuzzTargets
                .All.Select(t => t.Name)
                .Where(n => !n.EndsWith("-seed", StringComparison.Ordinal))
                .Where(n =>
                    n != Virtsim.Fuzz.Qemu.VirtioBlkQemuTarget.TargetName
                    && n != Virtsim.Fuzz.Qemu.VirtioRngQemuTarget.TargetName
                    && n != Virtsim.Fuzz.Qemu.VirtioNetQemuTarget.TargetName
                ),
        ]; // real QEMU: own bounded passes (QemuBlkDifferentialTests, QemuRngDifferentialTests)

    [Theory]
    [MemberData(nameof(CleanTargets))]
    public void RobustAndEngineTargets_RunClean(string name)
    {
        CampaignResult r = Run(name);
        Assert.True(
            r.Findings.Count == 0,
            string.Join(
                "\n",
                r.Findings.Select(f => $"{f.Oracle} at {f.Site}: {f.Message} input={Convert.ToHexString(f.Input)}")
            )
        );
    }

    /// <summary>Each seed flavour's known flaw: every catalogue entry's <see cref="DeviceEntry.SeedFlaws"/>
    /// (docs/adding-a-device.md), then the targets that are no catalogue device's.</summary>
    public static TheoryData<string, string, string> KnownFlaws()
    {
        var rows = new TheoryData<string, string, string>();
        foreach (DeviceEntry d in DeviceCatalog.All)
        {
            foreach (KnownFlaw f in d.SeedFlaws)
                rows.Add(FuzzTargetName.Compose(d.Name, f.Backend, Flavour.Seed), f.Oracle, f.Site);
        }
        rows.Add("virtio-pci-qemu-seed", "transport", "transport/needs-reset-from-driver");
        // The seed's handle_demo_kick behind the vhost frontend: its unconditional vhost_poll_queue.
        rows.Add(VirtioPciTarget.VhostSeedTargetName, "hang", "hang/vhost-worker-livelock");
        return rows;
    }

    [Theory]
    [MemberData(nameof(KnownFlaws))]
    public void SeedFlavours_KnownFlawIsFound(string name, string oracle, string site)
    {
        CampaignResult r = Run(name);
        Assert.Contains(r.Findings, f => f.Oracle == oracle && f.Site == site);
    }

    [Fact]
    public void EverySeedFlavour_HasAKnownFlawCase()
    {
        string[] seeds =
        [
            .. FuzzTargets.All.Select(t => t.Name).Where(n => n.EndsWith("-seed", StringComparison.Ordinal)),
        ];
        string[] covered = [.. KnownFlaws().Select(row => (string)row[0])];
        Assert.NotEmpty(seeds);
        Assert.Equal(seeds.Order(StringComparer.Ordinal), covered.Order(StringComparer.Ordinal));
    }

    private CampaignResult Run(string name)
    {
        IFuzzTarget target = FuzzTargets.Create(name) ?? throw new InvalidOperationException(name);
        long runs =
            name.Contains("-vhost-", StringComparison.Ordinal) ? 300
            : name.EndsWith("-robust", StringComparison.Ordinal) || name.EndsWith("-seed", StringComparison.Ordinal)
                ? 2000
            : 10000;
        _output.WriteLine($"reproduce: virtsim fuzz --target {name} --seed {Seed} --runs {runs} --no-coverage");
        var options = new CampaignOptions
        {
            Seed = Seed,
            RunsMax = runs,
            Minimize = false,
            StatusIntervalSeconds = 1e9,
        };
        CampaignResult r = new FuzzCampaign(target, options, new NullCoverage("ci")).Run();
        foreach (Finding f in r.Findings)
            _output.WriteLine($"{f.Oracle} at {f.Site}: {f.Message}");
        return r;
    }
}
