using System.Globalization;
using System.Reflection;
using System.Runtime.ExceptionServices;
using Fuzz.Instrumentation;

namespace Fuzz.Mutants;

/// <summary>
/// <c>virtsim mutants</c>: measures the fuzzer's power by mutation testing (issue 12). <c>--list</c> prints every
/// mutant of Sim.Devices (<see cref="IlMutator"/>); <c>--run ID [--time SECONDS] [--seed N] [--targets a,b]</c> writes
/// mutant ID, instruments it for coverage, loads it with Virtsim.Fuzz into an <see cref="InstrumentedLoadContext"/> and
/// fuzzes the robust targets of its area (<see cref="TargetsFor"/>) until a finding or the budget, printing one line:
/// <c>mutant ID AREA killed MS EXECS TARGET ORACLE SITE</c> or <c>mutant ID AREA survived MS EXECS</c>. One mutant per
/// process, so a mutant that spins inside a handler can be stopped by the caller (<c>scripts/mutation-score</c> wraps
/// each run in <c>timeout</c> and counts that as killed by hang). Exit codes: 0 done, 2 usage error.
/// </summary>
public static class MutantHost
{
    public const string Usage = "usage: virtsim mutants --list | --run ID [--time SECONDS] [--seed N] [--targets a,b]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        string baseDirectory = Path.GetDirectoryName(typeof(MutantHost).Assembly.Location) ?? "";
        string devices = Path.Combine(baseDirectory, "Sim.Devices.dll");
        if (!File.Exists(devices))
        {
            error.WriteLine($"virtsim: {devices} not found");
            return 2;
        }
        if (args is ["--list"])
        {
            foreach (IlMutant m in IlMutator.Enumerate(devices)) output.WriteLine(m.ToString());
            return 0;
        }
        int id = -1;
        double seconds = 60;
        ulong seed = 1;
        string[]? targets = null;
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            bool ok = args[i] switch
            {
                "--run" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out id),
                "--time" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) && seconds > 0,
                "--seed" => ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out seed),
                "--targets" => (targets = value?.Split(',', StringSplitOptions.RemoveEmptyEntries)) is { Length: > 0 },
                _ => false,
            };
            if (!ok)
            {
                error.WriteLine($"virtsim: mutants: bad argument '{args[i]}'{(value is null ? "" : $" '{value}'")}");
                error.WriteLine(Usage);
                return 2;
            }
            i++;
        }
        IReadOnlyList<IlMutant> all = IlMutator.Enumerate(devices);
        if (id < 0 || id >= all.Count)
        {
            error.WriteLine($"virtsim: mutants: --run needs a mutant id in [0, {all.Count})");
            error.WriteLine(Usage);
            return 2;
        }
        IlMutant mutant = all[id];
        targets ??= TargetsFor(mutant);
        string work = Path.Combine(Path.GetTempPath(), "virtsim-mutants", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(work);
        try
        {
            string mutated = Path.Combine(work, "Sim.Devices.dll");
            using (var stream = new FileStream(mutated, FileMode.Create, FileAccess.Write)) IlMutator.Apply(devices, mutant, stream);
            string directory = InstrumentedAssemblyCache.Prepare(Path.Combine(work, "instrumented"), [mutated], null);
            var context = new InstrumentedLoadContext(directory, ["Sim.Devices"], baseDirectory);
            try
            {
                Assembly fuzz = context.LoadFromAssemblyName(typeof(MutantHost).Assembly.GetName());
                MethodInfo probe = fuzz.GetType(typeof(MutantProbe).FullName!, throwOnError: true)!.GetMethod(nameof(MutantProbe.Run))!;
                string line;
                try
                {
                    line = (string)probe.Invoke(null, [targets, seconds, seed])!;
                }
                catch (TargetInvocationException e) when (e.InnerException is not null)
                {
                    // The mutant broke the harness itself (a constructor, the seeds): killed at once.
                    line = $"killed 0 0 {targets[0]} exception {e.InnerException.GetType().Name}@harness";
                }
                output.WriteLine($"mutant {mutant.Id} {mutant.Area} {line}");
                output.WriteLine($"  {mutant}");
            }
            finally
            {
                context.Unload();
            }
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // The unloaded context may still hold the file on some systems; the temp directory is the OS's to clean.
            }
        }
        return 0;
    }

    /// <summary>The robust targets that exercise a mutant's code.</summary>
    public static string[] TargetsFor(IlMutant mutant)
    {
        ArgumentNullException.ThrowIfNull(mutant);
        string m = mutant.Method;
        if (m.StartsWith("Sim.Devices.Virtio.Queue.", StringComparison.Ordinal)) return ["split-virtqueue", "virtio-demo-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Virtio.Factorial.", StringComparison.Ordinal)) return ["virtio-factorial-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Virtio.Counter.", StringComparison.Ordinal)) return ["virtio-counter-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Virtio.Blk.", StringComparison.Ordinal)) return ["virtio-blk-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Vhost.", StringComparison.Ordinal)) return ["virtio-demo-vhost-robust", "vhost-core"];
        return ["virtio-demo-qemu-robust", "virtio-demo-diff-robust"];
    }
}
