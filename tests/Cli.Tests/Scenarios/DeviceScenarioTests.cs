using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

/// <summary>
/// Scenario tests, one partial file per device in the device's test folder
/// (<c>tests/Cli.Tests/Devices/&lt;name&gt;/DeviceScenarioTests.&lt;Stem&gt;.cs</c>); this file holds what they
/// share and the tests that span devices.
/// </summary>
public sealed partial class DeviceScenarioTests
{
    /// <summary>The seed 000 test program's output (demo-pci and virtio-demo print it alike).</summary>
    private static readonly string[] TestLines =
    [
        "0. write 1333",
        "1. read = 1333",
        "2. write 2333",
        "3. read = 2333",
        "4. write 3333",
        "5. read = 3333",
    ];

    private static (IReadOnlyList<string> Lines, ScenarioRun Run) RunScenario(
        string name,
        ulong seed = 1,
        params (string Key, string Value)[] opts
    )
    {
        IScenario scenario = Assert.IsAssignableFrom<IScenario>(ScenarioCatalog.Find(name));
        var options = new ScenarioOptions(seed);
        foreach ((string k, string v) in opts)
            options = options.With(k, v);
        ScenarioRun run = scenario.Create(options);
        run.Run();
        return (run.ReportLines(), run);
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("virtio-demo")]
    [InlineData("factorial")]
    public void SameSeed_SameEventHash(string name)
    {
        var (a, runA) = RunScenario(name, 42, ("requests", "2"));
        var (b, runB) = RunScenario(name, 42, ("requests", "2"));
        Assert.Equal(runA.Simulation.EventHash, runB.Simulation.EventHash);
        Assert.Equal(a, b);
    }

    [Fact]
    public void UnknownOptionValue_Throws()
    {
        IScenario s = ScenarioCatalog.Find("virtio-demo")!;
        Assert.Throws<ArgumentException>(() => s.Create(new ScenarioOptions(1).With("transport", "mmio")));
        Assert.Throws<ArgumentException>(() =>
            ScenarioCatalog.Find("factorial")!.Create(new ScenarioOptions(1).With("n", "-1"))
        );
    }
}
