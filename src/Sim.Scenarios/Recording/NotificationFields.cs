using Sim.Devices.Pci;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Virtio;

namespace Sim.Scenarios.Recording;

/// <summary>
/// The device-written notification-suppression fields of every split virtqueue the machine's virtio devices have
/// set up: <c>used-&gt;flags</c> (VIRTIO 1.2 §2.7.10, VIRTQ_USED_F_NO_NOTIFY) and, with VIRTIO_F_EVENT_IDX,
/// <c>avail_event</c> at the used ring's tail (§2.7.10.2). They are hints about whether the driver should notify; a
/// device may write them or not, whenever it likes (§2.7.10: "the driver MUST NOT rely on ... the device will
/// not be notified"), and the backends legitimately differ: Linux vhost writes them on every run
/// (drivers/vhost/vhost.c <c>vhost_vq_init_access</c> → <c>vhost_update_used_flags</c>, <c>vhost_disable_notify</c>,
/// <c>vhost_enable_notify</c> → <c>vhost_update_avail_event</c>), QEMU's userspace virtio device only where its
/// handler calls <c>virtio_queue_set_notification</c> (hw/virtio/virtio.c <c>virtio_queue_split_set_notification</c>),
/// which the seed's virtio-demo handler never does. The differential replay (<see cref="GuestVisibleComparer"/>)
/// ignores these bytes. Fields are learned while the queues are live and kept after a reset, so writes made
/// before a stop still match.
/// </summary>
public sealed class NotificationFields
{
    /// <summary>Most fields remembered (each queue set-up adds at most two).</summary>
    public const int FieldsMax = 1024;

    private readonly List<(ulong Address, ulong Length)> _fields = new();

    /// <summary>Fields remembered.</summary>
    public int Count => _fields.Count;

    /// <summary>Adds the fields of every ready queue of every virtio-over-PCI device behind the machine's PCI host
    /// bridge.</summary>
    public void Learn(KvmModel kvm)
    {
        ArgumentNullException.ThrowIfNull(kvm);
        foreach (IoBusRange range in kvm.Pio.Ranges)
        {
            if (range.Device is not PciHostBridge bridge)
                continue;
            for (int slot = 0; slot < PciHostBridge.SlotCount; slot++)
            {
                if (bridge.GetDevice(slot) is not VirtioPciTransport transport)
                    continue;
                for (int q = 0; q < transport.Device.QueueCount; q++)
                    Learn(transport.Device.GetQueue(q));
            }
        }
    }

    /// <summary>Adds queue <paramref name="queue"/>'s fields when it is ready.</summary>
    public void Learn(SplitQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (!queue.Ready)
            return;
        ulong used = queue.UsedRing.Value;
        Add(used + VirtioSpec.UsedFlagsOffset, 2);
        if (queue.EventIdx)
            Add(
                used + VirtioSpec.UsedRingOffset + (Narrow.AsUInt64Bits(queue.Size) * VirtioSpec.UsedElemSize),
                VirtioSpec.UsedAvailEventSize
            );
    }

    /// <summary>Adds [address, address + length) (tests, and callers that know a ring without a machine).</summary>
    public void Add(ulong address, ulong length)
    {
        foreach (var f in _fields)
        {
            if (f.Address == address && f.Length == length)
                return;
        }
        if (_fields.Count >= FieldsMax)
            return;
        _fields.Add((address, length));
    }

    /// <summary>True when byte <paramref name="address"/> lies in a known field.</summary>
    public bool Contains(ulong address)
    {
        foreach (var (a, n) in _fields)
        {
            if (address >= a && address - a < n)
                return true;
        }
        return false;
    }
}
