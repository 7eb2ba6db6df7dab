using System.Globalization;
using System.Text;
using Sim.Engine.Trace;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// The readable part of a finding's summary, read back from its trace: what the guest did (its stores, register
/// accesses and kicks), what the device did (its reads and writes of guest memory, interrupts, results — the last ones
/// before the verdict, where the rule broke), and the event counts. Bounded: at most <see cref="LinesMax"/> lines each.
/// </summary>
internal static class FindingNarrative
{
    /// <summary>Lines per section.</summary>
    public const int LinesMax = 24;

    /// <summary>Data bytes shown per line.</summary>
    public const int DataBytesShownMax = 16;

    /// <summary>What <paramref name="target"/> narrates to <see cref="FuzzContext.Log"/> while running
    /// <paramref name="input"/> (its decoded operations), at most <see cref="LinesMax"/> lines plus a count of the
    /// rest; empty when the target narrates nothing.</summary>
    public static IReadOnlyList<string> DecodedOperations(
        IFuzzTarget target,
        ReadOnlySpan<byte> input,
        ExecutionLimits limits
    )
    {
        ArgumentNullException.ThrowIfNull(target);
        using var log = new StringWriter(CultureInfo.InvariantCulture);
        var executor = new FuzzExecutor(target, new NullCoverage("narrate"), limits) { Log = log };
        executor.Execute(input);
        return DecodedOperations(log.ToString());
    }

    /// <summary>The narration a target wrote (<see cref="FuzzContext.Log"/>), as at most <see cref="LinesMax"/> lines
    /// plus a count of the rest.</summary>
    public static IReadOnlyList<string> DecodedOperations(string narration)
    {
        ArgumentNullException.ThrowIfNull(narration);
        string[] lines = narration.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length <= LinesMax)
            return lines;
        return [.. lines.Take(LinesMax), $"... ({lines.Length - LinesMax} more)"];
    }

    /// <summary>Appends the narrative of the trace in <paramref name="trace"/> (nothing when it cannot be
    /// read).</summary>
    public static void Append(StringBuilder s, byte[] trace)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(trace);
        using var stream = new MemoryStream(trace, writable: false);
        if (!TraceReader.TryOpen(stream, out TraceReader? reader, out _))
            return;
        using (reader)
        {
            var guest = new List<string>();
            int guestCount = 0;
            var device = new Queue<string>();
            int deviceCount = 0;
            ulong index = 0;
            while (reader.TryReadNext(out TraceEvent ev, out _))
            {
                string? line = Describe(index, ev, out bool byGuest);
                index++;
                if (line is null)
                    continue;
                if (byGuest)
                {
                    if (guestCount++ < LinesMax)
                        guest.Add(line);
                }
                else
                {
                    deviceCount++;
                    if (device.Count == LinesMax)
                        device.Dequeue();
                    device.Enqueue(line);
                }
            }
            s.Append("what the guest did (")
                .Append(guestCount)
                .Append(guestCount > LinesMax ? $" actions, the first {LinesMax}" : " actions")
                .AppendLine("):");
            foreach (string line in guest)
                s.Append("  ").AppendLine(line);
            s.Append("what the device did (")
                .Append(deviceCount)
                .Append(deviceCount > LinesMax ? $" actions, the last {LinesMax} before the verdict" : " actions")
                .AppendLine("):");
            foreach (string line in device)
                s.Append("  ").AppendLine(line);
            if (reader.Footer is { } footer)
            {
                s.Append("trace events: ")
                    .AppendLine(string.Join(", ", footer.CountsByKind.Select(kv => $"{kv.Value} {kv.Key}")));
            }
        }
    }

    /// <summary>One line for an event, or null for the verdict; <paramref name="byGuest"/> says whose action it
    /// was.</summary>
    public static string? Describe(ulong index, in TraceEvent ev, out bool byGuest)
    {
        byGuest =
            ev.Kind
                is TraceEventKind.GuestWrite
                    or TraceEventKind.MmioWrite
                    or TraceEventKind.MmioRead
                    or TraceEventKind.PioOut
                    or TraceEventKind.PioIn
                    or TraceEventKind.IoEventFd
                    or TraceEventKind.IrqEoi
                    or TraceEventKind.Halt
                    or TraceEventKind.DebugPort;
        if (ev.Kind == TraceEventKind.DeviceResult && ev.Source == ExecutionTrace.VerdictSource)
            return null;
        string data = Hex(ev.Data);
        string what = ev.Kind switch
        {
            TraceEventKind.GuestWrite => $"guest stores {ev.Data.Length} bytes at 0x{ev.Address:x}: {data}",
            TraceEventKind.MmioWrite => $"guest MMIO write of {ev.Value} bytes at 0x{ev.Address:x}: {data}",
            TraceEventKind.MmioRead => $"guest MMIO read of {ev.Value} bytes at 0x{ev.Address:x} returns {data}",
            TraceEventKind.PioOut => $"guest port write of {ev.Value} bytes at 0x{ev.Address:x}: {data}",
            TraceEventKind.PioIn => $"guest port read of {ev.Value} bytes at 0x{ev.Address:x} returns {data}",
            TraceEventKind.IoEventFd => $"guest kick (ioeventfd {ev.Source}) at 0x{ev.Address:x}",
            TraceEventKind.DeviceRead => $"device reads {ev.Data.Length} bytes at 0x{ev.Address:x}: {data}",
            TraceEventKind.DeviceWrite => $"device writes {ev.Data.Length} bytes at 0x{ev.Address:x}: {data}",
            TraceEventKind.IrqInject => $"interrupt injected: GSI {ev.Address}, vector {ev.Value}",
            TraceEventKind.EventFdSignal => $"eventfd {ev.Source} signalled (+{ev.Value})",
            TraceEventKind.EventFdRead => $"eventfd {ev.Source} read ({ev.Value})",
            TraceEventKind.DeviceResult => $"device {ev.Source} result {ev.Address} = 0x{ev.Value:x}"
                + (ev.Data.IsEmpty ? "" : $" ({Text(ev.Data)})"),
            _ => $"{ev.Kind} src={ev.Source} addr=0x{ev.Address:x} val=0x{ev.Value:x}"
                + (ev.Data.IsEmpty ? "" : " data=" + data),
        };
        return string.Create(CultureInfo.InvariantCulture, $"#{index} t={ev.Time} {what}");
    }

    private static string Hex(ReadOnlySpan<byte> data)
    {
        int shown = Math.Min(data.Length, DataBytesShownMax);
        string hex = Convert.ToHexStringLower(data[..shown]);
        return shown < data.Length ? hex + "..." : hex;
    }

    /// <summary>Printable ASCII as text (device log lines), else hex.</summary>
    private static string Text(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            if (b is < 0x20 or > 0x7e)
                return Hex(data);
        }
        string s = Encoding.ASCII.GetString(data);
        return s.Length <= 120 ? s : s[..120] + "...";
    }
}
