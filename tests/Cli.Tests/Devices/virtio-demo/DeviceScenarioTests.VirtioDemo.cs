using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

// virtio-demo's scenario tests: a part of DeviceScenarioTests, whose shared runner (RunScenario) is in
// tests/Cli.Tests/Scenarios/DeviceScenarioTests.cs.
public sealed partial class DeviceScenarioTests
{
    [Theory]
    [InlineData("robust", "modern", "ioeventfd", "msix")]
    [InlineData("seed", "modern", "ioeventfd", "msix")]
    [InlineData("robust", "modern", "exit", "msix")]
    [InlineData("robust", "legacy", "ioeventfd", "msix")]
    [InlineData("seed", "legacy", "exit", "intx")]
    [InlineData("robust", "modern", "ioeventfd", "intx")]
    public void VirtioDemo_PrintsTheSeedTestOutput(string flavour, string transport, string notify, string irq)
    {
        var (lines, run) = RunScenario(
            "virtio-demo",
            1,
            ("flavour", flavour),
            ("transport", transport),
            ("notify", notify),
            ("irq", irq)
        );
        Assert.Equal(["open /dev/virtio_demo success..", .. TestLines], lines.Take(7));
        Assert.True(run.Simulation.GuestExited);
        Assert.Contains(lines, l =>
            l.StartsWith(
                "device: flavour=" + flavour + " requests=6 short=0 unknown_opt=0 buff=3333 broken=0",
                StringComparison.Ordinal
            )
        );
        Assert.Contains(lines, l => l.StartsWith("per_request: requests=6 ", StringComparison.Ordinal));
    }

    [Fact]
    public void VirtioDemo_PerRequest_IoEventFdAvoidsExits()
    {
        var (fast, _) = RunScenario("virtio-demo", 1, ("notify", "ioeventfd"));
        var (slow, _) = RunScenario("virtio-demo", 1, ("notify", "exit"));
        Assert.Contains(
            "per_request: requests=6 exits=0.00 (mmio=0.00 pio=0.00) ioeventfd=1.00 eventfd_signals=1.00 "
                + "interrupts=1.00 ctx_switches=1.00 latency_ns=7250",
            fast
        );
        Assert.Contains(
            "per_request: requests=6 exits=1.00 (mmio=1.00 pio=0.00) ioeventfd=0.00 eventfd_signals=0.00 "
                + "interrupts=1.00 ctx_switches=0.00 latency_ns=9100",
            slow
        );
    }

    [Fact]
    public void VirtioDemo_Repeats_RequestsTimes()
    {
        var (lines, _) = RunScenario("virtio-demo", 3, ("requests", "3"));
        Assert.Equal(
            18,
            lines.Count(l =>
                l.Contains(". write ", StringComparison.Ordinal) || l.Contains(". read = ", StringComparison.Ordinal)
            )
        );
        Assert.Contains(lines, l => l.StartsWith("per_request: requests=18 ", StringComparison.Ordinal));
    }
}
