using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Scenarios.Recording;

/// <summary>
/// Replays a trace recorded on a real KVM (origin "kvm"; docs/recording.md §1): rebuilds the scenario's machine
/// from the header, loads the recorded initial memory, and drives the machine with the recorded guest inputs at
/// their recorded times — exits (MmioRead, PioIn: the address and size; MmioWrite, PioOut, DebugPort: the value),
/// kicks (IoEventFd) and guest stores (GuestWrite) — through the same <see cref="ExternalMachine"/> methods the
/// recorder used. Every event the machine emits is compared with the recording (<see cref="TraceComparer"/>), then
/// the footer's event count and final memory hash. Needs no KVM.
/// <para>
/// With another scenario (<c>--backend</c>: a virtio-demo recording against vhost-demo, or back), and always for a
/// kernel-vhost recording (its device output is the real kernel's, checked against our vhost-demo model), the event
/// streams legitimately differ (eventfds, worker switches, MSI sources), so only what the guest could see is
/// compared (<see cref="GuestVisibleComparer"/>): the values returned to its reads, the interrupts (GSI) it was
/// sent, the bytes the device left in its memory at each of those points, and the final memory, all outside the
/// notification-suppression fields (<see cref="NotificationFields"/>).
/// </para>
/// </summary>
public static class KvmTraceReplay
{
    /// <summary>The header's <c>backend</c> of a recording whose device was the lab's kernel vhost-demo
    /// module.</summary>
    public const string KernelVhostBackend = "kernel-vhost";

    /// <summary>Replays the trace <paramref name="open"/> opens (called twice: one reader feeds the inputs, one the
    /// comparer). <paramref name="scenarioOverride"/>: replay against that scenario's machine instead
    /// (differential).</summary>
    public static KvmReplayResult Replay(Func<Stream> open, string? scenarioOverride = null)
    {
        ArgumentNullException.ThrowIfNull(open);
        using Stream inputStream = open();
        if (!TraceReader.TryOpen(inputStream, out TraceReader? input, out TraceError? error))
            return KvmReplayResult.Error(0, error.Message);
        using (input)
        {
            if (PrepareMachine(input, scenarioOverride, out ExternalMachine? machine, out bool differential) is { } bad)
                return bad;
            using Stream expectedStream = open();
            if (!TraceReader.TryOpen(expectedStream, out TraceReader? expected, out error))
                return KvmReplayResult.Error(0, error.Message);
            using (expected)
                return ReplayAgainst(input, expected, machine!, differential);
        }
    }

    /// <summary>Builds the machine the header names (or <paramref name="scenarioOverride"/>'s, a differential
    /// replay) and loads the recorded initial memory into it; the error, or null when the machine is ready.</summary>
    private static KvmReplayResult? PrepareMachine(
        TraceReader input,
        string? scenarioOverride,
        out ExternalMachine? machine,
        out bool differential
    )
    {
        machine = null;
        TraceHeader header = input.Header;
        // A kernel-vhost recording holds the real kernel's device output, not our model's events: it is always
        // checked against the model on what the guest sees.
        bool kernelRecording =
            header.Options.TryGetValue("backend", out string? recordedBackend) && recordedBackend == KernelVhostBackend;
        differential = kernelRecording || (scenarioOverride is not null && scenarioOverride != header.Scenario);
        if (header.Origin != TraceOrigin.Kvm)
            return KvmReplayResult.Error(0, "not a KVM recording (origin simulated)");
        string scenario = scenarioOverride ?? header.Scenario;
        // notify= is a virtio-demo option the vhost scenario (always ioeventfd) does not take.
        bool dropNotify = differential;
        var options = header.Options.Where(kv => !dropNotify || kv.Key != "notify");
        if (!ExternalMachine.TryCreate(scenario, options, out machine, out string buildError))
            return KvmReplayResult.Error(0, $"the header does not build a machine: {buildError}");
        Simulation sim = machine!.Simulation;
        // Hash as the recording did: the committed PVM and lab recordings are format 1 (linear hashes).
        sim.Memory.HashScheme = header.MemoryHashScheme;
        if (!sim.Memory.Layout.Regions.SequenceEqual(header.MemoryLayout.Regions.OrderBy(r => r.Base)))
            return KvmReplayResult.Error(0, "the trace's memory layout is not the scenario's");
        if (!input.TryReadInitialMemory(sim.Memory, out TraceError? error))
            return KvmReplayResult.Error(0, error.Message);
        return null;
    }

