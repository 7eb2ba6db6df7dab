using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

public sealed class DeviceScenarioTests
{
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
