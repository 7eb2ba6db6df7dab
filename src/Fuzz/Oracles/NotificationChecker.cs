using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Oracle 5's interrupt half: at each point where the device decides whether to interrupt the driver, decides
/// independently whether the driver's suppression state REQUIRES an interrupt, and reports a missed one. Spurious
/// interrupts are allowed (VIRTIO 1.2 §2.7.7.2, §2.7.10: suppression is only an optimisation).
/// Without VIRTIO_F_EVENT_IDX an interrupt is required when used.idx moved since the last interrupt and the driver
/// did not set VIRTQ_AVAIL_F_NO_INTERRUPT. With it, when used.idx passed used_event since the last decision
/// (vring_need_event(used_event, new, old), §2.7.10). Reads the ring with unobserved host accesses.
/// </summary>
internal sealed class NotificationChecker
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "notify";

    private GuestMemory? _memory;
    private ulong _availRing;
    private int _size;
    private bool _eventIdx;
    private ushort _lastSignalled;

    /// <summary>Where a missed interrupt is reported.</summary>
    public FuzzContext? Context { get; set; }

    /// <summary>Missed interrupts seen since <see cref="Configure"/>.</summary>
    public int Missed { get; private set; }

    /// <summary>Starts checking a live queue whose used.idx is <paramref name="usedIdx"/>.</summary>
    public void Configure(GuestMemory memory, ulong availRing, int size, bool eventIdx, ushort usedIdx = 0)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        _availRing = availRing;
        _size = size;
        _eventIdx = eventIdx;
        _lastSignalled = usedIdx;
        Missed = 0;
    }

    /// <summary>True when the driver's suppression state requires an interrupt now that used.idx is
    /// <paramref name="usedIdx"/>.</summary>
    public bool Required(ushort usedIdx)
    {
        if (_memory is null || usedIdx == _lastSignalled)
            return false;
        if (!_memory.TryGetSpan(new GuestAddress(_availRing), 4 + (2UL * (ulong)_size) + 2, out Span<byte> avail))
            return false;
        if (!_eventIdx)
            return (BinaryPrimitives.ReadUInt16LittleEndian(avail) & 1) == 0;
        ushort usedEvent = BinaryPrimitives.ReadUInt16LittleEndian(avail[(4 + (2 * _size))..]);
        // vring_need_event: (u16)(new - event - 1) < (u16)(new - old).
        return Narrow.ToUInt16Wrapping(usedIdx - usedEvent - 1) < Narrow.ToUInt16Wrapping(usedIdx - _lastSignalled);
    }

    /// <summary>The device decided (<paramref name="notified"/>) at used.idx <paramref name="usedIdx"/>; reports a
    /// missed interrupt and remembers the decision point.</summary>
    public void OnDecision(ushort usedIdx, bool notified, string site = "notify/missed-interrupt")
    {
        if (!notified && Required(usedIdx))
        {
            Missed++;
            Context?.Report(
                Oracle,
                site,
                $"used.idx moved from {_lastSignalled} to {usedIdx} and the driver's "
                    + $"{(_eventIdx ? "used_event" : "avail.flags")} requires an interrupt, but none was sent (VIRTIO "
                    + $"1.2 {(_eventIdx ? "§2.7.10" : "§2.7.7.2")})"
            );
        }
        // QEMU signalled_used / vhost signalled_used: the reference point moves at every decision, so a driver that
        // moves used_event behind used.idx afterwards must re-check itself (Linux virtqueue_enable_cb_delayed does).
        _lastSignalled = usedIdx;
    }
}
