using Sim.Engine.Random;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The rng differences longer campaigns found against QEMU 7.2 (issue 15, docs/qemu-backend.md "rng triage"), each
/// with its resolution: a model fix (the robust rng walks the available chains as QEMU's get_request_size does, at
/// kicks and at DRIVER_OK) or a row of <see cref="RngQemu72Differences"/>. Each input runs against QEMU again and
/// must produce no finding. Also: a saved rng reproducer replays with plain QEMU, and the outcome measurement.
/// Where QEMU is missing the tests say so and return.
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuRngTriagedTests(ITestOutputHelper output)
{
    /// <summary>A kick walks a chain QEMU left available (the model popped and refused it: a driver-readable buffer),
    /// which the driver has since made loop on itself: QEMU breaks with "Looped descriptor",
    /// deterministically.</summary>
    public const string LoopOnLeftChain =
        "00040000020000000000000000000000000000000000010800000000000000000000000000000000"
        + "0000000000000000000000000000000000010000000e";

    /// <summary>(how it was resolved: the row that must explain it, "model-breaks" for the model fix, or
    /// "timer: ROW" where QEMU's rate-limit timer makes the difference appear on some runs only; input hex).</summary>
    public static TheoryData<string, string> Triaged { get; } =
        new()
        {
            // "Guest moved used index from 0 to 8448" at DRIVER_OK over a stale avail.idx: the model now walks there
            // too.
            {
                "model-breaks",
                "03040000000700000021000000000000000000000000340b00000000000000000000000000000000"
                    + "00400a000000000000000000000000000000000002"
            },
            { "readable-buffers-refused", LoopOnLeftChain },
            // Chains published and never kicked: QEMU's check_rate_limit walks or serves them 1 ms later, or not.
            {
                "timer: timer-served-unkicked-chains",
                "020400000b0000007f00000000000000000000000000400200000000000000000000000000000000"
                    + "000202000000000000000000000000000000000007020000000000000000000000000000000000f5"
                    + "000000000000000000000000000000000000000000"
            },
            {
                "timer: timer-served-unkicked-chains",
                "00040000020000000000000000000000000000000000000b00000000000000000000000000000000"
                    + "00780a0000000000000000000000000000000000000000000000000000000005"
            },
            {
                "timer: timer-served-unkicked-chains",
                "0541f80002000000005c5c5c5c5c5c5c5c5c5c585c5c5c5c0000000000000000005c000000005c00"
                    + "005c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c005c5c5c5c5c005c5cf002000000000000000000000700"
                    + "5c5c5c5c5c005c5c5c5c005c5c00005c5c5c5c5c5c5c5c5c5c5c5c5c5c0300ffff5c04021b000700"
                    + "000000000000fb00ad68017c000000000000e38c5f51000000ff00b0020000002a8b6846d4d80000"
                    + "00005c5c005c5c5c00000000000000000000000000"
            },
            {
                "timer: timer-served-unkicked-chains",
                "01040000020000000000000000000000000000000000040b00000000000000000000000000000000"
                    + "00410800000000000000000000000000000000000003000000000000000000000000000000ffff"
            },
            // The 10-minute run's one finding: the model broke, a re-initialisation reset it, QEMU's timer then walked
            // the chains left waiting ("Looped descriptor") while the model, reset, did not.
            {
                "timer: timer-served-unkicked-chains",
                "00040000000000000000000000000000000000000000000200000000000000000000000000000000"
                    + "0000020000000000000000000000000000000000000a000000000000000000000000000000000003"
                    + "02000000000000000000000000000000000000000000000000000000000000000000010000000200"
                    + "00000000000000000000000000000000000800000000000000000000000000000000000000000000"
                    + "0000000000000000000000000000000a000000000000000000000000000000000003000000000000"
                    + "000000000000000000010000000c"
            },
        };

    private bool Skipped()
    {
        if (VirtioRngQemuTarget.Available is not { } why)
            return false;
        output.WriteLine("SKIPPED: " + why);
        return true;
    }

    [Theory]
    [MemberData(nameof(Triaged))]
    public void TriagedDifference_IsResolved(string resolution, string hex)
    {
        if (Skipped())
            return;
        var target = new VirtioRngQemuTarget { ReproducerDirectory = null };
        var context = new FuzzContext { Log = new StringWriter() };
        Assert.Equal(FuzzOutcome.Completed, target.Execute(Convert.FromHexString(hex), context));
        output.WriteLine(context.Log.ToString());
        Assert.Null(context.Finding);
        if (resolution == "model-breaks")
        {
            Assert.True(VirtioRngQemuTarget.LastFacts.ModelEverBroken, "the model did not break where QEMU 7.2 does");
        }
        else if (resolution.StartsWith("timer: ", StringComparison.Ordinal))
        {
            // The timer fires on wall time: the difference shows on some runs. When it shows, only its row explains it.
            string row = resolution["timer: ".Length..];
            string[] allowed =
            [
                row,
                "stale-avail-at-driver-ok",
                "readable-buffers-refused",
                "both-broken",
                "no-writable-bytes-left-available",
                "entropy-over-rings-or-buffers",
            ];
            Assert.True(target.Explained.Keys.All(allowed.Contains), string.Join(", ", target.Explained.Keys));
            Assert.True(VirtioRngQemuTarget.LastFacts.ChainsWaitedUnkicked);
        }
        else
        {
            string explained = string.Join(", ", target.Explained.Keys);
            Assert.True(target.Explained.ContainsKey(resolution), $"row {resolution} did not explain it: {explained}");
        }
    }

    /// <summary>Item of issue 15: a finding's standalone rng reproducer (QEMU command line + qtest script) replays with
    /// plain QEMU, no virtsim: every command answered, and QEMU's break message on stderr as in the recorded
    /// run.</summary>
    [Fact]
    public async Task RngReproducer_ReplaysWithPlainQemu()
    {
        if (Skipped())
            return;
        string dir = Path.Combine(Path.GetTempPath(), $"virtsim-rng-repro-test-{Environment.ProcessId}");
        if (Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
        byte[] input = Convert.FromHexString(LoopOnLeftChain);
        QemuReproducer.WriteRng(QemuBinary.Find()!, input, dir, "a loop on a chain QEMU left available");
        Assert.False(File.Exists(Path.Combine(dir, "disk.img")));
        var start = new System.Diagnostics.ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(dir, QemuReproducer.RunFileName));
        using var p = System.Diagnostics.Process.Start(start)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        string stderr = await err;
        string[] script = File.ReadAllLines(Path.Combine(dir, QemuReproducer.ScriptFileName));
        string[] answers = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string prefix = QemuBinary.ProgramName + ":";
        // The qtest log shares stderr with error_report, so QEMU's message can start in the middle of a log line.
        string[] messages =
        [
            .. stderr
                .Split('\n')
                .Where(l => l.Contains(prefix, StringComparison.Ordinal))
                .Select(l => l[l.IndexOf(prefix, StringComparison.Ordinal)..]),
        ];
        string notes = File.ReadAllText(Path.Combine(dir, QemuReproducer.NotesFileName));
        output.WriteLine($"{script.Length} commands, {answers.Length} answers");
        output.WriteLine("QEMU said: " + string.Join(" | ", messages));
        output.WriteLine(notes);
        string run = File.ReadAllText(Path.Combine(dir, QemuReproducer.RunFileName));
        Assert.Contains("virtio-rng-pci", run, StringComparison.Ordinal);
        Assert.Equal(script.Length, answers.Length);
        Assert.Contains(messages, m => m.Contains("Looped descriptor", StringComparison.Ordinal));
        Assert.Contains("Looped descriptor", notes, StringComparison.Ordinal);
    }

    /// <summary>The guidance measure for rng (docs/qemu-backend.md): distinct QEMU outcomes of pure random inputs for
    /// <c>$VIRTSIM_QEMU_RANDOM_SECONDS</c>, and of a guided campaign's corpus (<c>$VIRTSIM_QEMU_OUTCOME_CORPUS</c>,
    /// written by <c>virtsim fuzz run --target virtio-rng-qemu-real --corpus DIR</c>). Opt-in: a measurement.</summary>
    [Fact]
    public void RngOutcomeDiversity_Measurement()
    {
        if (Skipped())
            return;
        QemuOutcomeMeasurement.Run(output, () => new VirtioRngQemuTarget(), () => VirtioRngQemuTarget.QemuCpuTime);
    }
}
