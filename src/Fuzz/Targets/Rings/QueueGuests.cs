using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The hostile guest of a device with several queues (virtio-net: receiveq1 and transmitq1): one
/// <see cref="GuestActor"/> per queue whose rings <see cref="RingInput"/> places, and the queue that
/// <see cref="RingInput.OpSelectQueue"/> selected. Queue 0's guest is bound by the target as before; the others start
/// on their fixed rings (<see cref="RingInput.SecondaryRings"/>) and follow the rings the device uses
/// (<see cref="SyncSecondary"/>), as queue 0's guest does. Their well-formed chains take buffers from
/// <see cref="RingInput.SecondaryBufferBase"/>, so a transmit chain does not overlap a receive chain.
/// </summary>
internal sealed class QueueGuests
{
    private readonly GuestActor[] _guests = new GuestActor[RingInput.PlacedQueuesMax];
    private readonly SplitQueueState?[] _synced = new SplitQueueState?[RingInput.PlacedQueuesMax];

    /// <summary>One guest per placed queue; <paramref name="fillRequests"/> lets queue 0's guest write request bytes
    /// from the input (<see cref="GuestActor.FillRequests"/>: the robust targets with a response model).</summary>
    public QueueGuests(bool fillRequests = false)
    {
        for (int q = 0; q < _guests.Length; q++)
        {
            _guests[q] = new GuestActor
            {
                BufferStart = q == 0 ? RingInput.BufferBase : RingInput.SecondaryBufferBase,
                FillRequests = q == 0 && fillRequests,
            };
        }
    }

    /// <summary>Queues of this execution's device whose rings the format places (1 for blk and rng).</summary>
    public int Queues { get; private set; } = 1;

    /// <summary>The queue ring ops and kicks act on (0 until an op 15).</summary>
    public int Selected { get; private set; }

    /// <summary>Queue 0's guest.</summary>
    public GuestActor Primary => _guests[0];

    /// <summary>The selected queue's guest.</summary>
    public GuestActor Current => _guests[Selected];

    /// <summary>Starts an execution on a device of <paramref name="deviceQueues"/> queues whose queue 0 has
    /// <paramref name="size"/> entries: queue 0 selected, the other queues' guests on their fixed rings in
    /// <paramref name="memory"/>.</summary>
    public void Begin(GuestMemory memory, int deviceQueues, int size)
    {
        Queues = Math.Clamp(deviceQueues, 1, RingInput.PlacedQueuesMax);
        Selected = 0;
        for (int q = 1; q < Queues; q++)
        {
            (ulong desc, ulong avail, _) = RingInput.SecondaryRings(q, size);
            _guests[q].Reset(memory, desc, avail, size);
            _synced[q] = null;
        }
    }

    /// <summary>The driver's set-up of queues 1 and above (VIRTIO 1.2 §3.1.1 step 7) through
    /// <paramref name="common"/> (offset, width, value): each selected, sized like queue 0 (at most its maximum),
    /// given its fixed rings and enabled, unless queue 0's rings (<paramref name="primary"/>, <paramref name="size"/>
    /// entries) overlap them. Called before queue 0's set-up, so queue_select is 0 afterwards as it was
    /// for a single-queue device.</summary>
    public static void SetUpSecondary(
        VirtioDevice device,
        int size,
        (ulong Desc, ulong Avail, ulong Used) primary,
        Action<int, int, ulong> common
    )
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(common);
        for (int q = 1; q < device.QueueCount && q < RingInput.PlacedQueuesMax; q++)
        {
            int s = Math.Min(size, device.GetQueue(q).MaxSize);
            (ulong desc, ulong avail, ulong used) = RingInput.SecondaryRings(q, s);
            // Queue 0 placed by raw addresses over this queue's rings (placement 7): the queue is left unset, else
            // one queue's ring reads would be the other's available entries (and the checkers' fetches).
            if (Overlaps(primary, size, desc, used + 6 + (8UL * (ulong)s)))
                continue;
            common(L.CommonQueueSelect, 2, (ulong)q);
            common(L.CommonQueueSize, 2, (ulong)s);
            common(L.CommonQueueDesc, 8, desc);
            common(L.CommonQueueDriver, 8, avail);
            common(L.CommonQueueDevice, 8, used);
            common(L.CommonQueueEnable, 2, 1);
        }
    }

    private static bool Overlaps((ulong Desc, ulong Avail, ulong Used) r, int size, ulong start, ulong end)
    {
        ulong n = (ulong)size;
        return (r.Desc < end && start < r.Desc + (16 * n))
            || (r.Avail < end && start < r.Avail + 6 + (2 * n))
            || (r.Used < end && start < r.Used + 6 + (8 * n));
    }

    /// <summary>Op 15: selects queue <c>index % Queues</c>.</summary>
    public void Select(byte index) => Selected = index % Queues;

    /// <summary>A re-initialisation reset the device: the next <see cref="SyncSecondary"/> rebinds every other
    /// queue's guest (its avail.idx starts again at 0).</summary>
    public void Invalidate() => Array.Clear(_synced);

    /// <summary>Follows queues 1 and above: a queue the device has live gets its guest bound to the rings the device
    /// uses whenever they changed. Returns the queues newly bound (their used rings, for the caller to note).</summary>
    public IEnumerable<SplitQueueState> SyncSecondary(VirtioDevice device, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(device);
        List<SplitQueueState>? bound = null; // called after every device op: single-queue devices allocate nothing
        for (int q = 1; q < Queues && q < device.QueueCount; q++)
        {
            SplitQueue queue = device.GetQueue(q);
            if (!(queue.Ready && device.DriverOk && !device.IsBroken))
            {
                _synced[q] = null;
                continue;
            }
            SplitQueueState s = queue.Capture();
            if (
                _synced[q] is { } old
                && old.Size == s.Size
                && old.DescTable == s.DescTable
                && old.AvailRing == s.AvailRing
                && old.UsedRing == s.UsedRing
            )
                continue;
            _guests[q].Reset(memory, s.DescTable.Value, s.AvailRing.Value, s.Size);
            _synced[q] = s;
            (bound ??= []).Add(s);
        }
        return bound ?? (IEnumerable<SplitQueueState>)[];
    }
}