    /// <summary>Feeds the recording's inputs to the machine with its outputs compared against
    /// <paramref name="expected"/>: every event exactly, or (differential) only what the guest sees.</summary>
    private static KvmReplayResult ReplayAgainst(
        TraceReader input,
        TraceReader expected,
        ExternalMachine machine,
        bool differential
    )
    {
        Simulation sim = machine.Simulation;
        var exact = differential ? null : new TraceComparer(expected);
        var visible = differential
            ? new GuestVisibleComparer(expected, sim.Memory, fields => fields.Learn(machine.Kvm))
            : null;
        sim.AddSink(exact is not null ? exact : visible!);
        long inputs = 0;
        TraceError? error;
        while (input.TryReadNext(out TraceEvent ev, out error))
        {
            if (!Apply(machine, in ev, out string? applyError))
                return KvmReplayResult.Error(input.EventsRead, applyError!);
            if (IsInput(ev.Kind))
                inputs++;
            if (exact is { HasDiverged: true } || visible is { HasDiverged: true })
                break;
        }
        if (error is not null)
            return KvmReplayResult.Error(input.EventsRead, error.Message);
        if (input.Footer is { } f)
            machine.Finish(f.EndTime);
        ulong events = exact?.EventsSeen ?? visible!.EventsSeen;
        // The differential's last check needs the footer (the recording's final memory); a divergence found
        // before the end stopped the reading short of it.
        if (visible is { HasDiverged: false } && input.Footer is null)
            return KvmReplayResult.Error(events, "the trace ends without its footer (truncated)");
        bool finished = exact is not null ? exact.Finish() : visible!.Finish(input.Footer?.MemoryHash ?? 0);
        if (!finished)
        {
            TraceDivergence d = exact?.Divergence ?? visible!.Divergence!;
            return d.Field == TraceField.TraceUnreadable
                ? KvmReplayResult.Error(events, d.Expected)
                : KvmReplayResult.Diverged(events, d.ToString());
        }
        return CheckFooter(input.Footer, sim, events, inputs, visible);
    }

    /// <summary>The footer against the replay: final memory hash and event count (exact replays only; a
    /// differential's comparer checked the memory itself).</summary>
    private static KvmReplayResult CheckFooter(
        TraceFooter? recorded,
        Simulation sim,
        ulong events,
        long inputs,
        GuestVisibleComparer? visible
    )
    {
        bool differential = visible is not null;
        if (recorded is not { } footer)
            return KvmReplayResult.Error(events, "the trace ends without its footer (truncated)");
        ulong memoryHash = sim.Memory.ContentHash();
        if (!differential && footer.MemoryHash != memoryHash)
            return KvmReplayResult.Diverged(
                events,
                $"final guest memory differs: expected hash 0x{footer.MemoryHash:x16}, actual 0x{memoryHash:x16}"
            );
        if (!differential && footer.EventCount != events)
            return KvmReplayResult.Diverged(events, $"footer counts {footer.EventCount} events, replay saw {events}");
        string visibleDetail = visible is null
            ? ""
            : $" device_bytes_compared={visible.BytesCompared} "
                + $"notification_bytes_skipped={visible.NotificationBytesSkipped}";
        return new KvmReplayResult(
            KvmReplayVerdict.Match,
            events,
            $"memory_hash=0x{memoryHash:x16} inputs={inputs} recorded_ns={footer.EndTime}{visibleDetail}"
        )
        {
            RecordedNs = footer.EndTime,
            Console = sim.Output,
        };
    }

    /// <summary>The kinds that are guest inputs (everything else is the machine's output, compared).</summary>
    public static bool IsInput(TraceEventKind kind) =>
        kind
            is TraceEventKind.MmioRead
                or TraceEventKind.PioIn
                or TraceEventKind.MmioWrite
                or TraceEventKind.PioOut
                or TraceEventKind.DebugPort
                or TraceEventKind.IoEventFd
                or TraceEventKind.GuestWrite;

