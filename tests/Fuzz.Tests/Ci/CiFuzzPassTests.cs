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

    [Theory]
    [InlineData("demo-pci-qemu-seed", "model", "demo-pci/mmio-read")]
    [InlineData("virtio-demo-qemu-seed", "used-ring", "used-ring/len-exceeds-written")]
    [InlineData("virtio-demo-vhost-seed", "hang", "hang/vhost-worker-livelock")]
    // The seed vhost worker livelocks before the sides can be compared.
    [InlineData("virtio-demo-diff-seed", "hang", "hang/vhost-worker-livelock")]
    [InlineData("virtio-factorial-qemu-seed", "used-ring", "used-ring/len-exceeds-written")]
    [InlineData("virtio-counter-qemu-seed", "used-ring", "used-ring/len-exceeds-written")]
    [InlineData("virtio-blk-qemu-seed", "permission", "permission/read-outside-chain")]
    [InlineData("virtio-rng-qemu-seed", "used-ring", "used-ring/len-exceeds-written")]
    [InlineData("virtio-net-qemu-seed", "used-ring", "used-ring/len-exceeds-written")]
    [InlineData("virtio-pci-qemu-seed", "transport", "transport/needs-reset-from-driver")]
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
        string[] covered =
        [
            .. typeof(CiFuzzPassTests)
                .GetMethod(nameof(SeedFlavours_KnownFlawIsFound))!
                .GetCustomAttributes(typeof(InlineDataAttribute), false)
                .Cast<InlineDataAttribute>()
                .Select(a => (string)a.GetData(null!).Single()[0]),
        ];
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
