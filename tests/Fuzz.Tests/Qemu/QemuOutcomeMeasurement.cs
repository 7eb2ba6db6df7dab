using Sim.Engine.Random;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The guidance measure of a real-QEMU target (docs/qemu-backend.md, "Guidance"), shared by blk, rng and net: distinct
/// QEMU outcomes of pure random inputs for <c>$VIRTSIM_QEMU_RANDOM_SECONDS</c>, and of a guided campaign's corpus
/// (<c>$VIRTSIM_QEMU_OUTCOME_CORPUS</c>, written by <c>virtsim fuzz run --target T --corpus DIR</c>). Opt-in: a
/// measurement, not a check; without either variable it says so and returns.
/// </summary>
internal static class QemuOutcomeMeasurement
{
    /// <summary>Runs what the environment asks for on fresh targets from <paramref name="create"/>;
    /// <paramref name="qemuCpu"/> (the shared QEMU's CPU so far) is added to the random run's CPU when given.</summary>
    public static void Run(ITestOutputHelper output, Func<RealQemuTarget> create, Func<TimeSpan>? qemuCpu = null)
    {
        string? seconds = Environment.GetEnvironmentVariable("VIRTSIM_QEMU_RANDOM_SECONDS");
        string? corpus = Environment.GetEnvironmentVariable("VIRTSIM_QEMU_OUTCOME_CORPUS");
        if (seconds is null && corpus is null)
        {
            output.WriteLine(
                "SKIPPED: a measurement; set VIRTSIM_QEMU_RANDOM_SECONDS and/or " + "VIRTSIM_QEMU_OUTCOME_CORPUS"
            );
            return;
        }
        if (seconds is not null)
        {
            Random(output, create(), double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture), qemuCpu);
        }
        if (corpus is not null)
        {
            RealQemuTarget target = create();
            target.ReproducerDirectory = null;
            string[] files = Directory.GetFiles(corpus);
            foreach (string f in files)
                target.Execute(File.ReadAllBytes(f), new FuzzContext());
            output.WriteLine(
                $"guided corpus {corpus}: {files.Length} inputs, " + $"{target.DistinctOutcomes} distinct QEMU outcomes"
            );
        }
    }

    private static void Random(ITestOutputHelper output, RealQemuTarget target, double limit, Func<TimeSpan>? qemuCpu)
    {
        target.ReproducerDirectory = null;
        var prng = new Prng(1);
        output.WriteLine("seed 1");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        long runs = 0;
        while (clock.Elapsed.TotalSeconds < limit)
        {
            // Pure random: a header and 1..24 operations of random bytes (the framing the format decodes).
            int ops = 1 + prng.IntLessThan(24);
            byte[] input = new byte[RingInput.HeaderLength + (ops * RingInput.OpLength)];
            prng.NextBytes(input);
            target.Execute(input, new FuzzContext());
            runs++;
        }
        double cpu = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        string with = qemuCpu is null ? "without QEMU" : "with QEMU";
        if (qemuCpu is not null)
            cpu += qemuCpu().TotalSeconds;
        output.WriteLine(
            $"random: {runs} inputs in {clock.Elapsed.TotalSeconds:0} s (CPU {cpu:0} s {with}), "
                + $"{target.DistinctOutcomes} distinct QEMU outcomes"
        );
    }
}
