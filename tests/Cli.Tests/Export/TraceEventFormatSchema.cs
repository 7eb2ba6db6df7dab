using System.Text.Json;

namespace Virtsim.Cli.Tests.Export;

/// <summary>A small check of the Trace Event Format's required fields (the JSON Object Format of Google's "Trace Event
/// Format" document, as Perfetto and chrome://tracing read it), plus the rules flows need to be drawn: every flow
/// event binds to a slice on its own track, a flow has one start and one finish with "bp":"e", in time order. Returns
/// the problems found (empty when the document is valid).</summary>
internal static class TraceEventFormatSchema
{
    private static readonly HashSet<string> Phases = ["X", "i", "s", "t", "f", "M"];
    private static readonly HashSet<string> MetadataNames =
    [
        "process_name",
        "thread_name",
        "thread_sort_index",
        "process_sort_index",
    ];

    public static List<string> Check(JsonElement root)
    {
        var problems = new List<string>();
        if (root.ValueKind != JsonValueKind.Object)
            return ["the document is not a JSON object"];
        if (!root.TryGetProperty("traceEvents", out JsonElement events) || events.ValueKind != JsonValueKind.Array)
            return ["no traceEvents array"];
        if (root.TryGetProperty("displayTimeUnit", out JsonElement unit) && unit.GetString() is not ("ms" or "ns"))
            problems.Add("displayTimeUnit is neither ms nor ns");
        var slices = new Dictionary<(long, long), List<(decimal Ts, decimal End)>>();
        var flows = new Dictionary<long, List<(string Ph, decimal Ts, long Tid, bool BindsEnd)>>();
        var named = new HashSet<long>();
        var used = new HashSet<long>();
        int n = 0;
        foreach (JsonElement e in events.EnumerateArray())
        {
            string at = $"event {n++}";
            if (e.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"{at}: not an object");
                continue;
            }
            string? ph = Str(e, "ph");
            if (ph is null || !Phases.Contains(ph))
            {
                problems.Add($"{at}: ph '{ph}' is not one this exporter may write");
                continue;
            }
            if (string.IsNullOrEmpty(Str(e, "name")))
                problems.Add($"{at}: no name");
            if (!Int(e, "pid", out long pid))
                problems.Add($"{at}: pid is not an integer");
            if (!Int(e, "tid", out long tid))
                problems.Add($"{at}: tid is not an integer");
            if (ph == "M")
            {
                if (!MetadataNames.Contains(Str(e, "name") ?? ""))
                    problems.Add($"{at}: unknown metadata name");
                if (!e.TryGetProperty("args", out JsonElement margs) || margs.ValueKind != JsonValueKind.Object)
                    problems.Add($"{at}: metadata without args");
                if (Str(e, "name") == "thread_name")
                    named.Add(tid);
                continue;
            }
            if (!Num(e, "ts", out decimal ts) || ts < 0)
            {
                problems.Add($"{at}: ts is not a non-negative number");
                continue;
            }
            if (string.IsNullOrEmpty(Str(e, "cat")))
                problems.Add($"{at}: no cat");
            used.Add(tid);
            CheckByPhase(e, ph, at, pid, tid, ts, slices, flows, problems);
        }
        CheckSlices(slices, problems);
        CheckFlows(flows, slices, problems);
        foreach (long tid in used.Where(t => !named.Contains(t)))
            problems.Add($"tid {tid} has no thread_name");
        return problems;
    }

    /// <summary>The fields each timed phase needs: a slice's duration and args, an instant's scope, a flow point's
    /// id and binding; slices and flow points are collected for the track and flow checks.</summary>
    private static void CheckByPhase(
        JsonElement e,
        string ph,
        string at,
        long pid,
        long tid,
        decimal ts,
        Dictionary<(long, long), List<(decimal Ts, decimal End)>> slices,
        Dictionary<long, List<(string Ph, decimal Ts, long Tid, bool BindsEnd)>> flows,
        List<string> problems
    )
    {
        switch (ph)
        {
            case "X":
                if (!Num(e, "dur", out decimal dur) || dur < 0)
                {
                    problems.Add($"{at}: X without a non-negative dur");
                    break;
                }
                if (!e.TryGetProperty("args", out JsonElement args) || args.ValueKind != JsonValueKind.Object)
                    problems.Add($"{at}: no args");
                if (!slices.TryGetValue((pid, tid), out var list))
                    slices[(pid, tid)] = list = [];
                list.Add((ts, ts + dur));
                break;
            case "i":
                if (Str(e, "s") is not ("g" or "p" or "t"))
                    problems.Add($"{at}: instant scope is not g, p or t");
                break;
            default:
                if (!Int(e, "id", out long id))
                {
                    problems.Add($"{at}: flow event without an integer id");
                    break;
                }
                if (ph == "f" && Str(e, "bp") != "e")
                    problems.Add($"{at}: flow finish without \"bp\":\"e\"");
                if (!flows.TryGetValue(id, out var points))
                    flows[id] = points = [];
                points.Add((ph, ts, tid, ph == "f"));
                break;
        }
    }

    /// <summary>Slices on one track must not overlap.</summary>
    private static void CheckSlices(
        Dictionary<(long, long), List<(decimal Ts, decimal End)>> slices,
        List<string> problems
    )
    {
        foreach (((long pid, long tid), List<(decimal Ts, decimal End)> list) in slices)
        {
            list.Sort();
            for (int i = 1; i < list.Count; i++)
            {
                if (list[i].Ts < list[i - 1].End)
                    problems.Add($"track {pid}/{tid}: slices at {list[i - 1].Ts} and {list[i].Ts} overlap");
            }
        }
    }

    /// <summary>Each flow has one start and one finish, runs forward in time, and every point binds to a slice on its
    /// own track.</summary>
    private static void CheckFlows(
        Dictionary<long, List<(string Ph, decimal Ts, long Tid, bool BindsEnd)>> flows,
        Dictionary<(long, long), List<(decimal Ts, decimal End)>> slices,
        List<string> problems
    )
    {
        foreach ((long id, var points) in flows)
        {
            if (points.Count(p => p.Ph == "s") != 1 || points.Count(p => p.Ph == "f") != 1)
                problems.Add($"flow {id}: not exactly one start and one finish");
            if (points[0].Ph != "s" || points[^1].Ph != "f")
                problems.Add($"flow {id}: does not run start..finish");
            for (int i = 1; i < points.Count; i++)
            {
                if (points[i].Ts < points[i - 1].Ts)
                    problems.Add($"flow {id}: goes back in time");
            }
            foreach (var p in points)
            {
                bool bound =
                    slices.TryGetValue((1, p.Tid), out var list) && list.Any(s => s.Ts <= p.Ts && p.Ts < s.End);
                if (!bound)
                    problems.Add($"flow {id}: its {p.Ph} at {p.Ts} on tid {p.Tid} binds to no slice");
            }
        }
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool Int(JsonElement e, string name, out long value)
    {
        value = 0;
        return e.TryGetProperty(name, out JsonElement v)
            && v.ValueKind == JsonValueKind.Number
            && v.TryGetInt64(out value);
    }

    private static bool Num(JsonElement e, string name, out decimal value)
    {
        value = 0;
        return e.TryGetProperty(name, out JsonElement v)
            && v.ValueKind == JsonValueKind.Number
            && v.TryGetDecimal(out value);
    }
}
