using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Reflection;
using System.Runtime.ExceptionServices;
using Virtsim.Fuzz.Instrumentation;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Mutants;

/// <summary>
/// <c>virtsim mutants</c>: measures the fuzzer's power by mutation testing (issue 12). <c>--list</c> prints every
/// mutant of Sim.Devices and of Sim.Guest's DriverQueue (<see cref="IlMutator"/>);
/// <c>--run ID [--time SECONDS] [--seed N] [--targets a,b]</c> writes mutant ID, instruments it for coverage, loads it
/// with Virtsim.Fuzz into an <see cref="InstrumentedLoadContext"/> and fuzzes the robust targets of its area
/// (<see cref="TargetsFor"/>) until a finding or the budget, printing one line:
/// <c>mutant ID AREA killed MS EXECS TARGET ORACLE SITE</c> or <c>mutant ID AREA survived MS EXECS</c>. One mutant per
/// process, so a mutant that spins inside a handler can be stopped by the caller (<c>scripts/mutation-score</c> wraps
/// each run in <c>timeout</c> and counts that as killed by hang). Exit codes: 0 done, 2 usage error.
/// </summary>
public static class MutantHost
{
    /// <summary>The command's name under <c>virtsim</c>.</summary>
    public const string Name = "mutants";

    /// <summary>The one-line description <c>virtsim --help</c> lists for the command.</summary>
    public const string Description =
        "Mutation testing of the fuzzer: mutants of Sim.Devices and of Sim.Guest's "
        + "DriverQueue, each fuzzed until caught (virtsim mutants --list | --run ID; scripts/mutation-score)";

    /// <summary>The <c>mutants</c> command (a fresh instance each call): the CLI lists it in <c>virtsim --help</c>,
    /// <see cref="Run"/> parses with it.</summary>
    public static Command BuildCommand()
    {
        var command = new Command(Name, Description)
        {
            new Option<bool>("--list")
            {
                Description = "Print every mutant, one per line (#ID [area] ...)",
                Arity = ArgumentArity.Zero,
            },
            new Option<int?>("--run")
            {
                Description =
                    "Write mutant ID, instrument it and fuzz the robust targets of its area until a finding or --time",
                HelpName = "ID",
                CustomParser = r => NonNegative(r),
            },
            new Option<double>("--time")
            {
                Description = "With --run: seconds of fuzzing before the mutant counts as survived",
                HelpName = "SECONDS",
                DefaultValueFactory = _ => 60,
                CustomParser = r => PositiveSeconds(r),
            },
            new Option<ulong>("--seed")
            {
                Description = "With --run: the fuzzing seed",
                HelpName = "N",
                DefaultValueFactory = _ => 1,
            },
            new Option<string?>("--targets")
            {
                Description =
                    "With --run: comma list of fuzz targets (default: the robust targets of the mutant's area)",
                HelpName = "a,b",
            },
            new Option<string?>("--findings")
            {
                Description = "With --run: save the killing input to this directory (as fuzz run --findings)",
                HelpName = "DIR",
            },
        };
        command.Validators.Add(Entry.FuzzCommandLine.RejectRepeatedOptions);
        command.Validators.Add(r =>
        {
            var given = r
                .Children.OfType<OptionResult>()
                .Where(o => !o.Implicit)
                .Select(o => o.Option.Name)
                .ToHashSet(StringComparer.Ordinal);
            if (given.Contains("--list") == given.Contains("--run"))
                r.AddError("give --list or --run ID");
            else if (
                given.Contains("--list")
                && given.FirstOrDefault(n => n is "--time" or "--seed" or "--targets" or "--findings") is { } extra
            )
                r.AddError($"{extra} applies to --run");
        });
        return command;
    }

