using System.Buffers.Binary;
using Sim.Devices.Vhost;
using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// <c>vhost-notify/signal-not-needed</c>: each signal of a vring's call eventfd judged against Linux vhost_notify with
/// VIRTIO_RING_F_EVENT_IDX (drivers/vhost/vhost.c; VIRTIO 1.2 §2.7.7.2: when used.idx does not pass used_event "the
/// device SHOULD NOT send a notification"). vhost_notify returns true without looking at used_event only when
/// NOTIFY_ON_EMPTY is acked and the cached avail idx equals last_avail_idx (a return that leaves signalled_used
/// untouched, so such a signal neither is judged nor counts as a previous one), or when signalled_used is not valid
/// (after vhost_vq_init_access or vhost_vq_reset, or once the used index came round to it in vhost_add_used_n).
/// Otherwise it signals only if <c>vring_need_event(used_event, new, old)</c>, where old is signalled_used, the
/// used index of the previous decision. The oracle sees signals, not the decisions that did not signal; those
/// only move old forward, which narrows <c>[old, new)</c>, so judging with the used index of the previous
/// signal is sound: a signal whose used_event lies outside even that wider interval is one Linux never sends. It
/// judges only a signal that follows another one with no control-plane ioctl between (<see cref="Forget"/>: a start,
/// reset or feature change invalidates signalled_used) and fewer than 2^16 used entries added since.
/// </summary>
internal sealed class VhostSignalOracle : IEventFdListener
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "vhost-notify";

    private readonly VhostVirtqueue _vq;
    private readonly VmmAddressSpace _vmm;
    private bool _known;
    private ushort _lastSignalled;
    private long _addedAtLast;

    /// <summary>Judges the signals of <paramref name="vq"/>'s call eventfd, whose rings
    /// <paramref name="vmm"/> maps.</summary>
    public VhostSignalOracle(VhostVirtqueue vq, VmmAddressSpace vmm)
    {
        _vq = vq;
        _vmm = vmm;
    }

    /// <summary>Where findings are reported.</summary>
    public FuzzContext? Context { get; set; }

    /// <summary>Forgets the previous signal (a control-plane ioctl may have invalidated signalled_used).</summary>
    public void Forget() => _known = false;

    /// <inheritdoc/>
    public void OnSignalled(EventFd fd)
    {
        VhostVirtqueue vq = _vq;
        ulong acked = vq.AckedFeatures;
        bool eventIdx = ((acked >> VirtioSpec.FEventIdx) & 1) != 0;
        bool onEmpty = ((acked >> VirtioSpec.FNotifyOnEmpty) & 1) != 0 && vq.AvailIdx == vq.LastAvailIdx;
        // vhost_notify returns on NOTIFY_ON_EMPTY before it looks at signalled_used: such a signal leaves the
        // oracle's state as it was (after a start, such a first signal does not make signalled_used valid).
        if (onEmpty)
            return;
        ushort now = vq.LastUsedIdx;
        if (
            _known
            && eventIdx
            && vq.UsedAdded - _addedAtLast < 0x10000
            && TryReadUsedEvent(vq, out ushort usedEvent)
            // vring_need_event: (u16)(new - event - 1) < (u16)(new - old).
            && Narrow.ToUInt16Wrapping(now - usedEvent - 1) >= Narrow.ToUInt16Wrapping(now - _lastSignalled)
        )
        {
            Context?.Report(
                Oracle,
                "vhost-notify/signal-not-needed",
                $"vhost signalled the call eventfd at used idx {now} although used_event {usedEvent} is outside "
                    + $"[{_lastSignalled}, {now}) since the previous signal and signalled_used was valid (Linux "
                    + "vhost_notify, vring_need_event; VIRTIO 1.2 §2.7.7.2)"
            );
        }
        _known = eventIdx;
        _lastSignalled = now;
        _addedAtLast = vq.UsedAdded;
    }

    /// <summary>used_event (the avail ring's trailing field) read without an observed access.</summary>
    private bool TryReadUsedEvent(VhostVirtqueue vq, out ushort usedEvent)
    {
        usedEvent = 0;
        // VIRTIO 1.2 §2.7.6: flags, idx, ring[num], then used_event (the oracle's own offset, not VhostRings').
        ulong offset = 4 + (2UL * vq.Num);
        if (vq.Avail > ulong.MaxValue - offset)
            return false;
        ulong at = vq.Avail + offset;
        if (!_vmm.Resolve(at, out Sim.Engine.Memory.GuestAddress gpa, out ulong available) || available < 2)
            return false;
        if (!_vmm.Memory.TryGetSpan(gpa, 2, out Span<byte> raw))
            return false;
        usedEvent = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        return true;
    }
}
