using System.Globalization;
using System.Text;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Factorial;

namespace Sim.Guest.Drivers.Factorial;

/// <summary>
/// The guest kernel driver of seed 001 (drivers/virtio/virtio_test.c) on top of <see cref="VirtioPciDriver"/>:
/// virttest_probe (feature VIRTIO_TEST_F_CAN_PRINT decides whether there is a queue at all), the misc
/// device's write → virtio_test_submit_request(num) (build_test_request: arg1 = num, strncpy(arg2,
/// "hello back end!", 32); one out sg over req, one in sg over res; virtqueue_add_sgs; virtqueue_kick;
/// the write returns without waiting), and test_request_done, the callback that drains used buffers with
/// the disable_cb/enable_cb loop and prints "virtio response ret is %d". The seed keeps a single req/res
/// pair for every request, so a second submit before the first completes overwrites it: callers wait for
/// <see cref="Completed"/> to move before submitting again.
/// </summary>
public sealed class VirtioFactorialDriver : IVirtioGuestDriver
{
    /// <summary>struct virtio_test's req (36 bytes) then res (4 bytes).</summary>
    public const int StateBytes = FactorialSpec.RequestSize + FactorialSpec.ResponseSize;

    /// <summary>The string build_test_request copies into arg2.</summary>
    public const string Greeting = "hello back end!";

    private readonly GuestContext _guest;
    private readonly Action<string>? _dmesg;
    private GuestAddress _state;

    /// <summary>A virtio-factorial driver for <paramref name="guest"/>; it does nothing until probed.</summary>
    public VirtioFactorialDriver(GuestContext guest, Action<string>? dmesg = null)
    {
        ArgumentNullException.ThrowIfNull(guest);
        _guest = guest;
        _dmesg = dmesg;
    }

    /// <summary>The virtio-pci transport once probed (null before).</summary>
    public VirtioPciDriver? Transport { get; private set; }

    /// <summary>The request virtqueue once set up (null before).</summary>
    public VirtioDriverQueue? Queue { get; private set; }

    /// <summary>res.ret of the last completion.</summary>
    public uint LastRet { get; private set; }

    /// <summary>used.len of the last completion.</summary>
    public uint LastUsedLen { get; private set; }

    /// <summary>Completions reaped by the callback.</summary>
    public long Completed { get; private set; }

    /// <summary>virttest_probe. False when the device is absent, CAN_PRINT was not negotiated (the seed
    /// would use an uninitialised queue pointer), or setup fails.</summary>
    public bool Probe(
        PciResourceWindows windows,
        GuestDmaAllocator dma,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(dma);
        GuestPciFunction? pci = VirtioPciDriver.FindDevice(_guest, FactorialSpec.VirtioIdTest, windows, intxGsi);
        if (pci == null)
            return false;
        VirtioPciDriver? drv = VirtioPciDriver.Probe(pci, transport, irq);
        if (drv == null || !drv.TryNegotiate(1UL << FactorialSpec.FeatureCanPrint))
            return false;
        if (!drv.HasFeature(FactorialSpec.FeatureCanPrint))
            return false;
        drv.SetupInterrupts(1);
        VirtioDriverQueue? vq = drv.SetupQueue(0, dma);
        if (vq == null)
            return false;
        vq.Callback = TestRequestDone;
        _state = dma.Allocate(StateBytes, 8);
        drv.DriverOk();
        Transport = drv;
        Queue = vq;
        _dmesg?.Invoke("misc register has succeeded");
        return true;
    }

    /// <summary>Claims the interrupt on <paramref name="gsi"/> when it is this device's (the transport reads ISR or
    /// owns the MSI-X vector).</summary>
    public bool HandleInterrupt(uint gsi) => Transport?.HandleInterrupt(gsi) ?? false;

    /// <summary>virtio_test_submit_request(num). False when the ring refused the buffers.</summary>
    public bool Submit(uint num)
    {
        VirtioDriverQueue vq = Queue ?? throw new InvalidOperationException("the factorial driver is not probed");
        GuestMemory memory = _guest.Memory;
        Span<byte> req = stackalloc byte[FactorialSpec.RequestSize];
        req.Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(req, num);
        Encoding.ASCII.GetBytes(Greeting, req[4..]); // strncpy pads the rest of arg2 with NULs
        memory.TryWrite(_state, req);
        GuestBuffer[] outSg = [new GuestBuffer(_state, FactorialSpec.RequestSize)];
        GuestBuffer[] inSg =
        [
            new GuestBuffer(new GuestAddress(_state.Value + FactorialSpec.RequestSize), FactorialSpec.ResponseSize),
        ];
        if (!vq.Ring.TryAdd(memory, outSg, inSg, out _))
            return false;
        vq.Kick();
        return true;
    }

    /// <summary>test_request_done (IRQ context).</summary>
    private void TestRequestDone(VirtioDriverQueue vq)
    {
        _dmesg?.Invoke(" test_request_done called, line: 63 ");
        vq.DrainUsed(
            (_, len) =>
            {
                _guest.Memory.TryReadUInt32(new GuestAddress(_state.Value + FactorialSpec.RequestSize), out uint ret);
                LastRet = ret;
                LastUsedLen = len;
                Completed++;
                _dmesg?.Invoke(
                    string.Create(CultureInfo.InvariantCulture, $"virtio response ret is {Narrow.AsInt32Bits(ret)}")
                );
            }
        );
    }
}
