using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

// virtio-factorial's scenario tests: a part of DeviceScenarioTests, whose shared runner (RunScenario) is in
// tests/Cli.Tests/Scenarios/DeviceScenarioTests.cs.
public sealed partial class DeviceScenarioTests
{
    [Theory]
    [InlineData("robust")]
    [InlineData("seed")]
    public void Factorial_PrintsResults(string flavour)
    {
        var (lines, run) = RunScenario("factorial", 1, ("flavour", flavour), ("n", "5,0,13,17,34"));
        Assert.Equal(["5! = 120", "0! = 1", "13! = 1932053504", "17! = 4006445056", "34! = 0"], lines.Take(5));
        Assert.True(run.Simulation.GuestExited);
        Assert.Contains(lines, l => l.StartsWith("per_request: requests=5 ", StringComparison.Ordinal));
    }

    [Fact]
    public void Factorial_Dmesg_PrintsSignedLikeTheSeed()
    {
        var (lines, _) = RunScenario(
            "factorial",
            1,
            ("n", "17"),
            ("dmesg", "1"),
            ("transport", "legacy"),
            ("irq", "intx")
        );
        Assert.Contains("kernel: virtio response ret is -288522240", lines);
        Assert.Contains("17! = 4006445056", lines);
    }

    [Fact]
    public void Factorial_ArgMax_SeedHangs_RobustAnswersZero()
    {
        var (seed, seedRun) = RunScenario("factorial", 1, ("flavour", "seed"), ("n", "4294967295"));
        Assert.False(seedRun.Simulation.GuestExited);
        Assert.Contains(seed, l =>
            l.StartsWith("device: flavour=seed requests=0 short=0 detached=0 hung=1", StringComparison.Ordinal)
        );
        Assert.Contains("per_request: incomplete", seed);
        var (robust, _) = RunScenario("factorial", 1, ("n", "4294967295"));
        Assert.Equal("4294967295! = 0", robust[0]);
    }
}
