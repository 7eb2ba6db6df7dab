using System.Globalization;
using Sim.Devices;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The counter device's timer (seed 002 test_stats_poll_cb) against a reference of its ticks on virtual time (issue 12:
/// with the 1 s period no tick ever fired within an execution, so nothing judged the timer). Robust counter only; the
/// fuzz target builds it with a short period (<c>DeviceCatalog.CounterFuzzPeriodNs</c>). The reference: the timer is
/// armed when DRIVER_OK becomes set and fires every period from then on (first tick one period later), is cancelled
/// when DRIVER_OK is cleared or the device resets, and the set_config counter restarts at 0 on reset only. Each tick
/// logs "==============set config:N" with N the counter before its increment and, while the device is not broken,
/// advances config_generation (VIRTIO 1.2 §4.1.4.3.1: the device changed its configuration; QEMU
/// virtio_notify_config increments vdev-&gt;generation). Rules, judged after every device-side op:
/// <list type="bullet">
/// <item><c>timer/ticks</c>: the set-config lines logged since the previous op are exactly the ticks the reference
/// says fell due in that virtual-time interval (not judged once the bounded log dropped a line).</item>
/// <item><c>timer/set-config</c>: each line's N is the next of the sequence 0, 1, 2, ... since the last reset.</item>
/// <item><c>timer/generation</c>: over an interval without a reset in which the device never broke,
/// config_generation (read by the driver) advanced by the number of ticks (mod 256); over one in which it was broken
/// throughout, it did not change (the robust device raises no more ticks once broken).</item>
/// </list>
/// The reference reads only what a driver can know: the status it wrote (device_status), the reset count, the
/// virtual clock and the device's log.
/// </summary>
internal sealed class TimerTickOracle
{
    public const string Oracle = "timer";

    private const string TickPrefix = "==============set config:";

    private VirtioCounterDevice? _device;
    private FuzzContext? _context;
    private long _period;
    private long _armedAt;
    private long _lastNow;
    private long _resets;
    private int _logSeen;
    private uint _next;
    private byte _generation;
    private bool _wasBroken;

    /// <summary>True while the oracle judges this execution's device.</summary>
    public bool IsActive => _device is not null;

    /// <summary>Ticks the reference predicted over all executions (the oracle's reach).</summary>
    public long TicksJudgedTotal { get; private set; }

    /// <summary>Starts judging a fresh <paramref name="device"/> before the driver initialises it (robust counter
    /// only; any other device is ignored). <paramref name="now"/> is the virtual clock. The driver's initialisation
    /// resets the device (status 0), so the first interval judges no generation.</summary>
    public void Begin(VirtioDevice device, Flavour flavour, FuzzContext context, long now)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = flavour == Flavour.Robust ? device as VirtioCounterDevice : null;
        _context = context;
        if (_device is null)
            return;
        _period = _device.Options.PeriodNs;
        _armedAt = _device.DriverOk ? now : -1;
        _lastNow = now;
        _resets = _device.ResetCount;
        _logSeen = _device.Log.Count;
        _next = _device.Ticks;
        _generation = 0;
        _wasBroken = true; // generation unknown until the first read
    }

    /// <summary>After a device-side op (and after the final run): judges the ticks that fell due up to
    /// <paramref name="until"/> (the end of the virtual time the driver let pass: a run op's limit; the event loop
    /// does not move its clock past its last event when nothing is queued, so a timer that stopped would also stop
    /// the clock), then follows the status the op left (a reset, DRIVER_OK set or cleared; a new arming counts from
    /// <paramref name="now"/>, the device's clock).</summary>
    public void AfterOp(long until, long now, byte generation)
    {
        VirtioCounterDevice? d = _device;
        if (d is null || _context is null || _context.Finding is not null)
            return;
        long ticks = 0;
        if (_armedAt >= 0 && until > _lastNow)
            ticks = ((until - _armedAt) / _period) - ((_lastNow - _armedAt) / _period);
        TicksJudgedTotal += ticks;
        bool reset = d.ResetCount != _resets;
        if (!JudgeLog(d, ticks, until))
            return;
        // A broken robust device raises no more ticks (it keeps its NEEDS_RESET notification): over an interval in
        // which it was broken throughout, the generation stays.
        long notified = _wasBroken ? 0 : ticks;
        bool judged = !reset && d.IsBroken == _wasBroken;
        if (judged && Narrow.ToByteWrapping(_generation + notified) != generation)
        {
            _context.Report(
                Oracle,
                "timer/generation",
                $"{ticks} ticks fell due in ({_lastNow}, {until}] ns (device broken: {_wasBroken}) but "
                    + $"config_generation went {_generation} -> {generation}, expected {notified} more (each tick of a "
                    + "working device changes the configuration, VIRTIO 1.2 §4.1.4.3.1; a broken one raises no more)"
            );
            return;
        }
        if (reset)
        {
            _resets = d.ResetCount;
            _next = 0;
            _armedAt = -1;
        }
        if (_armedAt >= 0)
            _lastNow = Math.Max(_lastNow, until);
        if (!d.DriverOk)
        {
            _armedAt = -1;
        }
        else if (_armedAt < 0)
        {
            _armedAt = now;
            _lastNow = now;
        }
        _generation = generation;
        _wasBroken = d.IsBroken;
    }

    /// <summary>The set-config lines since the previous call: as many as <paramref name="ticks"/>, numbered on from
    /// the sequence. False when a finding was reported.</summary>
    private bool JudgeLog(VirtioCounterDevice d, long ticks, long now)
    {
        IReadOnlyList<string> log = d.Log;
        if (d.LogLinesDropped != 0 || _logSeen > log.Count)
        {
            // The bounded log is full: lines are gone, the sequence goes on unseen.
            _next = Narrow.LowUInt32(_next + ticks);
            _logSeen = log.Count;
            return true;
        }
        long lines = 0;
        for (int i = _logSeen; i < log.Count; i++)
        {
            string line = log[i];
            if (!line.StartsWith(TickPrefix, StringComparison.Ordinal))
                continue;
            lines++;
            string expected = string.Create(CultureInfo.InvariantCulture, $"{TickPrefix}{Narrow.AsInt32Bits(_next)}");
            if (line != expected)
            {
                _context!.Report(
                    Oracle,
                    "timer/set-config",
                    $"tick line \"{line}\", expected \"{expected}\" "
                        + "(set_config counts ticks from 0 since the last reset)"
                );
                return false;
            }
            _next = Narrow.LowUInt32(_next + 1L);
        }
        _logSeen = log.Count;
        if (lines == ticks)
            return true;
        _context!.Report(
            Oracle,
            "timer/ticks",
            $"{lines} set-config lines were logged in ({_lastNow}, {now}] ns, the reference says "
                + $"{ticks} ticks fell due (period {_period} ns, armed at DRIVER_OK {_armedAt} ns)"
        );
        return false;
    }
}
