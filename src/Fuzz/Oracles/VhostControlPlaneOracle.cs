using System.Buffers.Binary;
using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Sim.Machine.Kvm;
using Sim.Spec.Virtio;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Control-plane state judged against the Linux rules after the ioctls that reset or start a vhost device (issue 12:
/// the vhost control plane had no oracle but the errno model). Each check returns the first broken rule, or null.
/// <list type="bullet">
/// <item><see cref="AfterResetOwner"/>: VHOST_RESET_OWNER (vhost_dev_reset_owner → vhost_dev_cleanup) leaves no owner
/// and no worker (vhost_worker_free after vhost_dev_flush: nothing pending, the old worker stopped), an empty memory
/// table (vhost_dev_reset_owner_prepare's iotlb), no kick polled (vhost_poll_stop), and every vring as vhost_vq_reset
/// leaves it: num 1, desc/avail/used NULL, last_avail_idx, avail_idx and last_used_idx 0, signalled_used invalid,
/// used_flags 0, no backend, acked_features 0, no kick, call or error eventfd.</item>
/// <item><see cref="AfterStart"/>: QEMU's vhost_dev_start order (hw/virtio/vhost.c) leaves every vring with what it
/// set — acked features, num, the base (vhost_vring_set_base sets last_avail_idx and the cache), the ring user
/// addresses of vhost_memory_map, the kick and call eventfds polled and set, the memory table of the VMM's mappings
/// — a backend attached, and vhost_vq_init_access's last_used_idx read from used-&gt;idx.</item>
/// <item><see cref="AfterSetVringKick"/>: VHOST_SET_VRING_KICK (vhost_vring_ioctl) stops polling the old kick
/// eventfd and starts polling the new one, so a vring with a kick handler polls exactly the eventfd it was given (none
/// after VHOST_FILE_UNBIND).</item>
/// </list>
/// </summary>
internal static class VhostControlPlaneOracle
{
    public const string Oracle = "control-plane";

    /// <summary>The first rule VHOST_RESET_OWNER left broken, or null.</summary>
    public static string? AfterResetOwner(VhostDevice device, VhostWorker? oldWorker)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.HasOwner || device.Worker is not null)
            return "the device still has an owner or a worker";
        if (device.Umem is not { Maps.Count: 0 })
            return "the memory table is not the empty one";
        if (oldWorker is { Alive: true } or { Pending: > 0 })
            return "the old worker is alive or still holds works";
        foreach (VhostVirtqueue vq in device.Vqs)
        {
            if (ResetVring(vq) is { } broken)
                return $"vring {vq.Index}: {broken}";
        }
        return null;
    }

    /// <summary>vhost_vq_reset's values (and vhost_poll_stop, the worker's flush) for one vring.</summary>
    private static string? ResetVring(VhostVirtqueue vq)
    {
        if (vq.Work is { Queued: true })
            return "its work is still marked queued (it could never be queued again)";
        if (vq.Poll.Polling is not null)
            return "it still polls its kick eventfd";
        if (vq.Num != 1 || vq.Desc != 0 || vq.Avail != 0 || vq.Used != 0)
        {
            return $"it keeps num {vq.Num} or ring addresses (vhost_vq_reset: num 1, NULL rings)";
        }
        if (vq.LastAvailIdx != 0 || vq.AvailIdx != 0 || vq.LastUsedIdx != 0)
        {
            return $"it keeps last_avail_idx {vq.LastAvailIdx}, avail_idx {vq.AvailIdx}, last_used_idx "
                + $"{vq.LastUsedIdx} (vhost_vq_reset: 0)";
        }
        if (vq.SignalledUsed != 0 || vq.SignalledUsedValid || vq.UsedFlags != 0)
        {
            return "it keeps signalled_used or used_flags";
        }
        if (vq.HasBackend || vq.AckedFeatures != 0)
            return $"it keeps a backend or acked features {vq.AckedFeatures:x}";
        if (vq.Kick is not null || vq.Call is not null || vq.Err is not null)
            return "it keeps an eventfd";
        return null;
    }

    /// <summary>The first rule a successful start of vring 0 left broken, or null.</summary>
    public static string? AfterStart(VhostDevice device, ulong features, in VhostRingStart ring)
    {
        ArgumentNullException.ThrowIfNull(device);
        VmmAddressSpace vmm = device.Vmm;
        VhostVirtqueue vq = device.Vqs[0];
        if (!device.HasOwner || device.Worker is not { Alive: true })
            return "no owner or no live worker";
        if (vq.AckedFeatures != features)
            return $"acked features {vq.AckedFeatures:x}, SET_FEATURES set {features:x}";
        if (vq.Num != (uint)ring.Num)
            return $"num {vq.Num}, SET_VRING_NUM set {ring.Num}";
        if (vq.LastAvailIdx != ring.LastAvailIdx || vq.AvailIdx != ring.LastAvailIdx)
        {
            return $"last_avail_idx {vq.LastAvailIdx} / avail_idx {vq.AvailIdx}, SET_VRING_BASE set "
                + $"{ring.LastAvailIdx}";
        }
        if (
            !vmm.TryGetUserAddress(ring.DescTable, out ulong d)
            || !vmm.TryGetUserAddress(ring.AvailRing, out ulong a)
            || !vmm.TryGetUserAddress(ring.UsedRing, out ulong u)
        )
        {
            return null;
        }
        if (vq.Desc != d || vq.Avail != a || vq.Used != u)
            return "the ring addresses are not those SET_VRING_ADDR set";
        if (
            !ReferenceEquals(vq.Kick, ring.Kick)
            || !ReferenceEquals(vq.Call, ring.Call)
            || !ReferenceEquals(vq.Poll.Polling, ring.Kick)
        )
        {
            return "the kick or call eventfd is not the one set, or the kick is not polled";
        }
        if (!vq.HasBackend || vq.SignalledUsedValid)
        {
            return "no backend attached, or signalled_used still valid (vhost_vq_init_access invalidates it)";
        }
        if (!SameTable(device.Umem, vmm.MemoryTable()))
            return "the memory table is not the one SET_MEM_TABLE set";
        var usedIdxAt = new GuestAddress(ring.UsedRing.Value + VirtioSpec.UsedIdxOffset);
        if (!vmm.Memory.TryGetSpan(usedIdxAt, 2, out Span<byte> raw))
            return null;
        ushort usedIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        if (vq.LastUsedIdx != usedIdx)
        {
            return $"last_used_idx {vq.LastUsedIdx}, vhost_vq_init_access reads used->idx {usedIdx}";
        }
        return null;
    }

    /// <summary>
    /// The first rule a successful VHOST_SET_VRING_KICK of <paramref name="fd"/> (null: VHOST_FILE_UNBIND) on vring
    /// <paramref name="index"/> left broken, or null. Linux vhost_vring_ioctl: when the eventfd differs from
    /// vq-&gt;kick, <c>pollstop = vq-&gt;kick != NULL</c> and <c>pollstart = eventfp != NULL</c>, then
    /// vhost_poll_stop of the old and vhost_poll_start of the new (both only with vq-&gt;handle_kick). A guest kick on
    /// the new eventfd must wake the worker, and one on the old must not: a poll left on the old eventfd (which also
    /// makes vhost_poll_start of the new return early) strands every request the guest kicks afterwards.
    /// </summary>
    public static string? AfterSetVringKick(VhostDevice device, uint index, EventFd? fd)
    {
        ArgumentNullException.ThrowIfNull(device);
        VhostVirtqueue vq = device.Vqs[checked((int)index)];
        if (!ReferenceEquals(vq.Kick, fd))
            return $"vring {index}: vq->kick is not the eventfd SET_VRING_KICK set";
        if (vq.Work is not null && !ReferenceEquals(vq.Poll.Polling, fd))
        {
            return $"vring {index}: it polls {Describe(vq.Poll.Polling)}, SET_VRING_KICK set {Describe(fd)} "
                + "(vhost_poll_stop of the old kick, vhost_poll_start of the new)";
        }
        return null;
    }

    private static string Describe(EventFd? fd) => fd is null ? "no eventfd" : $"eventfd '{fd.Name}'";

    private static bool SameTable(VhostIotlb? table, VhostMemoryRegion[] regions)
    {
        if (table is null || table.Maps.Count != regions.Length)
            return false;
        foreach (VhostMemoryRegion r in regions)
        {
            var map = new VhostIotlbMap(r.GuestPhysAddr, r.GuestPhysAddr + r.MemorySize - 1, r.UserspaceAddr);
            if (!table.Maps.Contains(map))
                return false;
        }
        return true;
    }
}
