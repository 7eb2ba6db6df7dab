namespace Sim.Devices.Vhost;

/// <summary>One struct vhost_iotlb_map: guest-physical [<see cref="Start"/>, <see cref="Last"/>] (inclusive, so the
/// whole 64-bit space is expressible) at userspace address <see cref="UserAddr"/>.</summary>
public readonly record struct VhostIotlbMap(ulong Start, ulong Last, ulong UserAddr)
{
    /// <summary>Bytes mapped; 0 stands for 2^64 (never produced: Linux splits [0, 2^64-1] in two).</summary>
    public ulong Size => unchecked(Last - Start + 1);
}
