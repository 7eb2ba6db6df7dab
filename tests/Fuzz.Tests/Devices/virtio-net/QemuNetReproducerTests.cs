using System.Diagnostics;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// Item of issue 15 for net: a real-QEMU net finding carries a standalone reproducer (QEMU command line, qtest script
/// and the frames QEMU's socket netdev received) that replays with plain QEMU and bash, no virtsim. The input is the
/// committed seed <c>corpus/virtio-net-qemu-real/34b049c04db3dee6</c> that aborts QEMU 7.2 (a receive chain with
/// fewer than 12 writable bytes: <c>iov_from_buf_full: Assertion 'offset == 0'</c>, docs/qemu-backend.md). Skips
/// with a message where QEMU is missing.
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuNetReproducerTests(ITestOutputHelper output)
{
    /// <summary>One driver-readable and one 4-byte writable buffer in one chain, a kick.</summary>
    public const string SmallReceiveChain =
        "03000000020000000000000000000003000000000000040800000000000000000000000000000000000009000000000000000000000000"
        + "000000000000";

    /// <summary>The stderr text of the QEMU 7.2 abort (NetQemu72Differences.KnownBugs).</summary>
    private static readonly string Abort = NetQemu72Differences.KnownBugs[0].Stderr;

    private bool Skipped()
    {
        if (VirtioNetQemuTarget.Available is not { } why)
            return false;
        output.WriteLine("SKIPPED: " + why);
        return true;
    }

    private static string FreshDirectory(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"virtsim-{name}-{Environment.ProcessId}");
        if (Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
        return dir;
    }

    [Fact]
    public async Task NetReproducer_ReplaysTheAbortWithPlainQemu()
    {
        if (Skipped())
            return;
        string dir = FreshDirectory("net-repro-test");
        QemuReproducer.WriteNet(
            QemuBinary.Find()!,
            Convert.FromHexString(SmallReceiveChain),
            dir,
            "a receive chain with 4 writable bytes"
        );
        string notes = File.ReadAllText(Path.Combine(dir, QemuReproducer.NotesFileName));
        string[] frames = File.ReadAllLines(Path.Combine(dir, QemuReproducer.FramesFileName));
        string run = File.ReadAllText(Path.Combine(dir, QemuReproducer.RunFileName));
        output.WriteLine(notes);
        output.WriteLine("frames: " + string.Join(" | ", frames));
        Assert.Contains(Abort, notes, StringComparison.Ordinal);
        Assert.Single(frames);
        Assert.True(File.Exists(Path.Combine(dir, frames[0].Split(' ')[1])));
        Assert.Contains("virtio-net-pci", run, StringComparison.Ordinal);
        Assert.DoesNotContain("QPORT,", run, StringComparison.Ordinal);
        var start = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(dir, QemuReproducer.RunFileName));
        using var p = Process.Start(start)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        string stderr = await err;
        int answers = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        output.WriteLine($"exit {p.ExitCode}; {answers} answers");
        output.WriteLine("stderr tail: " + (stderr.Length <= 600 ? stderr : stderr[^600..]));
        Assert.Contains(Abort, stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, p.ExitCode);
    }

    [Fact]
    public void NetCrashFinding_NamesItsStandaloneReproducer()
    {
        if (Skipped())
            return;
        string dir = FreshDirectory("net-repro-finding-test");
        var target = new VirtioNetQemuTarget { ReproducerDirectory = dir };
        var context = new FuzzContext();
        Assert.Equal(FuzzOutcome.Completed, target.Execute(Convert.FromHexString(SmallReceiveChain), context));
        Assert.NotNull(context.Finding);
        output.WriteLine(context.Finding.Message);
        Assert.Equal(RealQemuTarget.OracleCrash, context.Finding.Oracle);
        Assert.Equal("qemu/died/assert/iov_from_buf_full", context.Finding.Site);
        Assert.Contains(Abort, context.Finding.Message, StringComparison.Ordinal);
        Assert.Contains("standalone reproducer: " + dir, context.Finding.Message, StringComparison.Ordinal);
        string[] written = Directory.GetDirectories(dir);
        Assert.Single(written);
        Assert.True(File.Exists(Path.Combine(written[0], QemuReproducer.FramesFileName)));
        Assert.Contains(
            Abort,
            File.ReadAllText(Path.Combine(written[0], QemuReproducer.NotesFileName)),
            StringComparison.Ordinal
        );
    }
}
