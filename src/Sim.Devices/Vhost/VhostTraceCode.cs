namespace Sim.Devices.Vhost;

/// <summary>DeviceResult codes (trace Address) that vhost emits besides <see cref="VqErrorCode"/> values, which
/// use 1..255. These are model findings, not Linux messages.</summary>
public static class VhostTraceCode
{
    /// <summary>The worker ran <see cref="VhostOptions.IdleRequeuesMax"/> consecutive handler runs that requeued
    /// themselves without consuming or completing a buffer: a livelock (Value = handler runs so far). Linux would
    /// spin forever; the model keeps running so the simulation's EventsMax/TimeMax stops it.</summary>
    public const ulong LivelockSuspected = 0x1000;

    /// <summary>The worker reached <see cref="VhostOptions.HandlerRunsMax"/> handler runs and stopped running
    /// works.</summary>
    public const ulong HandlerBudgetExhausted = 0x1001;

    /// <summary>One handler run looped <see cref="VhostOptions.HandlerIterationsMax"/> times (Linux would soft-lock
    /// the CPU, for example when the used ring overlaps the available ring and no weight applies); the model breaks
    /// out of the loop.</summary>
    public const ulong HandlerIterationsExhausted = 0x1002;
}
