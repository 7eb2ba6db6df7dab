using System.Globalization;

namespace Fuzz.Entry;

/// <summary>Options of <c>virtsim fuzz</c>, parsed by Virtsim.Fuzz itself so that only a <c>string[]</c> crosses
/// into the instrumented load context. Accepts <c>--name value</c> and <c>--name=value</c>.</summary>
public sealed record FuzzOptions
{
    public const string Usage = """
        usage: virtsim fuzz --list
               virtsim fuzz --target <name> [--backend qemu|vhost|diff] [--flavour robust|seed] [--seed N] [--runs N | --time <duration>] [--corpus <dir>] [--findings <dir>]
                            [--max-len N] [--steps-max N] [--alloc-max BYTES] [--no-minimize] [--no-coverage] [--instrument-cache <dir>]
               virtsim fuzz --target <name> --reproduce <file>
               virtsim fuzz --target <name> --emit-test <file> [--expect-fires] [--out <file.cs>]
               virtsim fuzz --target <name> --afl [--afl-input <file>]     (started by afl-fuzz)
               virtsim fuzz --target <name> --libfuzzer-driver             (started by tools/libfuzzer-driver)
        targets: device targets are named <device>-<backend>-<flavour> (virtio-demo-vhost-seed); --target virtio-demo
                 --backend vhost --flavour seed means the same; a part left out defaults to the device's first backend
                 (qemu) and flavour robust. Engine targets (split-virtqueue, guest-memory) have plain names. See --list.
        findings: <findings>/<oracle>-<site-hash>/ holds input.bin, trace.vtrace (replay it: virtsim replay <findings>) and summary.txt.
        external engines: --afl serves AFL++'s fork-server protocol in-process (fds 198/199, map __AFL_SHM_ID,
                 AFL_MAP_SIZE), reading each test case from stdin (afl's .cur_input) or from --afl-input @@;
                 --libfuzzer-driver serves our libFuzzer driver (fds 200/201, map VIRTSIM_LIBFUZZER_SHM_ID).
                 A finding answers SIGABRT (a hang SIGALRM), so the engine saves a crash; replay it with
                 --reproduce. Outside its engine either flag exits 2. README: "Driving virtsim with AFL++ / libFuzzer".
        durations: 90, 90s, 1500ms, 5m, 2h. Exit codes: 0 nothing fired, 1 a finding, 2 usage or input error.
        """;

    /// <summary>Longest <c>--time</c>: a year and a day. Far longer values overflowed the deadline and ran nothing.</summary>
    public static readonly TimeSpan TimeMax = TimeSpan.FromDays(366);

    public bool Help { get; init; }

    public bool List { get; init; }

    public string? Target { get; init; }

    /// <summary>Backend part of a device target's name (qemu, vhost), or null for the default.</summary>
    public string? Backend { get; init; }

    /// <summary>Flavour part of a device target's name (robust, seed), or null for the default.</summary>
    public string? Flavour { get; init; }

    /// <summary>Root seed; null means "pick one and print it".</summary>
    public ulong? Seed { get; init; }

    public long Runs { get; init; }

    public TimeSpan? Time { get; init; }

    public string? Corpus { get; init; }

    public string Findings { get; init; } = "findings";

    public string? Reproduce { get; init; }

    public string? EmitTest { get; init; }

    public bool ExpectFires { get; init; }

    public string? Out { get; init; }

    public int MaxLength { get; init; } = 4096;

    public long? StepsMax { get; init; }

    public long? AllocMax { get; init; }

    public bool NoMinimize { get; init; }

    public bool NoCoverage { get; init; }

    public string? InstrumentCache { get; init; }

    /// <summary>Serve afl-fuzz's fork-server protocol instead of running our own engine.</summary>
    public bool Afl { get; init; }

    /// <summary>With <see cref="Afl"/>: the file afl-fuzz names with <c>@@</c>; null reads stdin.</summary>
    public string? AflInput { get; init; }

    /// <summary>Serve tools/libfuzzer-driver's pipe protocol instead of running our own engine.</summary>
    public bool LibFuzzerDriver { get; init; }

