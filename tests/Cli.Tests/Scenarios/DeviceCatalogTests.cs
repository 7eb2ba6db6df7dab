using Sim.Devices;
using Sim.Scenarios;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

/// <summary>
/// The device catalogue (src/Sim.Scenarios/DeviceCatalog.cs) is the one list of devices: the scenario list is built
/// from it, and everything else that names devices — fuzz targets, committed traces — must agree with it
/// (docs/adding-a-device.md). The READMEs' device tables are generated from it (CatalogueDocsTests).
/// </summary>
public sealed class DeviceCatalogTests
{
    /// <summary>Fuzz targets that are not a device's backend: the engine's own targets and the transport.</summary>
    private static readonly string[] NonDeviceTargets =
    [
        "guest-memory",
        "split-virtqueue",
        "vhost-core",
        "virtio-pci",
        Virtsim.Fuzz.Targets.DriverQueueTarget.TargetName,
        Virtsim.Fuzz.Targets.BlockBackendTarget.TargetName,
        Virtsim.Fuzz.Qemu.VirtioBlkQemuTarget.TargetName,
        Virtsim.Fuzz.Qemu.VirtioRngQemuTarget.TargetName,
        Virtsim.Fuzz.Qemu.VirtioNetQemuTarget.TargetName,
    ];

    public static TheoryData<string> Devices() => [.. DeviceCatalog.All.Select(d => d.Name)];

    [Fact]
    public void NamesAndScenarios_AreUnique_AndEveryScenarioIsRunnable()
    {
        Assert.Equal(
            DeviceCatalog.All.Count,
            DeviceCatalog.All.Select(d => d.Name).Distinct(StringComparer.Ordinal).Count()
        );
        string[] scenarios = [.. ScenarioCatalog.All.Select(s => s.Name)];
        Assert.Equal(scenarios.Length, scenarios.Distinct(StringComparer.Ordinal).Count());
        foreach (DeviceEntry d in DeviceCatalog.All)
        {
            Assert.NotEmpty(d.Scenarios);
            Assert.All(d.Scenarios, s => Assert.Same(s, ScenarioCatalog.Find(s.Name)));
        }
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void EveryDeclaredBackend_HasATargetInEveryFlavour(string device)
    {
        DeviceEntry d = DeviceCatalog.Find(device)!;
        foreach (string backend in d.FuzzBackends)
        {
            foreach (Flavour f in d.Flavours)
            {
                string name = FuzzTargetName.Compose(d.Name, backend, f);
                Assert.True(
                    FuzzTargets.Create(name) is { } t && t.Name == name,
                    $"{device} declares backend '{backend}' but there is no fuzz target {name}"
                );
            }
        }
    }

    [Fact]
    public void EveryFuzzTarget_BelongsToACatalogueDeviceAndOneOfItsBackends()
    {
        foreach (IFuzzTarget t in FuzzTargets.All)
        {
            if (NonDeviceTargets.Contains(FuzzTargetName.Split(t.Name).Device))
                continue;
            (string device, string? backend, _) = FuzzTargetName.Split(t.Name);
            DeviceEntry? d = DeviceCatalog.Find(device);
            Assert.True(d is not null, $"fuzz target {t.Name}: no device '{device}' in DeviceCatalog");
            Assert.Contains(backend, d.FuzzBackends);
        }
    }

    [Fact]
    public void EveryTraceRecipe_HasACommittedTrace_AndEveryCommittedTraceARecipe()
    {
        string dir = Path.Combine(RepositoryRoot(), "traces", "sim");
        string[] recipes = [.. DeviceCatalog.AllTraces.Select(t => t.Name + ".vtrace").Order(StringComparer.Ordinal)];
        string[] committed =
        [
            .. Directory
                .GetFiles(dir, "*.vtrace")
                .Select(Path.GetFileName)
                .OfType<string>()
                .Order(StringComparer.Ordinal),
        ];
        Assert.Equal(recipes, committed);
        foreach (TraceRecipe t in DeviceCatalog.AllTraces)
        {
            string scenario = t.Arguments.Split(' ')[0];
            Assert.True(ScenarioCatalog.Find(scenario) is not null, $"trace {t.Name}: unknown scenario '{scenario}'");
        }
        Assert.All(DeviceCatalog.All, d => Assert.NotEmpty(d.Traces));
    }

    private static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "virtsim.slnx")))
            dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root (virtsim.slnx) not found");
    }
}
