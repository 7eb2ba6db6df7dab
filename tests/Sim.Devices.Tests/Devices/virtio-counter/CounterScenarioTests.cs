using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Xunit;

namespace Sim.Devices.Tests.Counter;

public sealed class CounterScenarioTests
{
    private static (ScenarioRun Run, IReadOnlyList<string> Lines) Run(
        ulong seed,
        params (string Key, string Value)[] opts
    )
    {
        var options = new ScenarioOptions(seed);
        foreach ((string k, string v) in opts)
            options = options.With(k, v);
        ScenarioRun run = ScenarioCatalog.Find("counter")!.Create(options);
        run.Run();
        return (run, run.ReportLines());
    }

    [Fact]
    public void PrintsTheSeedProgramsLinesThenPerRequestCounts()
    {
        (ScenarioRun run, IReadOnlyList<string> lines) = Run(1, ("ticks", "3"));
        Assert.True(run.Simulation.GuestExited);
        string[] expected =
        [
            "kernel: ******create virttest",
            "qemu: ==============set config:0",
            "kernel: virttest virttest_changed",
            "kernel: virttest get config change",
            "qemu: =========get virtio num:1",
            "kernel: virttest get ack",
            "qemu: ==============set config:1",
            "kernel: virttest virttest_changed",
            "kernel: virttest get config change",
            "qemu: =========get virtio num:2",
            "kernel: virttest get ack",
            "qemu: ==============set config:2",
            "kernel: virttest virttest_changed",
            "kernel: virttest get config change",
            "qemu: =========get virtio num:3",
            "kernel: virttest get ack",
            "device: flavour=robust ticks=3 config_irqs=3 ticks_lost=0 requests=3 numbers=3 last_used_len=0 broken=0",
            "driver: counter=3 config_changes=3 sent=3 acks=3 add_failures=0",
        ];
        Assert.Equal(expected, lines.Take(expected.Length));
        Assert.StartsWith("per_request: requests=3 exits=0.00 ", lines[expected.Length]);
    }

    [Fact]
    public void SeedFlavourPushesBytesReadAndLosesTicksBeforeDriverOk()
    {
        (_, IReadOnlyList<string> lines) = Run(
            1,
            ("ticks", "2"),
            ("flavour", "seed"),
            ("first_delay_ns", "0"),
            ("period_ns", "20000"),
            ("transport", "legacy"),
            ("irq", "intx")
        );
        // The timer runs from realize: its first tick comes before the driver even starts, and is lost.
        Assert.Equal("qemu: ==============set config:0", lines[0]);
        Assert.Equal("kernel: ******create virttest", lines[1]);
        string device = lines.Single(l => l.StartsWith("device:", StringComparison.Ordinal));
        Assert.Contains("flavour=seed", device);
        Assert.Contains("last_used_len=4", device);
        Assert.DoesNotContain("ticks_lost=0", device);
    }

    [Theory]
    [InlineData("robust", "modern", "msix")]
    [InlineData("seed", "legacy", "intx")]
    public void SameSeedSameEventHash(string flavour, string transport, string irq)
    {
        (ScenarioRun a, IReadOnlyList<string> la) = Run(
            7,
            ("ticks", "3"),
            ("flavour", flavour),
            ("transport", transport),
            ("irq", irq)
        );
        (ScenarioRun b, IReadOnlyList<string> lb) = Run(
            7,
            ("ticks", "3"),
            ("flavour", flavour),
            ("transport", transport),
            ("irq", irq)
        );
        Assert.Equal(a.Simulation.EventHash, b.Simulation.EventHash);
        Assert.Equal(la, lb);
        Assert.True(a.Simulation.GuestExited);
    }

    [Fact]
    public void UnknownOptionValuesAreRejected()
    {
        Assert.Throws<ArgumentException>(() =>
            ScenarioCatalog.Find("counter")!.Create(new ScenarioOptions(1).With("flavour", "shiny"))
        );
        Assert.Throws<ArgumentException>(() =>
            ScenarioCatalog.Find("counter")!.Create(new ScenarioOptions(1).With("tick", "3"))
        );
    }
}
