using Sim.Devices.Pci;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio.Queue;
using Sim.Machine.Kvm;
using Virtsim.Fuzz.Oracles;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Targets.Transport;

/// <summary>
/// The missed-interrupt oracle of one execution (<see cref="MissedInterruptOracle"/>, queue 0), with the interrupt
/// seen where the guest sees it: an MSI-X message (sent directly, through the vector's irqfd, or by a vhost call fd
/// bound to that irqfd), a masked vector's pending bit (PCI 3.0 §6.8.3.4: the message is held in the PBA and sent on
/// unmask, so the device has done its part), or INTx with ISR bit 0 (VIRTIO 1.2 §4.1.4.5). A queue whose vector is
/// VIRTIO_MSI_NO_VECTOR while MSI-X is enabled gets no interrupt at all (VIRTIO 1.2 §4.1.5.1.2: "no vector" means no
/// notification), so nothing is owed for what the device completed meanwhile.
/// <para>The oracle follows the rings the device completes on (vhost's while vhost runs, as
/// <see cref="Sync"/> keeps them) and stays armed across a vhost stop while the queue keeps its rings: QEMU's
/// vhost_virtqueue_stop → virtio_queue_set_guest_notifier_fd_handler(assign=false) reads the userspace guest notifier
/// once more (event_notifier_test_and_clear, then virtio_queue_guest_notifier_read → virtio_irq) so that a call
/// signalled while vhost ran is delivered even though the handler is going away.</para>
/// </summary>
internal sealed partial class VirtioPciExecution
{
    /// <summary>The site of a missed interrupt on the virtio-pci targets.</summary>
    public const string MissedInterruptSite = "notify/missed-interrupt-pci";

    /// <summary>How long <see cref="FinalInterrupts"/> lets pass: longer than a userspace guest notifier's wake-up
    /// after a call (<see cref="LatencyModel.WorkerWakeupNs"/>, 4,000 ns) plus a userspace MSI injection
    /// (<see cref="LatencyModel.UserspaceMsiNs"/>) or an irqfd's (<see cref="LatencyModel.IrqFdInjectNs"/>), and
    /// short, so a device that keeps itself busy (rings overlapping) costs little more.</summary>
    private const long InFlightNs = 16_384;

    private readonly MissedInterruptOracle _interrupts;
    private InterruptRings _interruptRings;
    private long _interruptSignals;
    private long _interruptResetCount;

    /// <summary>The rings (and the event-index rule) the device completes on; identity decides when the oracle must
    /// start again (a different ring, or the other rule, leaves nothing it could judge).</summary>
    private readonly record struct InterruptRings(ulong AvailRing, ulong UsedRing, int Size, bool EventIdx);

    /// <summary>After every op: re-arms the oracle on the rings the device uses, or lets it judge the op as a device
    /// run (a used.idx that changed across it is the device's; a guest store is taken apart in
    /// <see cref="InterruptsAfterGuest"/>).</summary>
    private void SyncInterrupts()
    {
        bool interrupted = TakeInterrupt();
        if (!TryInterruptRings(out InterruptRings rings))
        {
            _interrupts.Deactivate();
            return;
        }
        bool reset = _interruptResetCount != _device.ResetCount;
        _interruptResetCount = _device.ResetCount;
        if (!_interrupts.Active || reset || rings != _interruptRings)
        {
            _interrupts.Configure(_sim.Memory, rings.AvailRing, rings.UsedRing, rings.Size, rings.EventIdx);
            _interruptRings = rings;
            return;
        }
        _interrupts.AfterDevice(interrupted);
    }

    /// <summary>The guest's own ring stores of an OpPost, before its kick: a store over used.idx is the guest's, a
    /// change of avail.flags or used_event re-anchors.</summary>
    private void InterruptsAfterGuest() => _interrupts.AfterGuest();

    /// <summary>After liveness: lets what is in flight land (a userspace guest notifier wakes
    /// <see cref="LatencyModel.WorkerWakeupNs"/> after the call, an irqfd injects after
    /// <see cref="LatencyModel.IrqFdInjectNs"/>), then judges the used entries added since the last
    /// interrupt.</summary>
    public void FinalInterrupts()
    {
        if (!_interrupts.Active || _context.Finding is not null)
            return;
        if (!RunFor(InFlightNs))
            return;
        Sync();
        if (_context.Finding is null)
            _interrupts.Final(MissedInterruptSite);
    }

    /// <summary>Where queue 0 completes now: vhost's rings while vhost runs (the checker's, which
    /// <see cref="Sync"/> keeps at the rings vhost started with), else the queue's own while it is set up and the
    /// device not broken (DRIVER_OK may be gone: a vhost stop hands back the rings and delivers what vhost
    /// signalled).</summary>
    private bool TryInterruptRings(out InterruptRings rings)
    {
        rings = default;
        SplitQueue q = _device.GetQueue(Queue);
        if (_device.IsBroken || !q.Ready)
            return false;
        if (_device is VhostDemoFrontendDevice { VhostStarted: true } frontend)
        {
            if (!_syncedReady)
                return false;
            bool eventIdx = frontend.Backend.Device.Vqs[Queue].EventIdx;
            rings = new InterruptRings(_synced.AvailRing.Value, _synced.UsedRing.Value, _synced.Size, eventIdx);
            return true;
        }
        rings = new InterruptRings(q.AvailRing.Value, q.UsedRing.Value, q.Size, q.EventIdx);
        return true;
    }

    /// <summary>True when an interrupt reached the guest's side since the last call, or one is held for it: any
    /// injection attempt at the irqchip (latched or coalesced), an MSI-X message sent or dropped for a message that
    /// names no GSI (the guest programmed it so), the queue vector pending in the PBA, ISR bit 0 set under INTx; or
    /// the queue has no vector under MSI-X (nothing is ever owed). Config interrupts count too (Linux vp_interrupt
    /// runs every queue's handler for any ISR bit), which can only hide a missed queue interrupt.</summary>
    private bool TakeInterrupt()
    {
        RunCounters c = _sim.Kvm.Counters;
        MsixCapability? msix = _rig.Transport.Msix;
        long signals =
            c.InterruptsInjected + c.InterruptsCoalesced + _rig.Transport.MsiDropped + (msix?.Delivered ?? 0);
        bool fresh = signals != _interruptSignals;
        _interruptSignals = signals;
        if (msix is { Enabled: true })
        {
            ushort vector = _device.GetQueueVector(Queue);
            if (vector == L.NoVector || vector >= msix.VectorCount)
                return true;
            return fresh || msix.IsPending(vector);
        }
        return fresh || (_device.Isr & L.IsrQueue) != 0;
    }
}
