using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The honest driver's kick decision (Linux virtqueue_kick_prepare_split), so that liveness honours notification
/// suppression (issue 12 item 3): the guest kicks only when it published since its last decision and the device's
/// suppression words ask for it — without EVENT_IDX when used.flags lacks VRING_USED_F_NO_NOTIFY (VIRTIO 1.2 §2.7.7.2),
/// with it when vring_need_event(avail_event, new, old) (§2.7.10). A chain the device then never consumes is
/// stranded by the device, which promised to look without a kick; an extra kick would hide that.
/// <para>When the guest itself stored over used.flags or avail_event since the device last wrote them (a stray store,
/// or rings that overlap), the words are the guest's, not the device's promise: the decision is to kick.</para>
/// <para>vring_need_event's window [old, new) assumes avail.idx only moved forward since the last decision, as a Linux
/// driver's does. When a store moved it any other way (back, or further than a queue ahead: a stray store, a wild
/// avail.idx op, rings that overlap), the device may have read a value outside that window and set avail_event
/// from it, so the decision is to kick (docs/fuzzing-oracles.md, the seed-7 triage).</para>
/// Registered as a memory observer only to see who wrote the suppression words last; reads memory unobserved.
/// </summary>
internal sealed class GuestKickDecision : IMemoryObserver
{
    private GuestMemory? _memory;
    private ulong _availRing;
    private ulong _usedRing;
    private int _size;
    private bool _eventIdx;
    private ushort _lastDecision;
    private bool _tampered;
    private ushort _availSeen;
    private bool _availMovedOddly;

    /// <summary>True between <see cref="Configure"/> and <see cref="Deactivate"/>.</summary>
    public bool Active { get; private set; }

    /// <summary>Decisions that said "no kick" with chains published since the previous decision (the guest relied on
    /// the device's suppression promise).</summary>
    public int Withheld { get; private set; }

    /// <summary>Starts following a queue; the guest's last decision is at the avail.idx memory holds now.</summary>
    public void Configure(GuestMemory memory, ulong availRing, ulong usedRing, int size, bool eventIdx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        _availRing = availRing;
        _usedRing = usedRing;
        _size = size;
        _eventIdx = eventIdx;
        _tampered = false;
        Withheld = 0;
        Active = true;
        _lastDecision = AvailIdx();
        _availSeen = _lastDecision;
        _availMovedOddly = false;
    }

    /// <summary>Features changed: EVENT_IDX on or off. The words in memory were written under the other rule.</summary>
    public void SetEventIdx(bool eventIdx)
    {
        if (eventIdx != _eventIdx)
            _tampered = true;
        _eventIdx = eventIdx;
    }

    /// <summary>The control plane acted (a restart, a new base, a feature change): until the device stores its
    /// suppression words again they are not its promise, and the honest decision is to kick.</summary>
    public void Unsure() => _tampered = true;

    /// <summary>Stops following (the queue's addresses no longer mean what they did).</summary>
    public void Deactivate() => Active = false;

    /// <summary>The guest kicked unconditionally (an explicit kick): its next decision counts from here.</summary>
    public void Kicked()
    {
        if (!Active)
            return;
        _lastDecision = AvailIdx();
        _availSeen = _lastDecision;
        _availMovedOddly = false;
    }

    /// <summary>virtqueue_kick_prepare: true when the guest must kick for what it published since its last
    /// decision.</summary>
    public bool Decide()
    {
        if (!Active)
            return true;
        ushort now = AvailIdx();
        ushort old = _lastDecision;
        bool movedOddly = _availMovedOddly;
        _lastDecision = now;
        _availSeen = now;
        _availMovedOddly = false;
        if (now == old && !movedOddly)
            return false;
        if (_tampered || movedOddly)
            return true;
        bool kick;
        if (_eventIdx)
        {
            ushort availEvent = Read(_usedRing + 4 + (8UL * (ulong)_size));
            // vring_need_event(event_idx, new_idx, old_idx).
            kick = Narrow.ToUInt16Wrapping(now - availEvent - 1) < Narrow.ToUInt16Wrapping(now - old);
        }
        else
        {
            kick = (Read(_usedRing) & 1) == 0; // VRING_USED_F_NO_NOTIFY
        }
        if (!kick)
            Withheld++;
        return kick;
    }

    private ushort AvailIdx() => Read(_availRing + 2);

    /// <summary>A store reached avail.idx (the observer runs after it): a publish moves it forward by at most a queue;
    /// any other move takes it out of the decision's window.</summary>
    private void NoteAvailIdxStore()
    {
        ushort now = AvailIdx();
        if (Narrow.ToUInt16Wrapping(now - _availSeen) > _size)
            _availMovedOddly = true;
        _availSeen = now;
    }

    private ushort Read(ulong at) =>
        _memory!.TryGetSpan(new GuestAddress(at), 2, out Span<byte> raw)
            ? BinaryPrimitives.ReadUInt16LittleEndian(raw)
            : (ushort)0;

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (!Active)
            return;
        ulong a = address.Value;
        ulong end = a + (ulong)data.Length;
        if (a < _availRing + 4 && end > _availRing + 2)
            NoteAvailIdxStore();
        ulong flags = _usedRing;
        ulong availEvent = _usedRing + 4 + (8UL * (ulong)_size);
        bool onFlags = a < flags + 2 && end > flags;
        bool onEvent = a < availEvent + 2 && end > availEvent;
        if (!onFlags && !onEvent)
            return;
        // The device's own suppression store is one le16 at the field (vhost put_user, QEMU vring_used_flags_set_bit /
        // vring_set_avail_event); anything else there (a guest store, response bytes in a buffer over the ring) is not
        // the device's promise.
        bool deviceWord = actor == MemoryActor.Device && data.Length == 2 && (a == flags || a == availEvent);
        if (!deviceWord)
        {
            _tampered = true;
            return;
        }
        // Only a store of the word the decision reads renews the promise: after a restart under EVENT_IDX, vhost's
        // vhost_vq_init_access stores used.flags (vhost_update_used_flags) but not avail_event, which still holds
        // what it held before the control plane acted.
        if (a == (_eventIdx ? availEvent : flags))
            _tampered = false;
    }
}