    public static bool TryParse(IReadOnlyList<string> args, out FuzzOptions options, out string? error)
    {
        options = new FuzzOptions();
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string name = arg;
            string? inline = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }
            string? Value()
            {
                if (inline is not null) return inline;
                if (i + 1 < args.Count) return args[++i];
                return null;
            }
            switch (name)
            {
                case "fuzz" when i == 0:
                    break;
                case "-h" or "-?" or "--help":
                    options = options with { Help = true };
                    break;
                case "--list":
                    options = options with { List = true };
                    break;
                case "--expect-fires":
                    options = options with { ExpectFires = true };
                    break;
                case "--no-minimize":
                    options = options with { NoMinimize = true };
                    break;
                case "--no-coverage":
                    options = options with { NoCoverage = true };
                    break;
                case "--afl":
                    options = options with { Afl = true };
                    break;
                case "--libfuzzer-driver":
                    options = options with { LibFuzzerDriver = true };
                    break;
                case "--backend" or "--flavour":
                    {
                        string? v = Value();
                        if (string.IsNullOrEmpty(v)) { error = $"{name} needs a value"; return false; }
                        if (name == "--flavour" && !Targets.FuzzTargetName.TryParseFlavour(v, out _)) { error = $"--flavour is robust or seed, got '{v}'"; return false; }
                        if (name == "--backend" && v is not (Targets.FuzzTargetName.BackendQemu or Targets.FuzzTargetName.BackendVhost or Targets.FuzzTargetName.BackendDiff)) { error = $"--backend is qemu, vhost or diff, got '{v}'"; return false; }
                        options = name == "--backend" ? options with { Backend = v } : options with { Flavour = v };
                        break;
                    }
                case "--target" or "--corpus" or "--findings" or "--reproduce" or "--emit-test" or "--out" or "--instrument-cache" or "--afl-input":
                    {
                        string? v = Value();
                        if (string.IsNullOrEmpty(v)) { error = $"{name} needs a value"; return false; }
                        options = name switch
                        {
                            "--target" => options with { Target = v },
                            "--corpus" => options with { Corpus = v },
                            "--findings" => options with { Findings = v },
                            "--reproduce" => options with { Reproduce = v },
                            "--emit-test" => options with { EmitTest = v },
                            "--out" => options with { Out = v },
                            "--afl-input" => options with { AflInput = v },
                            _ => options with { InstrumentCache = v },
                        };
                        break;
                    }
                case "--seed":
                    {
                        string? v = Value();
                        if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed)) { error = $"--seed needs an unsigned integer, got '{v}'"; return false; }
                        options = options with { Seed = seed };
                        break;
                    }
                case "--runs" or "--steps-max" or "--alloc-max" or "--max-len":
                    {
                        string? v = Value();
                        if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0) { error = $"{name} needs a positive integer, got '{v}'"; return false; }
                        if (name == "--max-len" && n > 1 << 20) { error = "--max-len is at most 1048576"; return false; }
                        options = name switch
                        {
                            "--runs" => options with { Runs = n },
                            "--steps-max" => options with { StepsMax = n },
                            "--alloc-max" => options with { AllocMax = n },
                            _ => options with { MaxLength = (int)n },
                        };
                        break;
                    }
                case "--time":
                    {
                        string? v = Value();
                        if (!TryParseDuration(v, out TimeSpan t)) { error = $"--time needs a duration such as 90s, 5m, 2h; got '{v}'"; return false; }
                        if (t > TimeMax) { error = $"--time is at most {TimeMax.TotalHours:F0}h (366 days); got '{v}'"; return false; }
                        options = options with { Time = t };
                        break;
                    }
                default:
                    error = $"unknown option '{arg}'";
                    return false;
            }
        }
        if (options.Reproduce is not null && options.EmitTest is not null) { error = "--reproduce and --emit-test are exclusive"; return false; }
        if ((options.Afl || options.LibFuzzerDriver) && (options.Reproduce ?? options.EmitTest) is not null) { error = "--afl and --libfuzzer-driver serve an external engine; they exclude --reproduce and --emit-test"; return false; }
        if (options.Afl && options.LibFuzzerDriver) { error = "--afl and --libfuzzer-driver are exclusive"; return false; }
        if (options.AflInput is not null && !options.Afl) { error = "--afl-input qualifies --afl"; return false; }
        if (options.Backend is not null || options.Flavour is not null)
        {
            if (options.Target is null) { error = "--backend and --flavour qualify --target"; return false; }
            // Fold them into the target name (device-backend-flavour), which the registry resolves.
            string composed = options.Target;
            if (options.Backend is { } b) composed += Targets.FuzzTargetName.Separator + b;
            if (options.Flavour is { } f) composed += Targets.FuzzTargetName.Separator + f;
            options = options with { Target = composed };
        }
        return true;
    }

    /// <summary>Parses 90, 90s, 1500ms, 5m, 2h (positive).</summary>
    public static bool TryParseDuration(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) || value <= 0 || value * scale > TimeSpan.MaxValue.TotalSeconds / 2) return false;
        duration = TimeSpan.FromSeconds(value * scale);
        return true;
    }
}
