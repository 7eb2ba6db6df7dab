using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>Usage errors, user files and the small commands.</summary>
[Collection(TraceMapCollection.Name)]
public sealed class CommandLineTests
{
    [Fact]
    public void UnknownOption_IsAUsageError_Exit2()
    {
        var (code, _, err) = CliRunner.Run("run", "ping", "--no-such-option");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--help", err, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownScenario_And_BadScenarioOption_AreInputErrors()
    {
        var (code, _, err) = CliRunner.Run("run", "nope");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("unknown scenario 'nope'", err, StringComparison.Ordinal);
        (code, _, err) = CliRunner.Run("run", "ping", "--opt", "requests=zero");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("requests", err, StringComparison.Ordinal);
        (code, _, err) = CliRunner.Run("run", "ping", "--opt", "typo=1");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("unknown option 'typo'", err, StringComparison.Ordinal);
    }

    [Fact]
    public void ListNamesEveryScenario()
    {
        var (code, output, _) = CliRunner.Run("run", "--list");
        Assert.Equal(ExitCodes.Ok, code);
        foreach (string name in Sim.Scenarios.ScenarioCatalog.All.Select(s => s.Name))
        {
            Assert.Contains(name + " ", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AnExistingTraceIsNeverOverwrittenWithoutForce()
    {
        using TempDir dir = CliRunner.TempDir();
        string trace = dir.File("mine.vtrace");
        File.WriteAllText(trace, "a user's file");
        var (code, _, err) = CliRunner.Run("run", "ping", "--trace", trace);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--force", err, StringComparison.Ordinal);
        Assert.Equal("a user's file", File.ReadAllText(trace));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void SameSeedGivesByteIdenticalTraces()
    {
        using TempDir dir = CliRunner.TempDir();
        string a = dir.File("a.vtrace");
        string b = dir.File("b.vtrace");
        Assert.Equal(0, CliRunner.Run("run", "virtio-demo", "--seed", "9", "--trace", a).Code);
        Assert.Equal(0, CliRunner.Run("run", "virtio-demo", "--seed", "9", "--trace", b).Code);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
    }

    [Fact]
    public void Record_WithoutDevKvm_SaysSoAndExits2()
    {
        if (File.Exists("/dev/kvm"))
            return; // this machine has KVM: the check below does not apply
        var (code, _, err) = CliRunner.Run("record", "--guest", "g.bin", "--device", "virtio-demo", "-o", "t.vtrace");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("/dev/kvm is not present", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Record_NoTraceAndOutput_AreExclusive_AndOneIsRequired()
    {
        var (code, _, err) = CliRunner.Run(
            "record",
            "--guest",
            "g.bin",
            "--device",
            "virtio-demo",
            "--no-trace",
            "-o",
            "t.vtrace"
        );
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--no-trace writes no trace", err, StringComparison.Ordinal);
        (code, _, err) = CliRunner.Run("record", "--guest", "g.bin", "--device", "virtio-demo");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--output is required (or --no-trace", err, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchReplay_ReportsEventsPerSecondAndBytesPerEvent()
    {
        using TempDir dir = CliRunner.TempDir();
        string t = dir.File("t.vtrace");
        Assert.Equal(0, CliRunner.Run("run", "virtio-demo", "--trace", t).Code);
        var (code, output, _) = CliRunner.Run("bench", "replay", t, "--repeat", "1");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Matches(
            @"origin=simulated events=[1-9][0-9]* bytes_per_event=[0-9.]+ replay_wall_ms=[0-9.]+ "
                + @"replay_cpu_ms=[0-9.]+ events_per_s_wall=[0-9]+ events_per_s_cpu=([0-9]+|∞)",
            output
        );
        // Only KVM recordings have a real run to compare with.
        Assert.DoesNotContain("speedup", output, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchKvm_MeasuresEveryPath_WhereThereIsKvm()
    {
        if (!File.Exists("/dev/kvm"))
            return; // nothing to measure: BenchKvm needs the machine's KVM
        var (code, output, err) = CliRunner.Run("bench", "kvm", "--operations", "200", "--requests", "4");
        if (code == ExitCodes.UsageOrInput && err.Contains("no guest named", StringComparison.Ordinal))
            return; // guest/build not run
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Equal(
            8,
            System.Text.RegularExpressions.Regex.Count(
                output,
                @"^bare: .* ops=200 wall_ns_per_op=[0-9]+ cpu_ns_per_op=[0-9]+$",
                System.Text.RegularExpressions.RegexOptions.Multiline
            )
        );
        Assert.Equal(
            6,
            System.Text.RegularExpressions.Regex.Count(
                output,
                @"^machine: .*: recorder=(on|off) requests=4 interrupts=4 ",
                System.Text.RegularExpressions.RegexOptions.Multiline
            )
        );
        Assert.Contains("model: userspace_exit_ns=", output, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordKernelVhost_WithoutTheLabModule_SaysSoAndExits2()
    {
        if (!File.Exists("/dev/kvm") || File.Exists("/dev/vhost-demo"))
            return; // needs KVM and no lab module: the lab checks the other case
        var (code, _, err) = CliRunner.Run(
            "record",
            "--guest",
            "g.bin",
            "--device",
            "virtio-demo",
            "--backend",
            "kernel-vhost",
            "-o",
            "t.vtrace"
        );
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("/dev/vhost-demo is missing", err, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordKernelVhostWiring_OnlyWithTheKernelVhostBackend_AndOnlyRelayOrDirect()
    {
        var (code, _, err) = CliRunner.Run(
            "record",
            "--guest",
            "g.bin",
            "--device",
            "virtio-demo",
            "--kernel-vhost-wiring",
            "direct",
            "-o",
            "t.vtrace"
        );
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--kernel-vhost-wiring applies to --backend kernel-vhost only", err, StringComparison.Ordinal);
        (code, _, _) = CliRunner.Run(
            "record",
            "--guest",
            "g.bin",
            "--device",
            "virtio-demo",
            "--backend",
            "kernel-vhost",
            "--kernel-vhost-wiring",
            "sideways",
            "-o",
            "t.vtrace"
        );
        Assert.Equal(ExitCodes.UsageOrInput, code);
    }

    [Fact]
    public void BenchRing_PrintsOneLineEndingInNsPerRequest()
    {
        var (code, output, _) = CliRunner.Run("bench", "ring", "--requests", "1000", "--batch", "8");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Matches(@"ns_per_request=[0-9.]+\s*$", output);
        Assert.Contains("alloc_bytes_per_request=0.000", output, StringComparison.Ordinal);
        (code, _, _) = CliRunner.Run("bench", "ring", "--requests", "10", "--batch", "0");
        Assert.Equal(ExitCodes.UsageOrInput, code);
    }

    [Fact]
    public void BenchRing_ReportsProcessCpuTimeBesideWallTime()
    {
        // Enough requests for the CPU clock (10 ms ticks on some kernels) to move.
        var (code, output, _) = CliRunner.Run("bench", "ring", "--requests", "2000000", "--batch", "32");
        Assert.Equal(ExitCodes.Ok, code);
        System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(
            output,
            @"wall_s=(?<wall>[0-9.]+) cpu_s=(?<cpu>[0-9.]+) cpu_ns_per_req=(?<per>[0-9.]+) ns_per_request=[0-9.]+\s*$"
        );
        Assert.True(m.Success, output);
        double wall = double.Parse(m.Groups["wall"].Value, System.Globalization.CultureInfo.InvariantCulture);
        double cpu = double.Parse(m.Groups["cpu"].Value, System.Globalization.CultureInfo.InvariantCulture);
        double per = double.Parse(m.Groups["per"].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(cpu > 0, output);
        Assert.True(wall > 0, output);
        // cpu_s is printed to the millisecond: half a millisecond over 2,000,000 requests is 0.25 ns each.
        Assert.Equal(cpu * 1e9 / 2_000_000, per, 0.26);
    }

    [Fact]
    public void FuzzList_NamesTargets()
    {
        var (code, output, _) = CliRunner.Run("fuzz", "--list");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.NotEmpty(output.Trim());
    }
}
