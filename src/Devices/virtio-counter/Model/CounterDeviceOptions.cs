using Sim.Spec.Counter;

namespace Sim.Devices.Virtio.Counter;

/// <summary>How a <see cref="VirtioCounterDevice"/> is built.</summary>
public sealed record CounterDeviceOptions
{
    /// <summary>Most numbers one request may carry (robust: more breaks the device; seed: the rest are not read).
    /// The seed loops over the whole out buffer; a bound keeps a hostile 4 GiB buffer from logging a billion
    /// lines.</summary>
    public const int NumbersPerRequestMax = 4096;

    /// <summary>Device behaviour (see <see cref="VirtioCounterDevice"/> for the differences).</summary>
    public Flavour Flavour { get; init; } = Flavour.Robust;

    /// <summary>Seed: delay from construction (QEMU realize) to the first tick. Robust: from DRIVER_OK to the first
    /// tick.</summary>
    public long FirstDelayNs { get; init; } = CounterSpec.SeedFirstDelayNs;

    /// <summary>Time between ticks.</summary>
    public long PeriodNs { get; init; } = CounterSpec.SeedPeriodNs;

    /// <summary>Most timer expiries in the device's life (the seed's timer never stops; this bounds a run).</summary>
    public long TicksMax { get; init; } = 1_000_000;

    /// <summary>Most lines kept in <see cref="VirtioCounterDevice.Log"/> (later ones are counted, not kept).</summary>
    public int LogLinesMax { get; init; } = 10_000;

    /// <summary>Also print each device log line on the simulation console, prefixed "qemu: ", so a scenario's
    /// output interleaves the device's qemu_log lines with the guest's printk lines in virtual-time order.</summary>
    public bool EchoLog { get; init; }

    /// <summary>Trace source id of the device.</summary>
    public uint TraceId { get; init; } = 0x21;

    internal void Validate()
    {
        if (FirstDelayNs < 0)
            throw new ArgumentOutOfRangeException(nameof(FirstDelayNs), "must not be negative");
        if (PeriodNs <= 0)
            throw new ArgumentOutOfRangeException(nameof(PeriodNs), "must be positive");
        if (TicksMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(TicksMax), "must be positive");
        if (LogLinesMax < 0)
            throw new ArgumentOutOfRangeException(nameof(LogLinesMax), "must not be negative");
    }
}
