using System.Globalization;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Demo;

namespace Sim.Guest.Drivers.Demo;

/// <summary>
/// The guest kernel driver of seed 000 lab 2 (virtio_demo.c) on top of <see cref="VirtioPciDriver"/>:
/// virtdemo_probe (one queue, callback demo_handle_request, virtio_device_ready), send_kick (opt and buff
/// in an 8-byte out buffer, {opt2, buff2} as the 8-byte in buffer, virtqueue_add_sgs, virtqueue_kick,
/// then down() on the semaphore — STI;HLT until the callback's up()), and demo_handle_request (reap the
/// used buffer, print the response, val = buff2, up()). The callback reaps with the disable_cb/enable_cb
/// loop (the seed calls virtqueue_get_buf once, which would miss a second completion under one
/// interrupt; with one request in flight the two agree). The same driver serves the vhost-demo backend.
/// </summary>
public sealed class VirtioDemoDriver : IVirtioGuestDriver
{
    /// <summary>struct virtio_demo's u32 opt, buff, opt2, buff2: 16 bytes.</summary>
    public const int StateBytes = 16;

    private readonly GuestContext _guest;
    private readonly Action<string>? _dmesg;
    private GuestAddress _state;
    private int _semaphore;

    /// <summary>A virtio-demo driver for <paramref name="guest"/>; it does nothing until probed.</summary>
    public VirtioDemoDriver(GuestContext guest, Action<string>? dmesg = null)
    {
        ArgumentNullException.ThrowIfNull(guest);
        _guest = guest;
        _dmesg = dmesg;
    }

    /// <summary>The transport driver (null before probe).</summary>
    /// <summary>The virtio-pci transport once probed (null before).</summary>
    public VirtioPciDriver? Transport { get; private set; }

    /// <summary>The request virtqueue once set up (null before).</summary>
    public VirtioDriverQueue? Queue { get; private set; }

    /// <summary>The seed's global val: buff2 of the last response.</summary>
    public uint Val { get; private set; }

    /// <summary>used.len of the last completion.</summary>
    public uint LastUsedLen { get; private set; }

    /// <summary>Requests completed (callback reaped).</summary>
    public long Completed { get; private set; }

    /// <summary>virtdemo_probe. False when the device is absent or negotiation/queue setup fails.</summary>
    public bool Probe(
        PciResourceWindows windows,
        GuestDmaAllocator dma,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(dma);
        GuestPciFunction? pci = VirtioPciDriver.FindDevice(_guest, VirtioDemoSpec.VirtioIdDemo, windows, intxGsi);
        if (pci == null)
            return false;
        _dmesg?.Invoke("virtdemo_probe() begin");
        VirtioPciDriver? drv = VirtioPciDriver.Probe(pci, transport, irq);
        if (drv == null || !drv.TryNegotiate(0))
            return false;
        drv.SetupInterrupts(1);
        VirtioDriverQueue? vq = drv.SetupQueue(0, dma);
        if (vq == null)
            return false;
        vq.Callback = DemoHandleRequest;
        _state = dma.Allocate(StateBytes, 8);
        drv.DriverOk();
        Transport = drv;
        Queue = vq;
        _dmesg?.Invoke("virtdemo_probe() end");
        return true;
    }

    /// <summary>The interrupt handler's part for this device (true when it was ours). The program EOIs.</summary>
    /// <summary>Claims the interrupt on <paramref name="gsi"/> when it is this device's (the transport reads ISR or
    /// owns the MSI-X vector).</summary>
    public bool HandleInterrupt(uint gsi) => Transport?.HandleInterrupt(gsi) ?? false;

    /// <summary>
    /// send_kick(v1, v2): fills {opt = v1, buff = v2, opt2 = 0, buff2 = 0}, adds the out/in pair, kicks
    /// when the device wants it, and blocks (STI;HLT) until the callback has reaped the request. Yields
    /// the vCPU steps; on return <see cref="Val"/> holds the response's buff.
    /// </summary>
    public IEnumerable<VcpuStep> SendKick(uint v1, uint v2)
    {
        VirtioDriverQueue vq = Queue ?? throw new InvalidOperationException("the virtio-demo driver is not probed");
        GuestMemory memory = _guest.Memory;
        _dmesg?.Invoke("send_kick() begin");
        memory.TryWriteUInt32(_state, v1);
        memory.TryWriteUInt32(new GuestAddress(_state.Value + 4), v2);
        memory.TryWriteUInt64(new GuestAddress(_state.Value + 8), 0);
        GuestBuffer[] outSg = [new GuestBuffer(_state, 8)];
        GuestBuffer[] inSg = [new GuestBuffer(new GuestAddress(_state.Value + 8), 8)];
        if (!vq.Ring.TryAdd(memory, outSg, inSg, out _))
            yield break; // ring full or broken: the seed ignores the error too
        vq.Kick();
        // down_interruptible(&demo_io_sem)
        while (_semaphore == 0)
            yield return VcpuStep.Halt;
        _semaphore--;
        _dmesg?.Invoke("demo_io_sem down");
        _dmesg?.Invoke("send_kick() end");
    }

    /// <summary>demo_write: send_kick(1, val).</summary>
    public IEnumerable<VcpuStep> Write(uint value) => SendKick(1, value);

    /// <summary>demo_read: send_kick(0, 0); the value is then <see cref="Val"/>.</summary>
    public IEnumerable<VcpuStep> Read() => SendKick(0, 0);

    private void DemoHandleRequest(VirtioDriverQueue vq)
    {
        _dmesg?.Invoke("demo_handle_request() begin");
        vq.DrainUsed(
            (_, len) =>
            {
                GuestMemory memory = _guest.Memory;
                memory.TryReadUInt32(new GuestAddress(_state.Value + 8), out uint opt2);
                memory.TryReadUInt32(new GuestAddress(_state.Value + 12), out uint buff2);
                _dmesg?.Invoke(string.Create(CultureInfo.InvariantCulture, $"check ret opt = {opt2:x}"));
                _dmesg?.Invoke(string.Create(CultureInfo.InvariantCulture, $"check ret buff = {buff2:x}"));
                Val = buff2;
                LastUsedLen = len;
                Completed++;
                _semaphore++;
                _dmesg?.Invoke("demo_io_sem up");
            }
        );
        _dmesg?.Invoke("demo_handle_request() end");
    }
}