    /// <summary>Parses the words after <c>mutants</c> and runs them: <c>--list</c> prints the mutants, <c>--run ID</c>
    /// fuzzes one mutant and prints its one-line verdict, <c>--help</c> prints help.</summary>
    /// <returns>0 when done (killed or survived alike), 2 on a usage error.</returns>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        Command command = BuildCommand();
        var root = new Command("virtsim")
        {
            new System.CommandLine.Help.HelpOption { Recursive = true },
            command,
        };
        ParseResult parsed = root.Parse([Name, .. args], new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Action is System.CommandLine.Help.HelpAction)
        {
            parsed.Invoke(
                new InvocationConfiguration
                {
                    Output = output,
                    Error = error,
                    EnableDefaultExceptionHandler = false,
                }
            );
            return 0;
        }
        if (parsed.Errors.Count > 0)
        {
            foreach (string e in parsed.Errors.Select(e => e.Message).Distinct(StringComparer.Ordinal))
                error.WriteLine("virtsim: mutants: " + e);
            error.WriteLine("usage: see 'virtsim mutants --help'");
            return 2;
        }
        string baseDirectory = Path.GetDirectoryName(typeof(MutantHost).Assembly.Location) ?? "";
        string devices = Path.Combine(baseDirectory, "Sim.Devices.dll");
        if (!File.Exists(devices))
        {
            error.WriteLine($"virtsim: {devices} not found");
            return 2;
        }
        if (parsed.GetValue<bool>("--list"))
        {
            foreach (IlMutant m in IlMutator.EnumerateAll(baseDirectory))
                output.WriteLine(m.ToString());
            return 0;
        }
        int id = parsed.GetValue<int?>("--run") ?? -1;
        double seconds = parsed.GetValue<double>("--time");
        ulong seed = parsed.GetValue<ulong>("--seed");
        string[]? targets = parsed.GetValue<string?>("--targets")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (targets is { Length: 0 })
            targets = null;
        string? findings = parsed.GetValue<string?>("--findings");
        if (findings is { Length: > 0 })
            findings = Path.GetFullPath(findings);
        else
            findings = null;
        IReadOnlyList<IlMutant> all = IlMutator.EnumerateAll(baseDirectory);
        if (id < 0 || id >= all.Count)
        {
            error.WriteLine($"virtsim: mutants: --run needs a mutant id in [0, {all.Count})");
            return 2;
        }
        IlMutant mutant = all[id];
        targets ??= TargetsFor(mutant);
        RunMutant(mutant, devices, baseDirectory, targets, seconds, seed, findings, output);
        return 0;
    }

    /// <summary>Runs <paramref name="targets"/> for <paramref name="seconds"/> against a copy of Sim.Devices with
    /// <paramref name="mutant"/> applied, loaded instrumented in its own context, and prints the verdict line; the
    /// temporary directory is removed afterwards.</summary>
    private static void RunMutant(
        IlMutant mutant,
        string devices,
        string baseDirectory,
        string[] targets,
        double seconds,
        ulong seed,
        string? findings,
        TextWriter output
    )
    {
        string work = Path.Combine(
            Path.GetTempPath(),
            "virtsim-mutants",
            Environment.ProcessId.ToString(CultureInfo.InvariantCulture)
        );
        Directory.CreateDirectory(work);
        try
        {
            string assembly = IlMutator.AssemblyOf(mutant);
            string mutated = Path.Combine(work, assembly + ".dll");
            using (var stream = new FileStream(mutated, FileMode.Create, FileAccess.Write))
            {
                IlMutator.Apply(Path.Combine(baseDirectory, assembly + ".dll"), mutant, stream);
            }
            string directory = InstrumentedAssemblyCache.Prepare(Path.Combine(work, "instrumented"), [mutated], null);
            var context = new InstrumentedLoadContext(directory, [assembly], baseDirectory);
            try
            {
                Assembly fuzz = context.LoadFromAssemblyName(typeof(MutantHost).Assembly.GetName());
                MethodInfo probe = fuzz.GetType(typeof(MutantProbe).FullName!, throwOnError: true)!
                    .GetMethod(nameof(MutantProbe.Run))!;
                string line;
                try
                {
                    line = (string)probe.Invoke(null, [targets, seconds, seed, findings])!;
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
                // The unloaded context may still hold the file on some systems; the temp directory is the OS's to
                // clean.
            }
        }
    }

    /// <summary>The robust targets that exercise a mutant's code.</summary>
    internal static string[] TargetsFor(IlMutant mutant)
    {
        ArgumentNullException.ThrowIfNull(mutant);
        string m = mutant.Method;
        if (m.StartsWith("Sim.Devices.Virtio.Queue.", StringComparison.Ordinal))
            return ["split-virtqueue", "virtio-demo-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Virtio.Factorial.", StringComparison.Ordinal))
            return ["virtio-factorial-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Virtio.Counter.", StringComparison.Ordinal))
            return ["virtio-counter-qemu-robust"];
        // The device targets' disks are MemoryBlockBackend: only block-backend runs the stream backend.
        if (m.StartsWith("Sim.Devices.Virtio.Blk.StreamBlockBackend", StringComparison.Ordinal))
            return [BlockBackendTarget.TargetName];
        if (m.StartsWith("Sim.Devices.Virtio.Blk.", StringComparison.Ordinal))
            return ["virtio-blk-qemu-robust", BlockBackendTarget.TargetName];
        if (m.StartsWith("Sim.Devices.Virtio.Rng.", StringComparison.Ordinal))
            return ["virtio-rng-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Virtio.Net.", StringComparison.Ordinal))
            return ["virtio-net-qemu-robust"];
        if (m.StartsWith("Sim.Devices.Vhost.Frontend.", StringComparison.Ordinal))
            return [VirtioPciTarget.VhostFrontendTargetName];
        // The demo differential runs the same requests through the QEMU-style device and vhost and compares the
        // response bytes and used lengths: the only oracle that reads what vhost's copy_to_iter wrote.
        if (m.StartsWith("Sim.Devices.Vhost.", StringComparison.Ordinal))
            return ["virtio-demo-vhost-robust", "vhost-core", "virtio-demo-diff-robust"];
        if (m.StartsWith("Sim.Guest.Virtio.DriverQueue", StringComparison.Ordinal))
        {
            return [DriverQueueTarget.TargetName];
        }
        return ["virtio-demo-qemu-robust", "virtio-demo-diff-robust"];
    }

    private static int? NonNegative(ArgumentResult r)
    {
        string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            return n;
        r.AddError($"--run needs a mutant id (a non-negative integer), got '{text}'");
        return null;
    }

    private static double PositiveSeconds(ArgumentResult r)
    {
        string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s)
            && s > 0
            && double.IsFinite(s)
        )
            return s;
        r.AddError($"--time needs a positive number of seconds, got '{text}'");
        return 0;
    }
}
