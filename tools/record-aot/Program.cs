using System.Globalization;
using Sim.Guest.Recording;
using Sim.Kvm;

// virtsim-record GUEST.bin SCENARIO BACKEND OUT.vtrace [key=value...]: records like `virtsim record`, then replays the
// trace it wrote (no KVM needed for that) and prints both summaries. Exit 0 when the guest exited 0 and the replay
// matched; 1 otherwise; 2 for bad arguments or no KVM.
if (args.Length < 4)
{
    Console.Error.WriteLine("usage: virtsim-record GUEST.bin SCENARIO BACKEND OUT.vtrace [key=value...]");
    return 2;
}
var options = new SortedDictionary<string, string>(StringComparer.Ordinal);
foreach (string pair in args.Skip(4))
{
    int eq = pair.IndexOf('=', StringComparison.Ordinal);
    if (eq <= 0) { Console.Error.WriteLine($"virtsim-record: '{pair}' is not key=value"); return 2; }
    options[pair[..eq]] = pair[(eq + 1)..];
}
if (!KvmSystem.TryOpen(out KvmSystem? kvm, out string reason))
{
    Console.Error.WriteLine("virtsim-record: " + reason);
    return 2;
}
byte[] image = File.ReadAllBytes(args[0]);
var request = new RecordRequest(args[1], options, Path.GetFileNameWithoutExtension(args[0]), image, args[2], "record-aot", "unknown") { Timeout = TimeSpan.FromSeconds(600) };
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
        Console.Error.WriteLine("virtsim-record: " + ex.Message);
        return 1;
    }
}
var inv = CultureInfo.InvariantCulture;
foreach (string line in r.Report) Console.WriteLine(line);
Console.WriteLine(string.Create(inv, $"kvm: guest_status={r.GuestStatus} exits={r.Exits} kicks={r.Kicks} interrupts={r.Interrupts} guest_stores={r.GuestStores} pages_compared={r.PagesCompared} ioeventfds_refused={r.IoEventFdsRefused}"));
Console.WriteLine(string.Create(inv, $"time: guest_ms={r.GuestNs / 1e6:F2} cpu_ms={r.CpuNs / 1e6:F2} us_per_exit={(r.Exits == 0 ? 0 : r.GuestNs / 1000.0 / r.Exits):F2} events={r.Events} bytes={r.TraceBytes}"));
var watch = System.Diagnostics.Stopwatch.StartNew();
KvmReplayResult replay = KvmTraceReplay.Replay(() => File.OpenRead(args[3]));
watch.Stop();
Console.WriteLine(string.Create(inv, $"replay: {replay.Verdict} events={replay.Events} ms={watch.Elapsed.TotalMilliseconds:F1} {replay.Detail}"));
return r.GuestStatus == 0 && replay.Verdict == KvmReplayVerdict.Match ? 0 : 1;
