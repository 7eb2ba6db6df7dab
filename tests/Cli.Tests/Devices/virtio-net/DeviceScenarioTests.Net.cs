using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

// virtio-net's scenario tests: a part of DeviceScenarioTests, whose shared runner (RunScenario) is in
// tests/Cli.Tests/Scenarios/DeviceScenarioTests.cs.
public sealed partial class DeviceScenarioTests
{
    [Theory]
    [InlineData("robust", "modern", "msix")]
    [InlineData("seed", "legacy", "intx")]
    public void Net_EveryFrameSentComesBackIntact(string flavour, string transport, string irq)
    {
        (string, string)[] opts =
        [
            ("flavour", flavour),
            ("transport", transport),
            ("irq", irq),
            ("frames", "5"),
            ("bytes", "100"),
        ];
        var (lines, run) = RunScenario("net", 3, opts);
        string[] echoes = [.. lines.Where(l => l.StartsWith("net: ", StringComparison.Ordinal))];
        Assert.Equal(5, echoes.Length);
        const string head = "net: tx 100 bytes, rx 100 bytes ffffffffffff525400123456";
        Assert.All(echoes, l => Assert.StartsWith(head, l, StringComparison.Ordinal));
        Assert.All(echoes, l => Assert.EndsWith(" echo=ok", l, StringComparison.Ordinal));
        Assert.Equal(5, echoes.Distinct(StringComparer.Ordinal).Count()); // each frame's payload differs
        Assert.True(run.Simulation.GuestExited);
        string device = $"device: flavour={flavour} sent=5 bytes=500 received=5 dropped=0 broken=0";
        Assert.Contains(lines, l => l.StartsWith(device, StringComparison.Ordinal));
        Assert.Equal(lines, RunScenario("net", 3, opts).Lines);
    }
}
