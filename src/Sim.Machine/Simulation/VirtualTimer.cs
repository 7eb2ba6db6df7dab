using Sim.Engine;
using Sim.Engine.Time;
using Sim.Engine.Trace;

namespace Sim.Machine.Simulation;

/// <summary>
/// A device or host timer on virtual time (a QEMU timer, a host hrtimer): one-shot or periodic.
/// Each expiry counts a timer firing, emits TimerFire (Source = <see cref="Id"/>, Value = expiry
/// count) and calls the listener. A timer fires at most <see cref="TicksMax"/> times in its life, so a
/// forgotten periodic timer cannot keep a run alive forever. Cancelling or restarting makes any
/// expiry already queued stale (a generation number, since the loop has no removal).
/// </summary>
public sealed class VirtualTimer : IEventHandler
{
    /// <summary>Default most expiries per timer.</summary>
    public const long TicksMaxDefault = 1_000_000;

    private readonly Simulation _simulation;
    private readonly ITimerListener? _listener;
    private long _generation;

    internal VirtualTimer(Simulation simulation, uint id, string name, ITimerListener? listener, long ticksMax)
    {
        _simulation = simulation;
        Id = id;
        Name = name;
        _listener = listener;
        TicksMax = ticksMax;
    }

    /// <summary>Creation-order number; the trace's Source for this timer's events.</summary>
    public uint Id { get; }

    /// <summary>What the timer is for, shown in traces.</summary>
    public string Name { get; }

    /// <summary>Most expiries in this timer's life.</summary>
    public long TicksMax { get; }

    /// <summary>Expiries so far.</summary>
    public long Fires { get; private set; }

    /// <summary>Whether the timer will fire.</summary>
    public bool IsArmed { get; private set; }

    /// <summary>Period in ns, or 0 for a one-shot timer.</summary>
    public long PeriodNs { get; private set; }

    /// <summary>Absolute time of the next expiry while armed.</summary>
    public long NextExpiry { get; private set; }

    /// <summary>Arms the timer: first expiry <paramref name="delayNs"/> from now, then every
    /// <paramref name="periodNs"/> (0 = one-shot). Replaces any previous arming. Returns false,
    /// leaving it disarmed, once <see cref="TicksMax"/> expiries have happened.</summary>
    public bool Start(long delayNs, long periodNs = 0)
    {
        if (delayNs < 0)
            throw new ArgumentOutOfRangeException(nameof(delayNs), "delay must not be negative");
        if (periodNs < 0)
            throw new ArgumentOutOfRangeException(nameof(periodNs), "period must not be negative");
        _generation++;
        if (Fires >= TicksMax)
        {
            IsArmed = false;
            return false;
        }
        PeriodNs = periodNs;
        Arm(checked(_simulation.Loop.Now + delayNs));
        return true;
    }

    /// <summary>Disarms the timer; a queued expiry is ignored.</summary>
    public void Cancel()
    {
        _generation++;
        IsArmed = false;
    }

    private void Arm(long time)
    {
        IsArmed = true;
        NextExpiry = time;
        _simulation.Loop.ScheduleAt(time, this, 0, _generation);
    }

    void IEventHandler.Handle(EventLoop loop, in ScheduledEvent ev)
    {
        if (ev.Argument != _generation || !IsArmed)
            return;
        Fires++;
        _simulation.Counters.TimerFirings++;
        _simulation.Emit(TraceEventKind.TimerFire, Id, 0, Narrow.AsUInt64Bits(Fires), default);
        if (PeriodNs > 0 && Fires < TicksMax)
            Arm(checked(NextExpiry + PeriodNs));
        else
            IsArmed = false;
        _listener?.OnTimer(this);
    }
}