    private static bool Apply(ExternalMachine m, in TraceEvent ev, out string? error)
    {
        error = null;
        long t = ev.Time;
        switch (ev.Kind)
        {
            case TraceEventKind.MmioRead:
            case TraceEventKind.PioIn:
                if (!TrySize(ev.Value, out int readSize, out error))
                    return false;
                m.Read(t, ev.Kind == TraceEventKind.MmioRead ? BusKind.Mmio : BusKind.Pio, ev.Address, readSize);
                return true;
            case TraceEventKind.MmioWrite:
            case TraceEventKind.PioOut:
                if (!TrySize(ev.Value, out int writeSize, out error))
                    return false;
                if (ev.Data.Length != writeSize)
                {
                    error = $"{ev.Kind} at {t} ns carries {ev.Data.Length} bytes for a {writeSize}-byte access";
                    return false;
                }
                m.Write(
                    t,
                    ev.Kind == TraceEventKind.MmioWrite ? BusKind.Mmio : BusKind.Pio,
                    ev.Address,
                    writeSize,
                    LittleEndian(ev.Data)
                );
                return true;
            case TraceEventKind.DebugPort:
                int debugSize = ev.Source == 0 ? 4 : Narrow.AsInt32Bits(Math.Min(ev.Source, 16u));
                if (!TrySize(Narrow.AsUInt64Bits(debugSize), out debugSize, out error))
                    return false;
                if (debugSize < 8 && (ev.Value >> (debugSize * 8)) != 0)
                {
                    error = $"debug-port value 0x{ev.Value:x} wider than {debugSize} bytes";
                    return false;
                }
                m.Write(t, BusKind.Pio, ev.Address, debugSize, ev.Value);
                return true;
            case TraceEventKind.IoEventFd:
                if (!TrySize(ev.Value, out int kickSize, out error))
                    return false;
                if (ev.Data.Length != kickSize)
                {
                    error = $"IoEventFd at {t} ns carries {ev.Data.Length} bytes for a {kickSize}-byte write";
                    return false;
                }
                // The event names no bus: port numbers and the MMIO BAR window (0xFE000000 up) never overlap.
                ulong value = LittleEndian(ev.Data);
                if (!m.Kick(t, BusKind.Mmio, ev.Address, kickSize, value))
                    m.Kick(t, BusKind.Pio, ev.Address, kickSize, value);
                return true;
            case TraceEventKind.GuestWrite:
                m.AdvanceTo(t);
                if (!m.Store(ev.Address, ev.Data))
                {
                    error = $"GuestWrite of {ev.Data.Length} bytes at 0x{ev.Address:x} lies outside guest memory";
                    return false;
                }
                return true;
            default:
                return true; // an output: the comparer checks it
        }
    }

    private static bool TrySize(ulong size, out int result, out string? error)
    {
        if (size is 1 or 2 or 4 or 8)
        {
            result = Narrow.LowInt32(size);
            error = null;
            return true;
        }
        result = 0;
        error = $"access size {size} is not 1, 2, 4 or 8";
        return false;
    }

    private static ulong LittleEndian(ReadOnlySpan<byte> data)
    {
        Span<byte> wide = stackalloc byte[8];
        wide.Clear();
        data[..Math.Min(8, data.Length)].CopyTo(wide);
        return BinaryPrimitives.ReadUInt64LittleEndian(wide);
    }
}

/// <summary>How a KVM trace's replay ended.</summary>
public enum KvmReplayVerdict
{
    /// <summary>Every device output equals the recording.</summary>
    Match,

    /// <summary>A device output differs from the recording (<c>virtsim replay</c> exits 1).</summary>
    Diverged,

    /// <summary>The trace could not be replayed (corrupt, or naming an unknown scenario).</summary>
    Error,
}

/// <summary>How a KVM trace's replay ended; <see cref="Events"/> counts the machine's events compared.</summary>
public sealed record KvmReplayResult(KvmReplayVerdict Verdict, ulong Events, string Detail)
{
    /// <summary>The recording's duration (footer end time), for the replay/recording speed ratio.</summary>
    public long RecordedNs { get; init; }

    /// <summary>The guest's console lines as the replay rebuilt them.</summary>
    public IReadOnlyList<string> Console { get; init; } = [];

    /// <summary>A replay that could not run, with why.</summary>
    public static KvmReplayResult Error(ulong events, string detail) => new(KvmReplayVerdict.Error, events, detail);

    /// <summary>A replay that diverged, with the first divergence.</summary>
    public static KvmReplayResult Diverged(ulong events, string detail) =>
        new(KvmReplayVerdict.Diverged, events, detail);
}
