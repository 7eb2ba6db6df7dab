using System.CommandLine;
using Sim.Engine.Trace;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim show &lt;trace&gt;</c>: header summary, one line per event, footer counts; <c>--kind</c>,
/// <c>--from</c>/<c>--to</c> pick events (<see cref="ShowFilter"/>), <c>--json</c> prints one JSON object per event
/// and nothing else.</summary>
internal static class ShowCommand
{
    public static Command Build(CliApp app)
    {
        var path = new Argument<string>("trace") { Description = "Trace file to list" };
        var limit = new Option<ulong>("--limit", "-n")
        {
            Description = "Show at most this many events (0 = all)",
            DefaultValueFactory = _ => 0,
        };
        var kind = new Option<string[]>("--kind", "-k")
        {
            Description = "Only events of these kinds (repeatable or comma-separated, e.g. IoEventFd,IrqInject)",
            DefaultValueFactory = _ => [],
        };
        var from = new Option<string?>("--from")
        {
            Description = "First event: an index (120) or a virtual time with a unit (1134100ns, 2us, 1.5ms, 1s)",
        };
        var to = new Option<string?>("--to") { Description = "Last event (inclusive): an index or a time, as --from" };
        var json = new Option<bool>("--json")
        {
            Description = "One JSON object per event (i, t_ns, kind, src, addr, value, data hex); no header or footer",
        };
        var cmd = new Command("show", "List a trace: header summary, one line per event, footer with counts")
        {
            path,
            limit,
            kind,
            from,
            to,
            json,
        };
        cmd.SetAction(pr =>
        {
            string file = pr.GetValue(path)!;
            ShowFilter filter = ShowFilter.Parse(pr.GetValue(kind) ?? [], pr.GetValue(from), pr.GetValue(to));
            using FileStream stream = TraceFiles.OpenRead(file);
            if (!TraceReader.TryOpen(stream, out TraceReader? reader, out TraceError? error))
            {
                throw new CliInputException($"{file}: {error.Message}");
            }
            using (reader)
            {
                ulong max = pr.GetValue(limit);
                TraceError? failure = Write(
                    reader,
                    app.Out,
                    filter,
                    max == 0 ? ulong.MaxValue : max,
                    pr.GetValue(json)
                );
                if (failure is not null)
                    throw new CliInputException($"{file}: {failure.Message}");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Lists the events <paramref name="filter"/> picks. The whole trace is still read, so a corrupt or
    /// truncated trace is reported however few events are shown.</summary>
    private static TraceError? Write(
        TraceReader reader,
        TextWriter output,
        ShowFilter filter,
        ulong eventsMax,
        bool json
    )
    {
        if (!json)
            TraceTextFormatter.WriteHeader(output, reader.Header);
        ulong index = 0;
        ulong shown = 0;
        while (reader.TryReadNext(out TraceEvent ev, out TraceError? error) || error is not null)
        {
            if (error is not null)
            {
                if (!json)
                    output.WriteLine($"# error: {error.Message}");
                return error;
            }
            if (filter.Matches(index, ev.Time, ev.Kind))
            {
                if (shown < eventsMax)
                    output.WriteLine(
                        json ? ShowFilter.ToJsonLine(index, ev) : TraceTextFormatter.FormatEvent(index, ev)
                    );
                else if (shown == eventsMax && !json)
                    output.WriteLine("# ... (more events not shown)");
                shown++;
            }
            index++;
        }
        if (!json)
            TraceTextFormatter.WriteFooter(output, reader.Footer!);
        return null;
    }
}
