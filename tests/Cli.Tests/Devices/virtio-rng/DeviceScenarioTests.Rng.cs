using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

// virtio-rng's scenario tests: a part of DeviceScenarioTests, whose shared runner (RunScenario) is in
// tests/Cli.Tests/Scenarios/DeviceScenarioTests.cs.
public sealed partial class DeviceScenarioTests
{
    [Theory]
    [InlineData("robust", "modern", "msix")]
    [InlineData("seed", "legacy", "intx")]
    public void Rng_FillsEachReadFromTheSeededPrng(string flavour, string transport, string irq)
    {
        var (lines, run) = RunScenario(
            "rng",
            7,
            ("flavour", flavour),
            ("transport", transport),
            ("irq", irq),
            ("requests", "4"),
            ("bytes", "32")
        );
        string[] reads = [.. lines.Where(l => l.StartsWith("rng: ", StringComparison.Ordinal))];
        Assert.Equal(4, reads.Length);
        // Robust reports the 32 bytes it wrote; the seed flavour reports its fixed 64-byte block whatever it wrote.
        Assert.All(reads, l =>
            Assert.StartsWith(flavour == "seed" ? "rng: 64 bytes " : "rng: 32 bytes ", l, StringComparison.Ordinal)
        );
        Assert.Equal(4, reads.Distinct(StringComparer.Ordinal).Count()); // fresh entropy for every read
        Assert.True(run.Simulation.GuestExited);
        Assert.Contains(lines, l =>
            l.StartsWith($"device: flavour={flavour} requests=4 bytes=128 refused=0 broken=0", StringComparison.Ordinal)
        );
        // The same seed gives the same bytes; another seed other bytes.
        Assert.Equal(
            lines,
            RunScenario(
                "rng",
                7,
                ("flavour", flavour),
                ("transport", transport),
                ("irq", irq),
                ("requests", "4"),
                ("bytes", "32")
            ).Lines
        );
        Assert.NotEqual(
            reads,
            RunScenario(
                "rng",
                8,
                ("flavour", flavour),
                ("transport", transport),
                ("irq", irq),
                ("requests", "4"),
                ("bytes", "32")
            )
                .Lines.Where(l => l.StartsWith("rng: ", StringComparison.Ordinal))
        );
    }
}
