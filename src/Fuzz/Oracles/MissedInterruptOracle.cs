using System.Buffers.Binary;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Oracle 5's interrupt half for whole-device targets, where the device's notification decisions are not visible,
/// only their effect (an interrupt delivered through irqfd/MSI-X or INTx). Keeps an anchor — the used.idx at the
/// last delivered interrupt — and, when the guest has stopped and the device has drained, asks
/// <see cref="NotificationChecker"/> whether the driver's suppression state requires an interrupt for the entries
/// added since (VIRTIO 1.2 §2.7.7.2 without EVENT_IDX; §2.7.10 with it). A delivered interrupt moves the anchor to
/// the used.idx seen when the target noticed it, never earlier, so the judged range (anchor, final] is always covered
/// by the device's own decisions (each decision covers (previous, new]).
/// <para>The anchor also moves, forgiving what came before, whenever the state the device decided on may differ from
/// the final one: the driver's suppression words (avail.flags, used_event) changed other than by the device completing
/// (a guest store, or device writes landing on the avail ring through overlapping rings or buffers), or the queue was
/// reconfigured. Spurious interrupts are allowed (§2.7.7.2: suppression is only an optimisation).</para>
/// <para>used.idx is judged as the device knows it, not as memory shows it: a guest store to used.idx (or one landing
/// there through overlapping rings) changes neither the device's shadow index nor its last signalled point (QEMU
/// virtqueue_flush computes new = vq-&gt;used_idx + count and virtio_should_notify compares it with signalled_used;
/// vhost keeps last_used_idx and signalled_used likewise). So the oracle adopts a used.idx only when the device wrote
/// it (it changed across a device run), and every anchor is a device value.</para>
/// Reads the ring with unobserved host accesses.
/// </summary>
internal sealed class MissedInterruptOracle
{
    private readonly NotificationChecker _rule = new();
    private GuestMemory? _memory;
    private ulong _availRing;
    private ulong _usedRing;
    private int _size;
    private bool _eventIdx;
    private ushort _flags;
    private ushort _usedEvent;
    private ushort _usedIdx;
    private ushort _memoryUsedIdx;

    /// <summary>Where a missed interrupt is reported.</summary>
    public FuzzContext? Context
    {
        get => _rule.Context;
        set => _rule.Context = value;
    }

    /// <summary>True between <see cref="Configure"/> and <see cref="Deactivate"/>.</summary>
    public bool Active { get; private set; }

    /// <summary>Missed interrupts reported since the last <see cref="Configure"/>.</summary>
    public int Missed => _rule.Missed;

    /// <summary>Starts judging a live queue; the anchor is its current used.idx.</summary>
    public void Configure(GuestMemory memory, ulong availRing, ulong usedRing, int size, bool eventIdx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        _availRing = availRing;
        _usedRing = usedRing;
        _size = size;
        _eventIdx = eventIdx;
        Active = Read(out _flags, out _usedEvent, out _usedIdx);
        _memoryUsedIdx = _usedIdx;
        if (Active)
            _rule.Configure(memory, availRing, size, eventIdx, _usedIdx);
    }

    /// <summary>Stops judging (the queue's addresses no longer mean what they did, or it is gone).</summary>
    public void Deactivate() => Active = false;

    /// <summary>Call after the guest acted: a change of the suppression words re-anchors at the device's used.idx; a
    /// guest store to used.idx is remembered as the guest's, never adopted as the device's.</summary>
    public void AfterGuest()
    {
        if (!Active)
            return;
        if (!Read(out ushort flags, out ushort usedEvent, out ushort usedIdx))
        {
            Active = false;
            return;
        }
        _memoryUsedIdx = usedIdx;
        if (flags != _flags || usedEvent != _usedEvent)
            Anchor(flags, usedEvent, _usedIdx);
    }

    /// <summary>Call after the device ran; <paramref name="interrupted"/>: an interrupt for this queue was delivered
    /// since the last call.</summary>
    public void AfterDevice(bool interrupted)
    {
        if (!Active)
            return;
        if (!Read(out ushort flags, out ushort usedEvent, out ushort usedIdx))
        {
            Active = false;
            return;
        }
        // A used.idx that changed across the device's run is the device's; one the guest left there is not.
        if (usedIdx != _memoryUsedIdx)
            _usedIdx = usedIdx;
        _memoryUsedIdx = usedIdx;
        if (interrupted || flags != _flags || usedEvent != _usedEvent)
            Anchor(flags, usedEvent, _usedIdx);
    }

    /// <summary>The guest stopped and the device drained (call <see cref="AfterDevice"/> first): reports a missed
    /// interrupt when entries were added since the anchor and the driver's state requires one.</summary>
    public void Final(string site = "notify/missed-interrupt-after-drain")
    {
        if (!Active)
            return;
        _rule.OnDecision(_usedIdx, notified: false, site);
    }

    private void Anchor(ushort flags, ushort usedEvent, ushort usedIdx)
    {
        _flags = flags;
        _usedEvent = usedEvent;
        _usedIdx = usedIdx;
        _rule.Configure(_memory!, _availRing, _size, _eventIdx, usedIdx);
    }

    private bool Read(out ushort flags, out ushort usedEvent, out ushort usedIdx)
    {
        flags = usedEvent = usedIdx = 0;
        GuestMemory memory = _memory!;
        if (!memory.TryGetSpan(new GuestAddress(_availRing), 2, out Span<byte> f))
            return false;
        flags = BinaryPrimitives.ReadUInt16LittleEndian(f);
        if (!memory.TryGetSpan(new GuestAddress(_availRing + 4 + (2UL * (ulong)_size)), 2, out Span<byte> e))
            return false;
        usedEvent = BinaryPrimitives.ReadUInt16LittleEndian(e);
        if (!memory.TryGetSpan(new GuestAddress(_usedRing + 2), 2, out Span<byte> u))
            return false;
        usedIdx = BinaryPrimitives.ReadUInt16LittleEndian(u);
        return true;
    }
}
