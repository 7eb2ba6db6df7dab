using System.Diagnostics;
using System.Globalization;
using Virtsim.Fuzz.Targets;

namespace Virtsim.LabAgent;

/// <summary>
/// virtsim-lab: what runs inside the KVM lab. Commands:
/// <c>hello</c> (start-time probe), <c>vhost-oracle --device PATH [--corpus DIR] [--inputs N] [--seed S] [--out FILE]
/// [--save-inputs DIR]</c> (the real kernel vhost core against our control-plane model), <c>record</c> and
/// <c>replay</c> (<see cref="LabRecord"/>).
/// Exit codes: 0 ok, 1 disagreement, 2 usage or environment.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        try
        {
            if (args.Length == 0)
                return Usage("no command");
            return args[0] switch
            {
                "hello" => Hello(),
                "vhost-oracle" => VhostOracle(args[1..]),
                "record" => LabRecord.Record(
                    args[1..],
                    Version,
                    Environment.GetEnvironmentVariable("VIRTSIM_COMMIT") ?? "unknown"
                ),
                "replay" => LabRecord.Replay(args[1..]),
                "vhost-demo-smoke" => args.Length == 3 && args[1] == "--device"
                    ? VhostDemoSmoke.Run(args[2])
                    : Usage("vhost-demo-smoke --device PATH"),
                _ => Usage($"unknown command {args[0]}"),
            };
        }
        catch (Sim.Kvm.KernelVhost.KernelVhostException e)
        {
            Console.Error.WriteLine($"virtsim-lab: {e.Message}");
            return 2;
        }
    }

    private static string Version => typeof(Program).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    private static int Usage(string why)
    {
        Console.Error.WriteLine(
            $"virtsim-lab: {why}; usage: virtsim-lab hello | vhost-oracle --device PATH [--corpus DIR] [--inputs N] "
                + "[--seed S] [--out FILE] | record GUEST.bin SCENARIO BACKEND OUT.vtrace [key=value...] | replay "
                + "TRACE..."
        );
        return 2;
    }

    private static int Hello()
    {
        Console.WriteLine($"virtsim-lab up, pid {Environment.ProcessId}, {Environment.Version}");
        return 0;
    }

    private static int VhostOracle(string[] args)
    {
        string? device = null,
            corpus = null,
            output = null,
            saveInputs = null;
        int inputs = 2000;
        ulong seed = 1;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--device":
                    device = Next();
                    break;
                case "--corpus":
                    corpus = Next();
                    break;
                case "--inputs":
                    inputs = int.Parse(Next(), CultureInfo.InvariantCulture);
                    break;
                case "--seed":
                    seed = ulong.Parse(Next(), CultureInfo.InvariantCulture);
                    break;
                case "--out":
                    output = Next();
                    break;
                case "--save-inputs":
                    saveInputs = Next();
                    break;
                default:
                    return Usage($"unknown option {args[i]}");
            }
        }
        if (device is null)
            return Usage("--device is required");
        if (!File.Exists(device))
            return Usage($"{device} is not present (load the module first)");
        var target = new VhostCoreTarget();
        List<byte[]> list = VhostOracleRun.Corpus(corpus, inputs, seed, target);
        if (saveInputs is not null)
        {
            Directory.CreateDirectory(saveInputs);
            for (int i = 0; i < list.Count; i++)
                File.WriteAllBytes(Path.Combine(saveInputs, i.ToString("D5", CultureInfo.InvariantCulture)), list[i]);
        }
        using var mirror = new KernelVhostMirror(device);
        target.Mirror = mirror;
        var run = new VhostOracleRun();
        long t0 = Stopwatch.GetTimestamp();
        run.Run(list, target, Console.Error);
        TimeSpan took = Stopwatch.GetElapsedTime(t0);
        string report =
            run.Report(device, seed) + $"seconds\t{took.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)}\n";
        Console.Write(report);
        if (output is not null)
            File.WriteAllText(output, report);
        return run.Agreements == run.Verdicts ? 0 : 1;
    }
}
