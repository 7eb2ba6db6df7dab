using Sim.Engine.Random;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The real-QEMU backend against QEMU 7.2 (qemu-system-x86_64, installed by scripts/install-deps): every seed and a
/// bounded, fixed-seed mutation pass show no difference the <see cref="Qemu72Differences"/> table does not explain.
/// Each test prints why it skipped where QEMU is missing (xunit 2 has no dynamic skip: it returns).
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuBlkDifferentialTests(ITestOutputHelper output)
{
    /// <summary>Mutated inputs of the bounded pass (a few seconds against QEMU).</summary>
    public const int PassRuns = 300;

    private bool Skipped()
    {
        if (VirtioBlkQemuTarget.Available is not { } why)
            return false;
        output.WriteLine("SKIPPED: " + why);
        return true;
    }

    [Fact]
    public void Seeds_AgreeWithQemu72()
    {
        if (Skipped())
            return;
        var target = new VirtioBlkQemuTarget { ReproducerDirectory = null };
        int n = 0;
        var failures = new List<string>();
        foreach (byte[] seed in target.SeedCorpus())
        {
            var context = new FuzzContext { Log = new StringWriter() };
            Assert.Equal(FuzzOutcome.Completed, target.Execute(seed, context));
            output.WriteLine(
                $"seed {n}: {(context.Finding is { } f ? f.Oracle + " " + f.Site + ": " + f.Message : "agree")} "
                    + $"{context.Log}"
            );
            if (context.Finding is not null)
                failures.Add($"seed {n}: {Convert.ToHexString(seed)}");
            n++;
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Seeds_TwiceEach_SameVerdict()
    {
        if (Skipped())
            return;
        var target = new VirtioBlkQemuTarget { ReproducerDirectory = null };
        var verdicts = new List<string>();
        for (int round = 0; round < 2; round++)
        {
            int n = 0;
            foreach (byte[] seed in target.SeedCorpus())
            {
                var context = new FuzzContext();
                target.Execute(seed, context);
                string v = $"seed {n++}: {context.Finding?.Site ?? "no finding"} after {context.Steps} steps";
                if (round == 0)
                    verdicts.Add(v);
                else
                    Assert.Equal(verdicts[n - 1], v);
            }
        }
        output.WriteLine(string.Join('\n', verdicts));
    }

    [Fact]
    public void BoundedDifferentialPass_FixedSeed_NoUnexplainedDifference()
    {
        if (Skipped())
            return;
        ulong Seed = Environment.GetEnvironmentVariable("VIRTSIM_QEMU_PASS_SEED") is { } ps
            ? ulong.Parse(ps, System.Globalization.CultureInfo.InvariantCulture)
            : 15;
        output.WriteLine(
            $"seed {Seed} (reproduce: this test, fixed seed; $VIRTSIM_QEMU_PASS_SEED overrides it for a measurement)"
        );
        var target = new VirtioBlkQemuTarget { ReproducerDirectory = null };
        var mutator = new ScenarioMutator();
        var prng = new Prng(Seed);
        byte[][] seeds = [.. target.SeedCorpus()];
        byte[] buffer = new byte[4096];
        var failures = new List<string>();
        var knownBugs = new List<string>(); // Qemu72Differences.KnownBugs: tolerated, printed
        target.Execute(seeds[0], new FuzzContext()); // starts QEMU outside the timing
        // Measurement knobs (the CI pass uses neither): more runs, and runs before the clocks start (JIT warm-up
        // dominates the CPU time of a 300-run pass).
        int runs = EnvironmentInt("VIRTSIM_QEMU_PASS_RUNS", PassRuns);
        int warm = EnvironmentInt("VIRTSIM_QEMU_WARMUP_RUNS", 0);
        var clock = new System.Diagnostics.Stopwatch();
        TimeSpan cpu = TimeSpan.Zero,
            qemuCpu = TimeSpan.Zero;
        long trips0 = 0,
            commands0 = 0,
            reruns0 = 0;
        for (int i = 0; i < warm + runs; i++)
        {
            if (i == warm)
            {
                clock.Start();
                cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
                qemuCpu = VirtioBlkQemuTarget.QemuCpuTime;
                (trips0, commands0) = VirtioBlkQemuTarget.QtestCounts;
                reruns0 = VirtioBlkQemuTarget.CarefulReruns;
            }
            byte[] seed = seeds[i % seeds.Length];
            seed.CopyTo(buffer, 0);
            int length = seed.Length;
            for (int m = 0; m <= i % 4; m++)
                length = mutator.Mutate(buffer, length, prng);
            byte[] input = buffer[..length];
            var context = new FuzzContext();
            target.Execute(input, context);
            Classify(i, input, context, failures, knownBugs);
        }
        PrintFigures(runs, warm, clock.Elapsed, cpu, qemuCpu, (trips0, commands0), reruns0);
        output.WriteLine(
            $"{warm + runs} runs, {target.DistinctOutcomes} distinct QEMU outcomes, explained: "
                + string.Join(", ", target.Explained.Select(kv => kv.Key + "=" + kv.Value))
        );
        foreach (string k in knownBugs)
            output.WriteLine(k);
        foreach (string f in failures.Take(20))
            output.WriteLine(f);
        Assert.True(
            failures.Count == 0,
            $"{failures.Count} unexplained differences; first: {failures.FirstOrDefault()}"
        );
    }

    /// <summary>One run's verdict: a known QEMU 7.2 bug (tolerated, printed) or an unexplained difference; with
    /// $VIRTSIM_QEMU_FAILURES_HEX set, every input that fired is appended there for triage.</summary>
    private static void Classify(
        int run,
        byte[] input,
        FuzzContext context,
        List<string> failures,
        List<string> knownBugs
    )
    {
        if (context.Finding is { } f && Qemu72Differences.KnownBug(f.Oracle, f.Site, f.Message) is { } bug)
            knownBugs.Add($"run {run}: known QEMU 7.2 bug {bug}");
        else if (context.Finding is { } u)
            failures.Add($"run {run}: {u.Oracle} {u.Site}: {u.Message}\n  input {Convert.ToHexString(input)}");
        if (
            context.Finding is not null
            && Environment.GetEnvironmentVariable("VIRTSIM_QEMU_FAILURES_HEX") is { } hexOut
        )
            File.AppendAllText(hexOut, Convert.ToHexString(input) + "\n");
    }

    private static int EnvironmentInt(string name, int fallback) =>
        Environment.GetEnvironmentVariable(name) is { } text
            ? int.Parse(text, System.Globalization.CultureInfo.InvariantCulture)
            : fallback;

    /// <summary>The pass's speed (wall, and CPU of virtsim and QEMU) and per-input qtest traffic since the clocks
    /// started: informational, not asserted.</summary>
    private void PrintFigures(
        int runs,
        int warm,
        TimeSpan elapsed,
        TimeSpan cpuAtStart,
        TimeSpan qemuCpuAtStart,
        (long Trips, long Commands) countsAtStart,
        long rerunsAtStart
    )
    {
        double virtsimCpu = (
            System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart
        ).TotalSeconds;
        double qemuCpuUsed = (VirtioBlkQemuTarget.QemuCpuTime - qemuCpuAtStart).TotalSeconds;
        (long trips, long commands) = VirtioBlkQemuTarget.QtestCounts;
        output.WriteLine(
            $"{runs / elapsed.TotalSeconds:0} exec/s wall over {elapsed.TotalSeconds:0.0} s; CPU virtsim "
                + $"{virtsimCpu:0.00} s + QEMU {qemuCpuUsed:0.00} s = {1000 * (virtsimCpu + qemuCpuUsed) / runs:0.00} "
                + $"ms/input, {runs / (virtsimCpu + qemuCpuUsed):0} exec per CPU-second (informational, not asserted; "
                + $"{warm} warm-up runs before the clocks)"
        );
        output.WriteLine(
            $"per input: {(double)(trips - countsAtStart.Trips) / runs:0.00} qtest round trips, "
                + $"{(double)(commands - countsAtStart.Commands) / runs:0.0} commands; settles/QMP queries "
                + $"{VirtioBlkQemuTarget.DrainCounts}; "
                + $"careful re-runs {VirtioBlkQemuTarget.CarefulReruns - rerunsAtStart} "
                + "(fast-only: "
                + string.Join(", ", VirtioBlkQemuTarget.FastOnly.Select(kv => kv.Key + "=" + kv.Value))
                + ")"
        );
    }

    [Fact]
    public async Task Reproducer_ReplaysWithoutVirtsim()
    {
        if (Skipped())
            return;
        string dir = Path.Combine(Path.GetTempPath(), $"virtsim-repro-test-{Environment.ProcessId}");
        if (Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
        byte[] input = BlkSeeds.All().First();
        QemuReproducer.Write(QemuBinary.Find()!, input, dir, "a read of sector 0");
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
        output.WriteLine(
            $"{script.Length} commands, {answers.Length} answers; first commands:\n"
                + $"{string.Join('\n', script.Take(40))}\nanswers:\n{string.Join('\n', answers.Take(60))}\nstderr "
                + $"tail: {stderr[^Math.Min(stderr.Length, 3000)..]}"
        );
        Assert.Equal(script.Length, answers.Length);
        Assert.All(answers, a => Assert.StartsWith("OK", a, StringComparison.Ordinal));
    }

    /// <summary>The guidance measure (docs/qemu-backend.md): distinct QEMU outcomes of pure random inputs for
    /// <c>$VIRTSIM_QEMU_RANDOM_SECONDS</c>, and of a guided campaign's corpus (<c>$VIRTSIM_QEMU_OUTCOME_CORPUS</c>,
    /// written by <c>virtsim fuzz --target virtio-blk-qemu-real --corpus DIR</c>). Opt-in: a measurement, not a
    /// check.</summary>
    [Fact]
    public void OutcomeDiversity_Measurement()
    {
        if (Skipped())
            return;
        if (Environment.GetEnvironmentVariable("VIRTSIM_QEMU_REPLAY_HEX") is { } hexFile)
        {
            // Triage: one hex input per line; prints each one's verdict (reproducers go to $VIRTSIM_QEMU_REPRODUCERS).
            var target = new VirtioBlkQemuTarget();
            foreach (string line in File.ReadAllLines(hexFile).Where(l => l.Length > 0).Distinct())
            {
                var context = new FuzzContext { Log = new StringWriter() };
                target.Execute(Convert.FromHexString(line), context);
                output.WriteLine(
                    $"{(context.Finding is { } f ? "FINDING " + f.Message : "ok " + context.Log)}\n  {line}"
                );
            }
            return;
        }
        QemuOutcomeMeasurement.Run(output, () => new VirtioBlkQemuTarget());
    }
}
