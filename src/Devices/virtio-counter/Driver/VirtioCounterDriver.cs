using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Counter;

namespace Sim.Guest.Drivers.Counter;

/// <summary>
/// The guest kernel driver of seed 002 (drivers/virtio/virtio_test.c) on top of <see cref="VirtioPciDriver"/>:
/// virttest_probe (feature VIRTIO_TEST_F_CAN_PRINT, one "print" queue with callback test_ack, virtio_device_ready),
/// virttest_changed (the config-change handler: printk, queue_work unless stop_update), print_val_func (the work:
/// printk, num[0]++, virtqueue_add_outbuf of the 4-byte num[0], virtqueue_kick) and test_ack (printk, one
/// virtqueue_get_buf). The seed's quirks are kept: every request points at the same num[0] (a later increment
/// rewrites a request the device has not read yet), the add's result is ignored, and test_ack reaps one buffer per
/// interrupt. The work runs in process context, i.e. from the guest program's loop (<see cref="RunPendingWork"/>),
/// and queue_work on a pending work item coalesces, as Linux's does.
/// </summary>
public sealed class VirtioCounterDriver : IVirtioGuestDriver
{
    private readonly GuestContext _guest;
    private readonly Action<string> _printk;
    private GuestAddress _num;
    private bool _workPending;

    /// <param name="guest">The guest the driver runs in.</param>
    /// <param name="printk">Where the driver's printk lines go.</param>
    public VirtioCounterDriver(GuestContext guest, Action<string> printk)
    {
        ArgumentNullException.ThrowIfNull(guest);
        ArgumentNullException.ThrowIfNull(printk);
        _guest = guest;
        _printk = printk;
    }

    /// <summary>The virtio-pci transport once probed (null before).</summary>
    public VirtioPciDriver? Transport { get; private set; }

    /// <summary>The print queue (vb-&gt;print_vq).</summary>
    public VirtioDriverQueue? PrintQueue { get; private set; }

    /// <summary>The driver's counter (num[0]).</summary>
    public uint Counter { get; private set; }

    /// <summary>stop_update: config changes are ignored while set.</summary>
    public bool StopUpdate { get; set; }

    /// <summary>Configuration-change interrupts seen (virttest_changed calls).</summary>
    public long ConfigChanges { get; private set; }

    /// <summary>Work runs (requests sent).</summary>
    public long Sent { get; private set; }

    /// <summary>Requests whose virtqueue_add_outbuf failed (ignored by the seed).</summary>
    public long AddFailures { get; private set; }

    /// <summary>Buffers reaped by test_ack.</summary>
    public long Acks { get; private set; }

    /// <summary>used.len of the last reaped buffer.</summary>
    public uint LastUsedLen { get; private set; }

    /// <summary>True while a config change has queued work that has not run yet.</summary>
    public bool WorkPending => _workPending;

    /// <summary>virttest_probe. False when the device is absent, negotiation fails or CAN_PRINT was not negotiated
    /// (the seed then uses an uninitialised print_vq; here the probe fails instead).</summary>
    public bool Probe(
        PciResourceWindows windows,
        GuestDmaAllocator dma,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(dma);
        _printk("******create virttest");
        GuestPciFunction? pci = VirtioPciDriver.FindDevice(_guest, CounterSpec.DeviceId, windows, intxGsi);
        if (pci == null)
            return false;
        VirtioPciDriver? drv = VirtioPciDriver.Probe(pci, transport, irq);
        if (drv == null || !drv.TryNegotiate(1UL << CounterSpec.FCanPrint))
            return false;
        if (!drv.HasFeature(CounterSpec.FCanPrint))
            return false; // nvqs = 0
        drv.SetupInterrupts(1);
        VirtioDriverQueue? vq = drv.SetupQueue(CounterSpec.PrintQueue, dma);
        if (vq == null)
            return false;
        vq.Callback = TestAck;
        drv.ConfigChanged = VirttestChanged;
        _num = dma.Allocate(CounterSpec.NumberSize, 4);
        _guest.Memory.TryWriteUInt32(_num, 0); // vb->num[0] = 0
        drv.DriverOk(); // virtio_device_ready
        Transport = drv;
        PrintQueue = vq;
        return true;
    }

    /// <summary>The interrupt handler's part for this device (true when it was ours). The program EOIs.</summary>
    /// <summary>Claims the interrupt on <paramref name="gsi"/> when it is this device's (the transport reads ISR or
    /// owns the MSI-X vector).</summary>
    public bool HandleInterrupt(uint gsi) => Transport?.HandleInterrupt(gsi) ?? false;

    /// <summary>Runs print_val_func if a config change queued it (the system_freezable_wq worker). True when it
    /// ran.</summary>
    public bool RunPendingWork()
    {
        if (!_workPending)
            return false;
        _workPending = false;
        PrintValFunc();
        return true;
    }

    /// <summary>virttest_changed: runs from the interrupt handler.</summary>
    private void VirttestChanged()
    {
        ConfigChanges++;
        _printk("virttest virttest_changed");
        if (!StopUpdate)
            _workPending = true; // queue_work: a no-op while the work is already pending
    }

    /// <summary>print_val_func: num[0]++, add the 4-byte out buffer, kick.</summary>
    private void PrintValFunc()
    {
        VirtioDriverQueue vq = PrintQueue ?? throw new InvalidOperationException("the counter driver is not probed");
        _printk("virttest get config change");
        Counter = unchecked(Counter + 1);
        _guest.Memory.TryWriteUInt32(_num, Counter);
        // "We should always be able to add one buffer to an empty queue." — the result is not checked.
        if (!vq.Ring.TryAdd(_guest.Memory, [new GuestBuffer(_num, CounterSpec.NumberSize)], [], out _))
            AddFailures++;
        vq.Kick();
        Sent++;
    }

    /// <summary>test_ack: one virtqueue_get_buf. Linux vring_interrupt calls it only when the ring has used
    /// entries (a shared INTx or the seed device's ISR 3 would otherwise reach it with nothing to do).</summary>
    private void TestAck(VirtioDriverQueue vq)
    {
        if (!vq.Ring.HasUsed(_guest.Memory))
            return;
        _printk("virttest get ack");
        if (vq.Ring.TryGetUsed(_guest.Memory, out _, out uint len))
        {
            Acks++;
            LastUsedLen = len;
        }
    }
}
