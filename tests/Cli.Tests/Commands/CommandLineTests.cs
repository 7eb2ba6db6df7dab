using Xunit;

namespace Cli.Tests.Commands;

/// <summary>Usage errors, user files and the small commands.</summary>
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
        foreach (string name in new[] { "ping", "demo", "virtio-demo", "factorial", "counter", "blk" })
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
        if (File.Exists("/dev/kvm")) return; // this machine has KVM: the check below does not apply
        var (code, _, err) = CliRunner.Run("record", "--guest", "g.bin", "--device", "virtio-demo", "-o", "t.vtrace");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("/dev/kvm is not present", err, StringComparison.Ordinal);
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
    public void FuzzList_NamesTargets()
    {
        var (code, output, _) = CliRunner.Run("fuzz", "--list");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.NotEmpty(output.Trim());
    }
}
