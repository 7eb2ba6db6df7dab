using System.Globalization;
using System.Text.Json;
using Sim.Engine.Trace;

namespace Virtsim.Cli.Export;

/// <summary>The running state of one <see cref="ChromeTraceExporter.Export"/>: which track each event goes to, the
/// last time laid out, and the kick flow being followed (see the exporter's doc for the rules).</summary>
internal sealed class ExportState
{
    /// <summary>Width of each event's slice: 1 ns, so that slices laid out 1 ns apart never overlap.</summary>
    private const decimal SliceDurationUs = 0.001m;

    private readonly ActorNames _names;
    private readonly SortedDictionary<int, string> _tracks = [];
    private long _lastNs = -1;
    private int _lastTid = ChromeTraceExporter.VcpuTid;
    private (long Ns, int Tid)? _lastExitWrite;
    private List<(long Ns, int Tid)>? _flow;
    private bool _flowWokeActor;
    private int _flowId;

    public ExportState(ActorNames names)
    {
        _names = names;
        _tracks[ChromeTraceExporter.VcpuTid] = ActorNames.Vcpu;
    }

    /// <summary>The tracks seen, by tid, with their names.</summary>
    public IEnumerable<(int Tid, string Name)> Tracks() => _tracks.Select(kv => (kv.Key, kv.Value));

    public void Add(Utf8JsonWriter json, ulong index, in TraceEvent ev)
    {
        int tid = TrackOf(ev);
        _lastTid = tid;
        // Trace order is causal order: events at one virtual time are laid out 1 ns apart, across all tracks, so
        // slices never overlap and every flow arrow points forward.
        long ns = _lastNs >= ev.Time ? checked(_lastNs + 1) : ev.Time;
        _lastNs = ns;
        if (ev.Kind == TraceEventKind.Checkpoint)
        {
            WriteEvent(json, "i", index, ev, ns, tid);
            return;
        }
        WriteEvent(json, "X", index, ev, ns, tid);
        Follow(json, ev.Kind, (ns, tid));
    }

    /// <summary>Ends the flow still open at the end of the trace.</summary>
    public void Finish(Utf8JsonWriter json) => CloseFlow(json);

    private int TrackOf(in TraceEvent ev)
    {
        switch (ev.Kind)
        {
            case TraceEventKind.ContextSwitch
            or TraceEventKind.DeviceRead
            or TraceEventKind.DeviceWrite
            or TraceEventKind.DeviceResult:
            {
                int tid = checked(ChromeTraceExporter.ActorTidBase + (int)Math.Min(ev.Source, 0xFFFFu));
                if (!_tracks.ContainsKey(tid))
                    _tracks[tid] = _names.Actor(ev.Source);
                return tid;
            }
            case TraceEventKind.TimerFire:
            {
                int tid = checked(ChromeTraceExporter.TimerTidBase + (int)Math.Min(ev.Source, 0xFFFFu));
                if (!_tracks.ContainsKey(tid))
                    _tracks[tid] = ActorNames.Timer(ev.Source);
                return tid;
            }
            case TraceEventKind.EventFdSignal or TraceEventKind.EventFdRead or TraceEventKind.Checkpoint:
                return _lastTid;
            default:
                return ChromeTraceExporter.VcpuTid;
        }
    }

    private void Follow(Utf8JsonWriter json, TraceEventKind kind, (long Ns, int Tid) point)
    {
        switch (kind)
        {
            case TraceEventKind.IoEventFd:
                CloseFlow(json);
                _flow = [point];
                _flowWokeActor = false;
                _lastExitWrite = null;
                break;
            case TraceEventKind.MmioWrite or TraceEventKind.PioOut:
                _lastExitWrite = point;
                break;
            case TraceEventKind.ContextSwitch when _flow is not null && !_flowWokeActor:
                _flow.Add(point);
                _flowWokeActor = true;
                break;
            case TraceEventKind.DeviceResult:
                if (_flow is null && _lastExitWrite is { } exit)
                {
                    // A device run synchronously on an exit (notify by exit): that exit write is the kick.
                    _flow = [exit];
                    _flowWokeActor = true;
                    _lastExitWrite = null;
                }
                _flow?.Add(point);
                break;
            case TraceEventKind.IrqInject when _flow is not null:
                _flow.Add(point);
                CloseFlow(json);
                break;
            default:
                break;
        }
    }

    private void CloseFlow(Utf8JsonWriter json)
    {
        List<(long Ns, int Tid)>? flow = _flow;
        _flow = null;
        if (flow is null || flow.Count < 2)
            return;
        int id = ++_flowId;
        for (int i = 0; i < flow.Count; i++)
        {
            string ph =
                i == 0 ? "s"
                : i == flow.Count - 1 ? "f"
                : "t";
            json.WriteStartObject();
            json.WriteString("ph", ph);
            json.WriteString("name", "kick");
            json.WriteString("cat", "flow");
            json.WriteNumber("id", id);
            json.WriteNumber("pid", ChromeTraceExporter.Pid);
            json.WriteNumber("tid", flow[i].Tid);
            json.WriteNumber("ts", Microseconds(flow[i].Ns));
            if (ph == "f")
                json.WriteString("bp", "e");
            json.WriteEndObject();
        }
    }

    private static void WriteEvent(Utf8JsonWriter json, string ph, ulong index, in TraceEvent ev, long ns, int tid)
    {
        json.WriteStartObject();
        json.WriteString("ph", ph);
        json.WriteString("name", ev.Kind.ToString());
        json.WriteString("cat", Category(ev.Kind));
        json.WriteNumber("pid", ChromeTraceExporter.Pid);
        json.WriteNumber("tid", tid);
        json.WriteNumber("ts", Microseconds(ns));
        if (ph == "X")
            json.WriteNumber("dur", SliceDurationUs);
        else
            json.WriteString("s", "g");
        json.WriteStartObject("args");
        json.WriteNumber("i", index);
        json.WriteNumber("t_ns", ev.Time);
        json.WriteNumber("src", ev.Source);
        json.WriteString("addr", string.Create(CultureInfo.InvariantCulture, $"0x{ev.Address:x}"));
        json.WriteString("value", string.Create(CultureInfo.InvariantCulture, $"0x{ev.Value:x}"));
        if (!ev.Data.IsEmpty)
        {
            int shown = Math.Min(ev.Data.Length, ChromeTraceExporter.DataBytesMax);
            json.WriteString(
                "data",
                Convert.ToHexStringLower(ev.Data[..shown]) + (shown < ev.Data.Length ? "..." : "")
            );
            json.WriteNumber("data_len", ev.Data.Length);
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>Trace Event Format times are microseconds; decimal keeps nanoseconds exact ("1334.101").</summary>
    private static decimal Microseconds(long ns) => ns / 1000m;

    private static string Category(TraceEventKind kind) =>
        kind switch
        {
            TraceEventKind.MmioRead or TraceEventKind.MmioWrite or TraceEventKind.PioIn or TraceEventKind.PioOut =>
                "exit",
            TraceEventKind.IoEventFd => "kick",
            TraceEventKind.EventFdSignal or TraceEventKind.EventFdRead => "eventfd",
            TraceEventKind.IrqInject or TraceEventKind.IrqEoi => "interrupt",
            TraceEventKind.DeviceRead or TraceEventKind.DeviceWrite or TraceEventKind.GuestWrite => "memory",
            TraceEventKind.DeviceResult => "completion",
            TraceEventKind.ContextSwitch or TraceEventKind.Halt => "schedule",
            TraceEventKind.TimerFire => "timer",
            TraceEventKind.Checkpoint => "checkpoint",
            _ => "other",
        };
}
