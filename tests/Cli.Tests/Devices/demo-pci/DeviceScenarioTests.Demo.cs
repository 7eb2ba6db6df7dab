using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

// demo-pci's scenario tests: a part of DeviceScenarioTests, whose shared runner (RunScenario) is in
// tests/Cli.Tests/Scenarios/DeviceScenarioTests.cs.
public sealed partial class DeviceScenarioTests
{
    [Theory]
    [InlineData("robust")]
    [InlineData("seed")]
    public void Demo_PrintsTheSeedTestOutput(string flavour)
    {
        var (lines, run) = RunScenario("demo", 1, ("flavour", flavour));
        Assert.Equal(["open /dev/demo success..", .. TestLines], lines.Take(7));
        Assert.True(run.Simulation.GuestExited);
        Assert.Contains(
            "per_request: requests=6 exits=1.00 (mmio=1.00 pio=0.00) ioeventfd=0.00 eventfd_signals=0.00 "
                + "interrupts=0.00 ctx_switches=0.00 latency_ns=7600",
            lines
        );
    }
}
