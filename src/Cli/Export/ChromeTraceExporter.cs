using System.Globalization;
using System.Text.Json;
using Sim.Engine.Trace;

namespace Virtsim.Cli.Export;

/// <summary>
/// Writes a trace in the Trace Event Format (the JSON that Perfetto's UI and chrome://tracing open): one process, one
/// track (tid) per actor, every trace event as a complete event ("X") of 1 ns with its fields as args, and flow arrows
/// (ph s/t/f) from each kick to what it caused.
/// <list type="bullet">
/// <item>Tracks: the vCPU (exits, kicks, guest stores, HLT, interrupts and their EOI), each host actor by its trace
/// source (the QEMU main loop or device host thread, the vhost worker: ContextSwitch, DeviceRead/Write, DeviceResult),
/// each device timer (TimerFire). eventfd signals and reads belong to whoever ran just before them (the vCPU's
/// ioeventfd write, the actor that woke up and read its eventfd). Checkpoints are global instants.</item>
/// <item>Time: <c>ts</c> is virtual time in µs. Events at the same virtual time are laid out 1 ns apart in trace
/// (causal) order, so no slices overlap and flows point forward; <c>args.t_ns</c> keeps the exact time and
/// <c>args.i</c> the event index.</item>
/// <item>Flows: a kick is an ioeventfd write (<see cref="TraceEventKind.IoEventFd"/>) or, for a device run
/// synchronously on an exit, the last exit write before a completion that no kick explains. Its flow steps through the
/// first host actor's wake-up (the actor that pops the chain) and every completion
/// (<see cref="TraceEventKind.DeviceResult"/>), and ends at the next interrupt injected; the next kick ends it
/// too.</item>
/// </list>
/// Output is deterministic: the same trace gives the same bytes.
/// </summary>
public static class ChromeTraceExporter
{
    /// <summary>Data bytes copied into an event's args (hex) before eliding; the trace keeps them all.</summary>
    public const int DataBytesMax = 32;

    /// <summary>The process id of every event (one simulated machine).</summary>
    public const int Pid = 1;

    /// <summary>The vCPU's track.</summary>
    public const int VcpuTid = 1;

    /// <summary>Host actors' tracks: this plus the actor's trace source.</summary>
    public const int ActorTidBase = 0x10000;

    /// <summary>Device timers' tracks: this plus the timer id.</summary>
    public const int TimerTidBase = 0x20000;

    /// <summary>Reads every event of <paramref name="reader"/> and writes the JSON document. Returns the read error of
    /// a corrupt or truncated trace (nothing useful was written then), or null.</summary>
    public static TraceError? Export(TraceReader reader, Stream output)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(output);
        var state = new ExportState(ActorNames.For(reader.Header.Scenario));
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false, SkipValidation = false });
        json.WriteStartObject();
        json.WriteString("displayTimeUnit", "ns");
        WriteOtherData(json, reader.Header);
        json.WriteStartArray("traceEvents");
        ulong index = 0;
        while (reader.TryReadNext(out TraceEvent ev, out TraceError? error) || error is not null)
        {
            if (error is not null)
                return error;
            state.Add(json, index, ev);
            index++;
        }
        state.Finish(json);
        WriteMetadata(json, reader.Header, state);
        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        return null;
    }

    private static void WriteOtherData(Utf8JsonWriter json, TraceHeader header)
    {
        json.WriteStartObject("otherData");
        json.WriteString("scenario", header.Scenario);
        json.WriteString("seed", header.Seed.ToString(CultureInfo.InvariantCulture));
        json.WriteString(
            "origin",
            header.Origin == TraceOrigin.Kvm ? TraceFormat.OriginKvm : TraceFormat.OriginSimulated
        );
        json.WriteString("virtsim", header.VirtsimVersion);
        json.WriteString("commit", header.GitCommit);
        foreach (KeyValuePair<string, string> kv in header.Options)
            json.WriteString("option." + kv.Key, kv.Value);
        json.WriteEndObject();
    }

    private static void WriteMetadata(Utf8JsonWriter json, TraceHeader header, ExportState state)
    {
        json.WriteStartObject();
        json.WriteString("ph", "M");
        json.WriteString("name", "process_name");
        json.WriteNumber("pid", Pid);
        json.WriteNumber("tid", 0);
        json.WriteStartObject("args");
        json.WriteString("name", $"virtsim {header.Scenario} seed {header.Seed}");
        json.WriteEndObject();
        json.WriteEndObject();
        int sort = 0;
        foreach ((int tid, string name) in state.Tracks())
        {
            WriteThreadMetadata(json, tid, "thread_name", w => w.WriteString("name", name));
            int order = sort++;
            WriteThreadMetadata(json, tid, "thread_sort_index", w => w.WriteNumber("sort_index", order));
        }
    }

    private static void WriteThreadMetadata(Utf8JsonWriter json, int tid, string name, Action<Utf8JsonWriter> args)
    {
        json.WriteStartObject();
        json.WriteString("ph", "M");
        json.WriteString("name", name);
        json.WriteNumber("pid", Pid);
        json.WriteNumber("tid", tid);
        json.WriteStartObject("args");
        args(json);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
