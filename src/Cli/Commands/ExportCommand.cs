using System.CommandLine;
using Sim.Engine.Trace;
using Virtsim.Cli.Export;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim export &lt;trace&gt; --format chrome-json -o out.json</c>: the trace in the Trace Event Format,
/// for Perfetto's UI (ui.perfetto.dev) or chrome://tracing (<see cref="ChromeTraceExporter"/>).</summary>
internal static class ExportCommand
{
    public const string FormatChromeJson = "chrome-json";

    public static Command Build(CliApp app)
    {
        var path = new Argument<string>("trace") { Description = "Trace file to export" };
        var format = new Option<string>("--format", "-f")
        {
            Description = $"Output format: {FormatChromeJson} (Trace Event Format: Perfetto, chrome://tracing)",
            DefaultValueFactory = _ => FormatChromeJson,
        };
        format.AcceptOnlyFromAmong(FormatChromeJson);
        var output = new Option<string>("--output", "-o")
        {
            Description = "File to write (never overwritten without --force)",
            Required = true,
        };
        var force = new Option<bool>("--force") { Description = "Replace an existing output file" };
        var cmd = new Command(
            "export",
            "Export a trace for a standard viewer: one track per actor (vCPU, QEMU main loop, vhost worker, device "
                + "timer), flow arrows from each kick to what it caused"
        )
        {
            path,
            format,
            output,
            force,
        };
        cmd.SetAction(pr =>
        {
            string file = pr.GetValue(path)!;
            string outPath = pr.GetValue(output)!;
            using FileStream stream = TraceFiles.OpenRead(file);
            if (!TraceReader.TryOpen(stream, out TraceReader? reader, out TraceError? error))
                throw new CliInputException($"{file}: {error.Message}");
            ulong events = 0;
            using (reader)
            {
                string? writeError = SafeFile.Write(outPath, pr.GetValue(force), s =>
                {
                    TraceError? failure = ChromeTraceExporter.Export(reader, s);
                    events = reader.EventsRead;
                    return failure is null ? null : $"{file}: {failure.Message}";
                });
                if (writeError is not null)
                    throw new CliInputException(writeError);
            }
            app.Out.WriteLine(
                $"export: {file} -> {outPath} ({FormatChromeJson}, {events} events); open it in "
                    + "https://ui.perfetto.dev or chrome://tracing"
            );
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
