using System.Globalization;
using Sim.Engine.Random;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// <c>virtio-net-qemu-real</c> against QEMU 7.2's virtio-net-pci: the seeds and a bounded, fixed-seed mutation pass
/// show no difference the <see cref="NetQemu72Differences"/> table does not explain. Each test prints why it skipped
/// where QEMU is missing (xunit 2 has no dynamic skip: it returns).
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuNetDifferentialTests(ITestOutputHelper output)
{
    /// <summary>Mutated inputs of the bounded pass (seconds against QEMU).</summary>
    public const int PassRuns = 300;

    private bool Skipped()
    {
        if (VirtioNetQemuTarget.Available is not { } why)
            return false;
        output.WriteLine("SKIPPED: " + why);
        return true;
    }

    /// <summary>The known QEMU 7.2 bug a crash finding shows, or null.</summary>
    private static string? KnownBug(string message) =>
        NetQemu72Differences
            .KnownBugs.Where(b => message.Contains(b.Stderr, StringComparison.Ordinal))
            .Select(b => b.QemuFunction)
            .FirstOrDefault();

    [Fact]
    public void Listed_ByFuzzTargets()
    {
        Assert.Contains(FuzzTargets.All, t => t.Name == VirtioNetQemuTarget.TargetName);
        Assert.IsType<VirtioNetQemuTarget>(FuzzTargets.Create(VirtioNetQemuTarget.TargetName));
    }

    [Fact]
    public void Seeds_AgreeWithQemu72_AndReceiveFrames()
    {
        if (Skipped())
            return;
        var target = new VirtioNetQemuTarget { ReproducerDirectory = null };
        int n = 0;
        long received = 0;
        var failures = new List<string>();
        foreach (byte[] seed in target.SeedCorpus())
        {
            var context = new FuzzContext { Log = new StringWriter() };
            Assert.Equal(FuzzOutcome.Completed, target.Execute(seed, context));
            string verdict = context.Finding is { } f ? f.Oracle + " " + f.Site + ": " + f.Message : "agree";
            output.WriteLine($"seed {n}: {verdict} {context.Log}");
            if (context.Finding is { } g && KnownBug(g.Message) is null)
            {
                failures.Add($"seed {n}: {Convert.ToHexString(seed)}");
            }
            if (n == 0)
                received = VirtioNetQemuTarget.LastFacts.FramesReceived;
            n++;
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        // The first seed's chain holds header + the 60-byte source frame: a frame really went through QEMU.
        Assert.Equal(1, received);
    }

    [Fact]
    public void BoundedDifferentialPass_FixedSeed_NoUnexplainedDifference()
    {
        if (Skipped())
            return;
        ulong seedValue = Environment.GetEnvironmentVariable("VIRTSIM_QEMU_PASS_SEED") is { } ps
            ? ulong.Parse(ps, CultureInfo.InvariantCulture)
            : 15;
        output.WriteLine($"seed {seedValue} (reproduce: this test, fixed seed; $VIRTSIM_QEMU_PASS_SEED overrides it)");
        var target = new VirtioNetQemuTarget { ReproducerDirectory = null };
        var mutator = new ScenarioMutator();
        var prng = new Prng(seedValue);
        byte[][] seeds = [.. target.SeedCorpus()];
        byte[] buffer = new byte[4096];
        var failures = new List<string>();
        int known = 0;
        target.Execute(seeds[0], new FuzzContext()); // starts QEMU outside the timing
        int runs = Environment.GetEnvironmentVariable("VIRTSIM_QEMU_PASS_RUNS") is { } r
            ? int.Parse(r, CultureInfo.InvariantCulture)
            : PassRuns;
        TimeSpan cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        TimeSpan qemuCpu = VirtioNetQemuTarget.QemuCpuTime;
        long reruns0 = VirtioNetQemuTarget.Reruns,
            drains0 = VirtioNetQemuTarget.Drains;
        for (int i = 0; i < runs; i++)
        {
            byte[] seed = seeds[i % seeds.Length];
            seed.CopyTo(buffer, 0);
            int length = seed.Length;
            for (int m = 0; m <= i % 4; m++)
                length = mutator.Mutate(buffer, length, prng);
            byte[] input = buffer[..length];
            var context = new FuzzContext();
            target.Execute(input, context);
            if (context.Finding is not { } f)
                continue;
            if (KnownBug(f.Message) is { } bug)
            {
                known++;
                if (known == 1)
                    output.WriteLine($"known QEMU 7.2 bug ({bug}): input {Convert.ToHexString(input)}");
            }
            else
            {
                failures.Add($"run {i}: {f.Oracle} {f.Site}: {f.Message}\n  input {Convert.ToHexString(input)}");
            }
        }
        double own = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        double qemu = (VirtioNetQemuTarget.QemuCpuTime - qemuCpu).TotalSeconds;
        // A crash restarts QEMU, whose CPU clock then starts again: QEMU's figure is only meaningful without one.
        string qemuText = known == 0 ? $"{qemu:0.00} s" : "n/a (restarted)";
        output.WriteLine(
            $"CPU virtsim {own:0.00} s + QEMU {qemuText} over {runs} runs (informational); re-runs "
                + $"{VirtioNetQemuTarget.Reruns - reruns0}, drains {VirtioNetQemuTarget.Drains - drains0}, late "
                + "settles "
                + $"{VirtioNetQemuTarget.LateSettles}"
        );
        output.WriteLine($"known QEMU 7.2 bugs hit: {known}");
        output.WriteLine($"explained: {string.Join(", ", target.Explained.Select(kv => kv.Key + "=" + kv.Value))}");
        foreach (string f in failures.Take(20))
            output.WriteLine(f);
        Assert.True(
            failures.Count == 0,
            $"{failures.Count} unexplained differences; first: {failures.FirstOrDefault()}"
        );
    }

    /// <summary>A distinct QEMU outcome counted per input: the seeds differ in it (a receive, a transmit, a chain too
    /// small for the header), so the guidance edge is not constant.</summary>
    [Fact]
    public void Seeds_ReachSeveralDistinctOutcomes()
    {
        if (Skipped())
            return;
        var target = new VirtioNetQemuTarget { ReproducerDirectory = null };
        byte[][] seeds = [.. target.SeedCorpus()];
        foreach (byte[] seed in seeds)
            target.Execute(seed, new FuzzContext());
        output.WriteLine($"{seeds.Length} seeds, {target.DistinctOutcomes} distinct QEMU outcomes");
        Assert.True(target.DistinctOutcomes >= 3, $"{target.DistinctOutcomes} distinct outcomes");
    }

    /// <summary>The guidance measure for net (docs/qemu-backend.md): distinct QEMU outcomes of pure random inputs for
    /// <c>$VIRTSIM_QEMU_RANDOM_SECONDS</c>, and of a guided campaign's corpus (<c>$VIRTSIM_QEMU_OUTCOME_CORPUS</c>,
    /// written by <c>virtsim fuzz run --target virtio-net-qemu-real --corpus DIR</c>). Opt-in: a measurement.</summary>
    [Fact]
    public void NetOutcomeDiversity_Measurement()
    {
        if (Skipped())
            return;
        QemuOutcomeMeasurement.Run(output, () => new VirtioNetQemuTarget());
    }
}
