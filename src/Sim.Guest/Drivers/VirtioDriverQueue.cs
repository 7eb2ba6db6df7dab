using Sim.Guest.Virtio;

namespace Sim.Guest.Drivers;

/// <summary>
/// One virtqueue of a <see cref="VirtioPciDriver"/> (Linux struct virtqueue + its virtio_pci_vq_info):
/// the driver-side ring (<see cref="Ring"/>), where to notify, and the callback run from the
/// interrupt handler. Add buffers through <see cref="Ring"/>, then <see cref="Kick"/>.
/// </summary>
public sealed class VirtioDriverQueue
{
    private readonly VirtioPciDriver _driver;

    internal VirtioDriverQueue(VirtioPciDriver driver, int index, DriverQueue ring, ulong notifyAddress, ushort vector)
    {
        _driver = driver;
        Index = index;
        Ring = ring;
        NotifyAddress = notifyAddress;
        Vector = vector;
    }

    /// <summary>Queue index on the device.</summary>
    public int Index { get; }

    /// <summary>The split ring as the driver manages it.</summary>
    public DriverQueue Ring { get; }

    /// <summary>Modern: the MMIO notify address (notify cap base + queue_notify_off × multiplier).
    /// Legacy: the QUEUE_NOTIFY port.</summary>
    public ulong NotifyAddress { get; }

    /// <summary>MSI-X vector assigned (VIRTIO_MSI_NO_VECTOR with INTx).</summary>
    public ushort Vector { get; }

    /// <summary>The vring callback (Linux vq-&gt;callback), run from the interrupt handler.</summary>
    public Action<VirtioDriverQueue>? Callback { get; set; }

    /// <summary>Notifications written (kicks that reached the device).</summary>
    public long Notifies { get; private set; }

    /// <summary>Kicks skipped because the device had suppressed notifications.</summary>
    public long NotifiesSuppressed { get; private set; }

    /// <summary>Linux virtqueue_kick: publishes added buffers and notifies the device only when
    /// <see cref="DriverQueue.NeedsNotify"/> says it wants it (VIRTIO 1.2 §2.7.13.3). True when notified.</summary>
    public bool Kick()
    {
        if (!Ring.NeedsNotify(_driver.Guest.Memory))
        {
            NotifiesSuppressed++;
            return false;
        }
        Notify();
        return true;
    }

    /// <summary>Linux vp_notify: the queue index written to the notify address (modern: 16-bit MMIO;
    /// legacy: 16-bit OUT to QUEUE_NOTIFY), unconditionally.</summary>
    public void Notify()
    {
        Notifies++;
        _driver.NotifyQueue(this);
    }

    /// <summary>
    /// The driver callback pattern of seed 001 (test_request_done, as virtio-blk's virtblk_done):
    /// <c>do { disable_cb; while (get_buf) handle; if broken break; } while (!enable_cb);</c>.
    /// Calls <paramref name="onUsed"/> (head, used.len) for every used buffer; returns how many.
    /// The loop is bounded: each round reaps at most the queue size.
    /// </summary>
    public int DrainUsed(Action<ushort, uint> onUsed)
    {
        ArgumentNullException.ThrowIfNull(onUsed);
        var memory = _driver.Guest.Memory;
        int reaped = 0;
        int roundsMax = (2 * Ring.Size) + 2;
        for (int round = 0; round < roundsMax; round++)
        {
            Ring.DisableCallbacks(memory);
            for (int n = 0; n < Ring.Size && Ring.TryGetUsed(memory, out ushort head, out uint len); n++)
            {
                reaped++;
                onUsed(head, len);
            }
            if (Ring.Broken)
                break;
            if (Ring.EnableCallbacks(memory))
                break;
        }
        return reaped;
    }
}
