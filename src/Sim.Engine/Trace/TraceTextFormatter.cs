using System.Globalization;
using System.Text;

namespace Sim.Engine.Trace;

/// <summary>
/// Human-readable trace text for <c>virtsim show</c>: a header summary, one line per event, the
/// footer counts. Formatting is culture-invariant and deterministic (sorted maps).
/// </summary>
public static class TraceTextFormatter
{
    /// <summary>Data bytes printed per event line before eliding.</summary>
    public const int DataBytesShownMax = 32;

    /// <summary>Writes <paramref name="header"/> as the text lines <c>virtsim show</c> prints.</summary>
    public static void WriteHeader(TextWriter output, TraceHeader header)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(header);
        output.WriteLine(
            $"# {TraceFormat.FormatName} v{header.FormatVersion}: scenario {header.Scenario}, seed {header.Seed}, "
                + "origin "
                + $"{(header.Origin == TraceOrigin.Kvm ? TraceFormat.OriginKvm : TraceFormat.OriginSimulated)}"
        );
        output.WriteLine(
            $"# virtsim {header.VirtsimVersion} (commit {header.GitCommit}), checkpoint every "
                + $"{header.CheckpointIntervalEvents} events"
        );
        if (header.Host is { } host)
            output.WriteLine($"# host: kernel {host.KernelRelease}, KVM API {host.KvmApiVersion}, {host.KvmFlavour}");
        output.WriteLine(
            "# memory: " + string.Join(", ", header.MemoryLayout.Regions.Select(r => $"[0x{r.Base:x}, +0x{r.Size:x})"))
        );
        if (header.Options.Count > 0)
            output.WriteLine("# options: " + string.Join(" ", header.Options.Select(kv => $"{kv.Key}={kv.Value}")));
        if (header.Devices.Count > 0)
            output.WriteLine("# devices: " + string.Join(" ", header.Devices.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    /// <summary>"#12 t=1234 MmioWrite src=0 addr=0x1000 val=0x4 data=01000000".</summary>
    public static string FormatEvent(ulong index, in TraceEvent ev)
    {
        var sb = new StringBuilder(96);
        sb.Append(
            CultureInfo.InvariantCulture,
            $"#{index} t={ev.Time} {ev.Kind} src={ev.Source} addr=0x{ev.Address:x} val=0x{ev.Value:x}"
        );
        if (!ev.Data.IsEmpty)
        {
            sb.Append(" data=");
            int shown = Math.Min(ev.Data.Length, DataBytesShownMax);
            sb.Append(Convert.ToHexStringLower(ev.Data[..shown]));
            if (shown < ev.Data.Length)
                sb.Append(CultureInfo.InvariantCulture, $"...(+{ev.Data.Length - shown} bytes)");
        }
        return sb.ToString();
    }

    /// <summary>Writes <paramref name="footer"/> as the text lines <c>virtsim show</c> prints.</summary>
    public static void WriteFooter(TextWriter output, TraceFooter footer)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(footer);
        output.WriteLine(
            $"# end: {footer.EventCount} events, end time {footer.EndTime} ns, memory hash "
                + $"0x{footer.MemoryHash:x16}, event hash 0x{footer.EventHash:x16}"
        );
        foreach (KeyValuePair<TraceEventKind, ulong> kv in footer.CountsByKind)
            output.WriteLine($"#   {kv.Key}: {kv.Value}");
    }

    /// <summary>Writes the whole trace: header, up to <paramref name="eventsMax"/> event lines, footer.
    /// Returns the read error (a truncated trace included) or null when the trace was complete.</summary>
    public static TraceError? WriteAll(TraceReader reader, TextWriter output, ulong eventsMax = ulong.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(output);
        WriteHeader(output, reader.Header);
        ulong index = 0;
        while (reader.TryReadNext(out TraceEvent ev, out TraceError? error) || error is not null)
        {
            if (error is not null)
            {
                output.WriteLine($"# error: {error.Message}");
                return error;
            }
            if (index < eventsMax)
                output.WriteLine(FormatEvent(index, ev));
            else if (index == eventsMax)
                output.WriteLine($"# ... (more events not shown)");
            index++;
        }
        WriteFooter(output, reader.Footer!);
        return null;
    }
}
