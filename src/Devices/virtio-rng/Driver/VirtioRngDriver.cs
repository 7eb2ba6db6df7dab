using System.Globalization;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Rng;

namespace Sim.Guest.Drivers.Rng;

/// <summary>
/// The guest's virtio entropy driver (Linux drivers/char/hw_random/virtio-rng.c) on top of
/// <see cref="VirtioPciDriver"/>:
/// probe_common (no features to negotiate, VIRTIO 1.2 §5.4.3; one queue "input"), virtio_read → register_buffer (one
/// device-writable buffer, virtqueue_add_inbuf; the driver places no driver-readable buffer, §5.4.6.1) and kick, and
/// random_recv_done, the callback that takes the used buffer and its length (§5.4.7.1: the device may fill less than
/// the buffer). One request is outstanding at a time, as in Linux (busy flag): callers wait for
/// <see cref="Completed"/> to move before submitting again.
/// </summary>
public sealed class VirtioRngDriver : IVirtioGuestDriver
{
    /// <summary>Largest request (the buffer the driver allocates once).</summary>
    public const int BufferBytesMax = 4096;

    private readonly GuestContext _guest;
    private readonly Action<string>? _dmesg;
    private GuestAddress _buffer;

    /// <summary>A virtio-rng driver for <paramref name="guest"/>; it does nothing until probed.</summary>
    public VirtioRngDriver(GuestContext guest, Action<string>? dmesg = null)
    {
        ArgumentNullException.ThrowIfNull(guest);
        _guest = guest;
        _dmesg = dmesg;
    }

    /// <summary>The virtio-pci transport once probed (null before).</summary>
    public VirtioPciDriver? Transport { get; private set; }

    /// <summary>The request virtqueue once set up (null before).</summary>
    public VirtioDriverQueue? Queue { get; private set; }

    /// <summary>The driver's buffer (valid after <see cref="Probe"/>).</summary>
    public GuestAddress Buffer => _buffer;

    /// <summary>used.len of the last completion: the entropy bytes the device wrote.</summary>
    public uint LastUsedLen { get; private set; }

    /// <summary>Completions reaped by the callback.</summary>
    public long Completed { get; private set; }

    /// <summary>probe_common. False when the device is absent or setup fails.</summary>
    public bool Probe(
        PciResourceWindows windows,
        GuestDmaAllocator dma,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(dma);
        GuestPciFunction? pci = VirtioPciDriver.FindDevice(_guest, RngSpec.DeviceId, windows, intxGsi);
        if (pci == null)
            return false;
        VirtioPciDriver? drv = VirtioPciDriver.Probe(pci, transport, irq);
        if (drv == null || !drv.TryNegotiate(0))
            return false;
        drv.SetupInterrupts(1);
        VirtioDriverQueue? vq = drv.SetupQueue(RngSpec.RequestQueue, dma);
        if (vq == null)
            return false;
        vq.Callback = RandomRecvDone;
        _buffer = dma.Allocate(BufferBytesMax, 8);
        drv.DriverOk();
        Transport = drv;
        Queue = vq;
        _dmesg?.Invoke("virtio_rng: registered hwrng");
        return true;
    }

    /// <summary>Claims the interrupt on <paramref name="gsi"/> when it is this device's (the transport reads ISR or
    /// owns the MSI-X vector).</summary>
    public bool HandleInterrupt(uint gsi) => Transport?.HandleInterrupt(gsi) ?? false;

    /// <summary>register_buffer(vi, buf, <paramref name="bytes"/>) and kick. False when the ring refused it.</summary>
    public bool Submit(int bytes)
    {
        VirtioDriverQueue vq = Queue ?? throw new InvalidOperationException("the rng driver is not probed");
        if (bytes < 1 || bytes > BufferBytesMax)
            throw new ArgumentOutOfRangeException(nameof(bytes), $"1..{BufferBytesMax}");
        GuestBuffer[] inSg = [new GuestBuffer(_buffer, Narrow.AsUInt32Bits(bytes))];
        if (!vq.Ring.TryAdd(_guest.Memory, [], inSg, out _))
            return false;
        vq.Kick();
        return true;
    }

    /// <summary>random_recv_done (IRQ context): virtqueue_get_buf gives the length the device filled.</summary>
    private void RandomRecvDone(VirtioDriverQueue vq)
    {
        vq.DrainUsed(
            (_, len) =>
            {
                LastUsedLen = len;
                Completed++;
                _dmesg?.Invoke(string.Create(CultureInfo.InvariantCulture, $"virtio_rng: got {len} bytes"));
            }
        );
    }
}
