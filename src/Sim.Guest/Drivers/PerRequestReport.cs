using System.Globalization;
using Sim.Machine.Kvm;

namespace Sim.Guest.Drivers;

/// <summary>
/// Per-request costs of a scenario's measured phase, from <see cref="RunCounters"/> (seed 004's
/// argument in numbers: full emulation pays a userspace exit per register access, virtio pays
/// one notify per request, ioeventfd turns that exit into an in-kernel signal, vhost also skips
/// the QEMU main loop). The guest program calls <see cref="Start"/> when its test begins (after
/// probe, so enumeration and setup are not counted) and <see cref="Stop"/> when it ends; the
/// scenario prints <see cref="Line"/> after the guest output. One stable format:
/// <c>per_request: requests=6 exits=2.00 (mmio=1.00 pio=1.00) ioeventfd=0.00 eventfd_signals=0.00 interrupts=1.00
/// ctx_switches=0.00 latency_ns=12400</c> (exits = userspace exits of all four kinds; interrupts = handler runs;
/// latency = measured simulated time / requests, rounded down).
/// </summary>
public sealed class PerRequestReport
{
    private readonly RunCounters _counters;
    private RunCounters? _start;
    private RunCounters? _stop;
    private long _startNs;
    private long _stopNs;

    /// <param name="counters">The run's counters (Simulation.Counters), read at start and stop.</param>
    public PerRequestReport(RunCounters counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        _counters = counters;
    }

    /// <summary>Requests completed in the measured phase (the program counts them).</summary>
    public long Requests { get; set; }

    /// <summary>True once both ends were recorded.</summary>
    public bool IsComplete => _start != null && _stop != null;

    /// <summary>Begins the measured phase at guest time <paramref name="nowNs"/> (GuestContext.Now).</summary>
    public void Start(long nowNs)
    {
        _start = _counters.Clone();
        _startNs = nowNs;
        _stop = null;
    }

    /// <summary>Ends the measured phase at guest time <paramref name="nowNs"/>.</summary>
    public void Stop(long nowNs)
    {
        if (_start == null)
            throw new InvalidOperationException("Stop before Start");
        _stop = _counters.Clone();
        _stopNs = nowNs;
    }

    /// <summary>The report line; "per_request: incomplete" when the phase did not finish (the guest
    /// hung or the run was cut short), "per_request: requests=0" when nothing completed.</summary>
    public string Line()
    {
        if (_start is not { } a || _stop is not { } b)
            return "per_request: incomplete";
        if (Requests <= 0)
            return "per_request: requests=0";
        long mmio = (b.MmioReadExits - a.MmioReadExits) + (b.MmioWriteExits - a.MmioWriteExits);
        long pio = (b.PioInExits - a.PioInExits) + (b.PioOutExits - a.PioOutExits);
        return Format(
            Requests,
            mmio,
            pio,
            b.IoEventFdSignals - a.IoEventFdSignals,
            b.EventFdSignals - a.EventFdSignals,
            b.InterruptsDelivered - a.InterruptsDelivered,
            b.ContextSwitches - a.ContextSwitches,
            _stopNs - _startNs
        );
    }

    /// <summary>The line for explicit totals over <paramref name="requests"/> requests.</summary>
    public static string Format(
        long requests,
        long mmioExits,
        long pioExits,
        long ioEventFds,
        long eventFdSignals,
        long interrupts,
        long contextSwitches,
        long elapsedNs
    )
    {
        if (requests <= 0)
            throw new ArgumentOutOfRangeException(nameof(requests), "must be positive");
        return string.Create(
            CultureInfo.InvariantCulture,
            $"per_request: requests={requests} exits={Per(mmioExits + pioExits, requests)} "
                + $"(mmio={Per(mmioExits, requests)} pio={Per(pioExits, requests)}) "
                + $"ioeventfd={Per(ioEventFds, requests)} eventfd_signals={Per(eventFdSignals, requests)} "
                + $"interrupts={Per(interrupts, requests)} ctx_switches={Per(contextSwitches, requests)} "
                + $"latency_ns={elapsedNs / requests}"
        );
    }

    private static string Per(long total, long requests) =>
        ((decimal)total / requests).ToString("0.00", CultureInfo.InvariantCulture);
}
