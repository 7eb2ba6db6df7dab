using System.CommandLine;
using Sim.Engine.Trace;

namespace Cli.Commands;

/// <summary><c>virtsim show &lt;trace&gt;</c>: header summary, one line per event, footer counts.</summary>
internal static class ShowCommand
{
    public static Command Build(CliApp app)
    {
        var path = new Argument<string>("trace") { Description = "Trace file to list" };
        var limit = new Option<ulong>("--limit", "-n") { Description = "Show at most this many events (0 = all)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("show", "List a trace: header summary, one line per event, footer with counts") { path, limit };
        cmd.SetAction(pr =>
        {
            string file = pr.GetValue(path)!;
            using FileStream stream = TraceFiles.OpenRead(file);
            if (!TraceReader.TryOpen(stream, out TraceReader? reader, out TraceError? error))
            {
                throw new CliInputException($"{file}: {error.Message}");
            }
            using (reader)
            {
                ulong max = pr.GetValue(limit);
                TraceError? failure = TraceTextFormatter.WriteAll(reader, app.Out, max == 0 ? ulong.MaxValue : max);
                if (failure is not null) throw new CliInputException($"{file}: {failure.Message}");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
