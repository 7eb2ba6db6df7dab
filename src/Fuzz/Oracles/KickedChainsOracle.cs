using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// <c>liveness/kicked-chain-not-consumed</c> (<c>liveness/queue1-kicked-chain-not-consumed</c>): a device whose handler
/// serves the whole available ring at a kick must have consumed every chain the guest's last kick of that queue
/// announced, before any further kick (issue 12 device
/// sample: the counter's pop loop started at 1 instead of 0, so a kick of a full ring of 128 left one chain
/// available, and the liveness oracle's own final kick served it; a driver that kicked once waits for ever). The final
/// kick of the liveness oracle is owed only when the guest published since its last kick; when it did not, the
/// device is judged first, after a run without that kick.
/// <para>Judged queues: queue 0 of the robust demo, factorial, counter, blk and rng, whose handlers pop until the ring
/// is empty (QEMU virtio_test_handle_output / virtio_blk_handle_vq / virtio_rng_process: <c>for (;;) { elem =
/// virtqueue_pop(...); if (!elem) break; ... }</c>; VIRTIO 1.2 §2.7.13.3: the notification tells the device there are
/// buffers to process) and each pop budget is at least the queue size; and virtio-net's transmitq1 (queue 1: QEMU
/// virtio_net_flush_tx sends until the queue is empty, rescheduling itself after each burst with no new kick,
/// virtio_net_tx_bh). Not virtio-net's receiveq1: it keeps chains until frames arrive (QEMU virtio_net_has_buffers).
/// A kick counts only when the device had to take it (DRIVER_OK, not broken, the queue ready and watched); a reset, a
/// common-configuration write or new rings forget it, and a guest that moved avail.idx since the kick is owed the
/// final kick instead. A device that broke, or an avail.idx more than
/// a queue ahead (the pop's error), is not judged.</para>
/// </summary>
internal sealed class KickedChainsOracle
{
    /// <summary>The oracle name of its finding.</summary>
    public const string Oracle = "liveness";

    private readonly int[] _kickedAvail = [-1, -1];
    private string _device = "";
    private Flavour _flavour;

    /// <summary>Kicks that left nothing to judge or were judged, since construction (all executions).</summary>
    public long JudgedTotal { get; private set; }

    /// <summary>True when the guest's last kick of a judged queue is remembered (the device must have served
    /// it).</summary>
    public bool IsPending => _kickedAvail[0] >= 0 || _kickedAvail[1] >= 0;

    /// <summary>True for the queues whose handler serves every available chain at a kick (see the class
    /// summary).</summary>
    public static bool DrainsAtKick(string device, Flavour flavour, int queue) =>
        flavour == Flavour.Robust
        && queue switch
        {
            0 => device is "virtio-demo" or "virtio-factorial" or "virtio-counter" or "virtio-blk" or "virtio-rng",
            1 => device is "virtio-net",
            _ => false,
        };

    /// <summary>Starts an execution of <paramref name="device"/> (the target's device name).</summary>
    public void Begin(string device, Flavour flavour)
    {
        _device = device;
        _flavour = flavour;
        Forget();
    }

    /// <summary>The guest kicked queue <paramref name="queue"/> of <paramref name="device"/>;
    /// <paramref name="watched"/>: the target's checker follows the device's rings.</summary>
    public void Kicked(VirtioDevice device, GuestMemory memory, int queue, bool watched)
    {
        if ((uint)queue >= (uint)_kickedAvail.Length)
            return;
        _kickedAvail[queue] = -1;
        if (!DrainsAtKick(_device, _flavour, queue) || !watched || !device.DriverOk || device.IsBroken)
            return;
        if (queue >= device.QueueCount)
            return;
        SplitQueue q = device.GetQueue(queue);
        if (q.Ready && TryReadAvailIdx(memory, q, out ushort idx))
            _kickedAvail[queue] = idx;
    }

    /// <summary>A reset, a common-configuration write or new rings: the last kicks are forgotten.</summary>
    public void Forget() => Array.Fill(_kickedAvail, -1);

    /// <summary>Judges the device after it ran with no kick since the guest's last ones.</summary>
    public void Judge(VirtioDevice device, GuestMemory memory, FuzzContext context)
    {
        for (int queue = 0; queue < _kickedAvail.Length; queue++)
        {
            int kicked = _kickedAvail[queue];
            _kickedAvail[queue] = -1;
            if (kicked >= 0)
                JudgeQueue(device, memory, context, queue, kicked);
        }
    }

    private void JudgeQueue(VirtioDevice device, GuestMemory memory, FuzzContext context, int queue, int kicked)
    {
        if (context.Finding is not null || device.IsBroken || !device.DriverOk)
            return;
        SplitQueue q = device.GetQueue(queue);
        if (!q.Ready || !TryReadAvailIdx(memory, q, out ushort idx) || idx != kicked)
            return;
        JudgedTotal++;
        if (q.NextAvail.Value == idx || RingIndex.Distance(q.NextAvail, new RingIndex(idx)) > q.Size)
            return;
        context.Report(
            Oracle,
            queue == 0 ? "liveness/kicked-chain-not-consumed" : "liveness/queue1-kicked-chain-not-consumed",
            $"the guest kicked queue {queue} at avail.idx {idx} and published nothing since, but the device stopped at "
                + $"{q.NextAvail.Value} and is not broken: {RingIndex.Distance(q.NextAvail, new RingIndex(idx))} "
                + "chains wait for a kick the driver does not owe (VIRTIO 1.2 §2.7.13.3)"
        );
    }

    private static bool TryReadAvailIdx(GuestMemory memory, SplitQueue q, out ushort idx)
    {
        idx = 0;
        if (!memory.TryGetSpan(new GuestAddress(q.AvailRing.Value + 2), 2, out Span<byte> raw))
            return false;
        idx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        return true;
    }
}
