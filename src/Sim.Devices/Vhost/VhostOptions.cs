namespace Sim.Devices.Vhost;

/// <summary>Configuration of a simulated vhost device: Linux's weights and module parameters plus the model's own
/// bounds and costs. Every bound is positive; <see cref="Validate"/> throws on a configuration error.</summary>
public sealed record VhostOptions
{
    /// <summary>Linux's defaults.</summary>
    public static VhostOptions Default { get; } = new();

    /// <summary>vhost_dev_init weight: most packets (requests) one handler run processes before
    /// vhost_exceeds_weight requeues it. Default VHOST_NET_PKT_WEIGHT (256); the seed's VHOST_DEMO_PKT_WEIGHT is
    /// not shown in the document.</summary>
    public int PacketWeight { get; init; } = 256;

    /// <summary>vhost_dev_init byte_weight: most bytes per handler run; 0 disables the byte limit. Default
    /// VHOST_NET_WEIGHT (0x80000).</summary>
    public int ByteWeight { get; init; } = 0x80000;

    /// <summary>max_mem_regions module parameter.</summary>
    public int MemRegionsMax { get; init; } = VhostLimits.MemRegionsMaxDefault;

    /// <summary>Virtual time one handler run takes (mutex, ring accesses, copies) before the worker runs the next
    /// work. A model cost, not a Linux number: a few hundred ns for a short run.</summary>
    public long WorkRunNs { get; init; } = 500;

    /// <summary>Most handler runs in the worker's life; then it stops running works (a hard bound so that even a
    /// simulation without EventsMax ends).</summary>
    public long HandlerRunsMax { get; init; } = 10_000_000;

    /// <summary>Consecutive handler runs that requeue themselves without progress after which the worker reports a
    /// livelock (<see cref="VhostTraceCode.LivelockSuspected"/>, once per streak).</summary>
    public int IdleRequeuesMax { get; init; } = 1000;

    /// <summary>Most iterations of one handler's request loop (each get_vq_desc call counts).</summary>
    public int HandlerIterationsMax { get; init; } = 4 * 32768;

    /// <summary>Throws when a limit is out of its range.</summary>
    public void Validate()
    {
        if (PacketWeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(PacketWeight), "must be positive");
        if (ByteWeight < 0)
            throw new ArgumentOutOfRangeException(nameof(ByteWeight), "must not be negative");
        if (MemRegionsMax <= 0 || MemRegionsMax > ushort.MaxValue)
            throw new ArgumentOutOfRangeException(
                nameof(MemRegionsMax),
                "must be 1..65535 (a ushort module parameter)"
            );
        if (WorkRunNs < 0)
            throw new ArgumentOutOfRangeException(nameof(WorkRunNs), "must not be negative");
        if (HandlerRunsMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(HandlerRunsMax), "must be positive");
        if (IdleRequeuesMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(IdleRequeuesMax), "must be positive");
        if (HandlerIterationsMax <= 0)
            throw new ArgumentOutOfRangeException(nameof(HandlerIterationsMax), "must be positive");
    }
}
