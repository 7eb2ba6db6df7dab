using System.Diagnostics;
using System.Globalization;
using Sim.Kvm;
using Sim.Scenarios.Recording;

namespace Virtsim.LabAgent;

/// <summary>
/// <c>record GUEST.bin SCENARIO BACKEND OUT.vtrace [key=value...]</c>: records a guest program on this machine's
/// /dev/kvm through <see cref="KvmRecorder"/> (the same code path as <c>virtsim record</c>), and
/// <c>replay TRACE...</c>: replays KVM traces with <see cref="KvmTraceReplay"/> (no KVM needed), so the lab's
/// traces can be checked on the host by this same binary.
/// </summary>
internal static class LabRecord
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Record(string[] args, string version, string commit)
    {
        if (args.Length < 4)
        {
            Console.Error.WriteLine("virtsim-lab: usage: record GUEST.bin SCENARIO BACKEND OUT.vtrace [key=value...]");
            return 2;
        }
        if (ParseOptions(args.Skip(4)) is not { } options)
            return 2;
        if (!File.Exists(args[0]))
        {
            Console.Error.WriteLine($"virtsim-lab: guest image '{args[0]}' does not exist");
            return 2;
        }
        if (!KvmSystem.TryOpen(out KvmSystem? kvm, out string reason))
        {
            Console.Error.WriteLine("virtsim-lab: " + reason);
            return 2;
        }
        byte[] image = File.ReadAllBytes(args[0]);
        // kernel_vhost_wiring=relay|direct is the recorder's (virtsim record --kernel-vhost-wiring), not the
        // scenario's.
        string wiring = options.Remove("kernel_vhost_wiring", out string? w) ? w : KernelVhostWiring.Relay;
        string name = Path.GetFileNameWithoutExtension(args[0]);
        var request = new RecordRequest(args[1], options, name, image, args[2], version, commit)
        {
            Timeout = TimeSpan.FromSeconds(600),
            KernelVhostWiring = wiring,
        };
        RecordResult r;
        using (kvm)
        using (var stream = new FileStream(args[3], FileMode.Create, FileAccess.Write))
        {
            try
            {
                r = KvmRecorder.Record(kvm!, request, stream);
            }
            catch (Exception ex) when (ex is KvmException or ArgumentException)
            {
                Console.Error.WriteLine("virtsim-lab: " + ex.Message);
                return 1;
            }
        }
        Print(r);
        return r.GuestStatus == 0 ? 0 : 1;
    }

    private static void Print(RecordResult r)
    {
        foreach (string line in r.Report)
            Console.WriteLine(line);
        Console.WriteLine(
            string.Create(
                Inv,
                $"kvm: guest_status={r.GuestStatus} exits={r.Exits} kicks={r.Kicks} interrupts={r.Interrupts} "
                    + $"guest_stores={r.GuestStores} pages_compared={r.PagesCompared}"
            )
        );
        Console.WriteLine(
            string.Create(
                Inv,
                $"time: guest_ms={r.GuestNs / 1e6:F2} cpu_ms={r.CpuNs / 1e6:F2} "
                    + $"us_per_exit={(r.Exits == 0 ? 0 : r.GuestNs / 1000.0 / r.Exits):F2} events={r.Events} "
                    + $"bytes={r.TraceBytes}"
            )
        );
    }

    /// <summary>The key=value options after the four positional arguments, or null (said on stderr) when one is
    /// malformed.</summary>
    private static SortedDictionary<string, string>? ParseOptions(IEnumerable<string> pairs)
    {
        var options = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in pairs)
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                Console.Error.WriteLine($"virtsim-lab: '{pair}' is not key=value");
                return null;
            }
            options[pair[..eq]] = pair[(eq + 1)..];
        }
        return options;
    }

    public static int Replay(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("virtsim-lab: usage: replay TRACE...");
            return 2;
        }
        int worst = 0;
        foreach (string file in args)
        {
            if (!File.Exists(file))
            {
                Console.Error.WriteLine($"virtsim-lab: trace '{file}' does not exist");
                return 2;
            }
            long t0 = Stopwatch.GetTimestamp();
            KvmReplayResult r = KvmTraceReplay.Replay(() => File.OpenRead(file));
            double seconds = Math.Max(Stopwatch.GetElapsedTime(t0).TotalSeconds, 1e-9);
            Console.WriteLine(
                string.Create(
                    Inv,
                    $"replay {file}: {r.Verdict} events={r.Events} replay_ms={seconds * 1e3:F1} "
                        + $"recorded_ms={r.RecordedNs / 1e6:F1} speedup={r.RecordedNs / 1e9 / seconds:F1}x "
                        + $"{r.Detail}"
                )
            );
            worst = Math.Max(
                worst,
                r.Verdict == KvmReplayVerdict.Match ? 0
                    : r.Verdict == KvmReplayVerdict.Diverged ? 1
                    : 2
            );
        }
        return worst;
    }
}
