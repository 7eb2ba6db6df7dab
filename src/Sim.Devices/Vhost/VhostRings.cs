using Sim.Devices.Virtio;
using Sim.Engine;
using Sim.Spec.Virtio;

namespace Sim.Devices.Vhost;

/// <summary>Split-ring sizes and event-field offsets as vhost computes them (vhost_get_avail_size /
/// vhost_get_used_size: the trailing event field counts only with VIRTIO_RING_F_EVENT_IDX).</summary>
public static class VhostRings
{
    /// <summary>flags + idx + ring[num] (+ used_event with EVENT_IDX).</summary>
    public static ulong AvailSize(uint num, bool eventIdx) =>
        VirtioSpec.AvailRingOffset
        + ((ulong)num * VirtioSpec.AvailElemSize)
        + (eventIdx ? (ulong)VirtioSpec.AvailUsedEventSize : 0);

    /// <summary>flags + idx + ring[num] (+ avail_event with EVENT_IDX).</summary>
    public static ulong UsedSize(uint num, bool eventIdx) =>
        VirtioSpec.UsedRingOffset
        + ((ulong)num * VirtioSpec.UsedElemSize)
        + (eventIdx ? (ulong)VirtioSpec.UsedAvailEventSize : 0);

    /// <summary>vhost_used_event: &amp;avail-&gt;ring[num].</summary>
    public static ulong UsedEventOffset(uint num) =>
        VirtioSpec.AvailRingOffset + ((ulong)num * VirtioSpec.AvailElemSize);

    /// <summary>vhost_avail_event: &amp;used-&gt;ring[num].</summary>
    public static ulong AvailEventOffset(uint num) =>
        VirtioSpec.UsedRingOffset + ((ulong)num * VirtioSpec.UsedElemSize);
}
