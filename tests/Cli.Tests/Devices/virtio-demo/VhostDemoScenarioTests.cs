using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Virtsim.Cli;
using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

/// <summary>The "vhost-demo" scenario: lab 2's guest driver and test on the lab 3 vhost backend.</summary>
public sealed class VhostDemoScenarioTests
{
    private static readonly string[] TestLines =
    [
        "open /dev/virtio_demo success..",
        "0. write 1333",
        "1. read = 1333",
        "2. write 2333",
        "3. read = 2333",
        "4. write 3333",
        "5. read = 3333",
    ];

    private static (IReadOnlyList<string> Lines, ScenarioRun Run) RunScenario(
        string name,
        ulong seed,
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
    [InlineData("modern", "msix", "irqfd")]
    [InlineData("legacy", "msix", "irqfd")]
    [InlineData("modern", "intx", "userspace")]
    public void Robust_PrintsTheSeedTestOutput(string transport, string irq, string call)
    {
        var (lines, run) = RunScenario("vhost-demo", 1, ("transport", transport), ("irq", irq));
        Assert.Equal(TestLines, lines.Take(7));
        Assert.True(run.Simulation.GuestExited);
        Assert.Contains("device: flavour=robust requests=6 short=0 buff=3333 vq_errors=0 qemu_handler_runs=0", lines);
        Assert.Contains(lines, l =>
            l.StartsWith("vhost: started=1 starts=1 start_failures=0 call=" + call + " ", StringComparison.Ordinal)
        );
        Assert.DoesNotContain(lines, l => l.Contains("livelocked", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("per_request: requests=6 ", StringComparison.Ordinal));
    }

    [Fact]
    public void Seed_AnswersTheTest_ButReportsTheLivelockedWorker_AndTerminates()
    {
        var (lines, run) = RunScenario("vhost-demo", 1, ("flavour", "seed"));
        Assert.Equal(TestLines, lines.Take(7)); // v4 follows the writes, so the test still reads back its values
        Assert.True(run.Simulation.GuestExited);
        Assert.Contains("device: flavour=seed requests=6 short=0 buff=3333 vq_errors=0 qemu_handler_runs=0", lines);
        Assert.Contains(lines, l =>
            l.StartsWith("vhost: worker livelocked: handle_demo_kick requeued itself ", StringComparison.Ordinal)
            && l.EndsWith("sleeping=0", StringComparison.Ordinal)
        );
    }

    [Fact]
    public void PerRequest_VhostHasNoUserspaceExits_AndNoQemuWakeups()
    {
        var (vhost, _) = RunScenario("vhost-demo", 1);
        var (exit, _) = RunScenario("virtio-demo", 1, ("notify", "exit"));
        var (ioeventfd, _) = RunScenario("virtio-demo", 1, ("notify", "ioeventfd"));
        // vhost: kick = ioeventfd hit (no exit), the worker's wake-up is the only context switch, the call eventfd
        // is the irqfd (second eventfd signal). The latencies are the model's (LatencyModel defaults).
        Assert.Contains(
            "per_request: requests=6 exits=0.00 (mmio=0.00 pio=0.00) ioeventfd=1.00 eventfd_signals=2.00 "
                + "interrupts=1.00 ctx_switches=1.00 latency_ns=6750",
            vhost
        );
        Assert.Contains(
            "per_request: requests=6 exits=1.00 (mmio=1.00 pio=0.00) ioeventfd=0.00 eventfd_signals=0.00 "
                + "interrupts=1.00 ctx_switches=0.00 latency_ns=9100",
            exit
        );
        Assert.Contains(
            "per_request: requests=6 exits=0.00 (mmio=0.00 pio=0.00) ioeventfd=1.00 eventfd_signals=1.00 "
                + "interrupts=1.00 ctx_switches=1.00 latency_ns=7250",
            ioeventfd
        );
        Assert.Contains(vhost, l =>
            l.StartsWith("vhost: ", StringComparison.Ordinal)
            && l.Contains(" handler_runs=7 call_signals=6 userspace_calls=0", StringComparison.Ordinal)
        );
        // Seed 004's argument: the vhost path beats both userspace virtio paths.
        Assert.True(Latency(vhost) < Latency(ioeventfd) && Latency(vhost) < Latency(exit));
    }

    private static long Latency(IEnumerable<string> lines)
    {
        string line = lines.Single(l => l.StartsWith("per_request: ", StringComparison.Ordinal));
        return long.Parse(
            line[(line.LastIndexOf("latency_ns=", StringComparison.Ordinal) + "latency_ns=".Length)..],
            System.Globalization.CultureInfo.InvariantCulture
        );
    }

    [Fact]
    public void Repeats_RequestsTimes()
    {
        var (lines, _) = RunScenario("vhost-demo", 3, ("requests", "3"));
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
    public void SameSeed_SameEventHash(string flavour)
    {
        var (a, runA) = RunScenario("vhost-demo", 42, ("requests", "2"), ("flavour", flavour));
        var (b, runB) = RunScenario("vhost-demo", 42, ("requests", "2"), ("flavour", flavour));
        Assert.Equal(runA.Simulation.EventHash, runB.Simulation.EventHash);
        Assert.Equal(a, b);
    }

    [Fact]
    public void DeviceLog_ShowsVhostStatusTransitions()
    {
        var (lines, _) = RunScenario("vhost-demo", 1, ("device_log", "1"));
        Assert.Contains("qemu: virtio_demo_vhost_status() after vhost_demo_start", lines);
        Assert.Contains("qemu: virtio_demo_vhost_status() return 2", lines);
    }

    [Theory]
    [InlineData("flavour=robust")]
    [InlineData("flavour=seed")]
    public void Cli_RunWithTrace_ThenReplay_Matches(string option)
    {
        string dir = Path.Combine(
            Path.GetTempPath(),
            "virtsim-vhostfe-" + Environment.ProcessId + "-" + option.Replace('=', '_')
        );
        Directory.CreateDirectory(dir);
        string trace = Path.Combine(dir, "vhost-demo.vtrace");
        try
        {
            var outRun = new StringWriter();
            var errRun = new StringWriter();
            int rc = new CliApp(outRun, errRun).Run([
                "run",
                "vhost-demo",
                "--seed",
                "5",
                "--opt",
                option,
                "--trace",
                trace,
                "--force",
            ]);
            Assert.True(rc == 0, errRun.ToString());
            Assert.Contains("vhost: started=1", outRun.ToString(), StringComparison.Ordinal);
            Assert.Contains("per_request:", outRun.ToString(), StringComparison.Ordinal);
            var outReplay = new StringWriter();
            var errReplay = new StringWriter();
            rc = new CliApp(outReplay, errReplay).Run(["replay", trace]);
            Assert.True(rc == 0, outReplay + errReplay.ToString());
            Assert.Contains("1 ok, 0 diverged", outReplay.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
