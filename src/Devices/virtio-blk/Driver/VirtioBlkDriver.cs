using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Blk;

namespace Sim.Guest.Drivers.Blk;

/// <summary>
/// A virtio-blk guest driver on top of <see cref="VirtioPciDriver"/>, shaped like Linux drivers/block/virtio_blk.c
/// with one request in flight: virtblk_probe (features FLUSH, BLK_SIZE, SEG_MAX, RO; capacity from the device
/// configuration; one queue with callback virtblk_done), and a synchronous submit: the 16-byte header (readable),
/// the data buffer (readable for OUT, writable for IN and GET_ID), the 1-byte status (writable, last) —
/// virtblk_add_req's layout — then kick and STI;HLT until virtblk_done has reaped it.
/// </summary>
public sealed class VirtioBlkDriver : IVirtioGuestDriver
{
    /// <summary>Largest data buffer one request carries (host-side bound of this driver's DMA buffer).</summary>
    public const int DataBytesMax = 64 * 1024;

    private readonly GuestContext _guest;
    private GuestAddress _header;
    private GuestAddress _status;
    private GuestAddress _data;
    private ushort _inflightHead;
    private bool _inflight;
    private bool _completed;

    /// <summary>A virtio-blk driver for <paramref name="guest"/>; it does nothing until probed.</summary>
    public VirtioBlkDriver(GuestContext guest)
    {
        ArgumentNullException.ThrowIfNull(guest);
        _guest = guest;
    }

    /// <summary>The virtio-pci transport once probed (null before).</summary>
    public VirtioPciDriver? Transport { get; private set; }

    /// <summary>The request virtqueue once set up (null before).</summary>
    public VirtioDriverQueue? Queue { get; private set; }

    /// <summary>Capacity in 512-byte sectors, read at probe.</summary>
    public ulong CapacitySectors { get; private set; }

    /// <summary>VIRTIO_BLK_F_RO negotiated.</summary>
    public bool ReadOnly { get; private set; }

    /// <summary>The DMA data buffer (<see cref="DataBytesMax"/> bytes) requests use.</summary>
    public GuestAddress DataBuffer => _data;

    /// <summary>Status byte of the last completed request.</summary>
    public byte LastStatus { get; private set; }

    /// <summary>used.len of the last completed request.</summary>
    public uint LastUsedLen { get; private set; }

    /// <summary>Requests completed.</summary>
    public long Completed { get; private set; }

    /// <summary>True when the last submit could not be queued (ring full or broken).</summary>
    public bool LastSubmitFailed { get; private set; }

    /// <summary>virtblk_probe. False when the device is absent or setup fails.</summary>
    public bool Probe(
        PciResourceWindows windows,
        GuestDmaAllocator dma,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(dma);
        GuestPciFunction? pci = VirtioPciDriver.FindDevice(_guest, BlkSpec.DeviceId, windows, intxGsi);
        if (pci == null)
            return false;
        VirtioPciDriver? drv = VirtioPciDriver.Probe(pci, transport, irq);
        ulong supported =
            (1UL << BlkSpec.FFlush) | (1UL << BlkSpec.FBlkSize) | (1UL << BlkSpec.FSegMax) | (1UL << BlkSpec.FRo);
        if (drv == null || !drv.TryNegotiate(supported))
            return false;
        drv.SetupInterrupts(1);
        VirtioDriverQueue? vq = drv.SetupQueue(0, dma);
        if (vq == null)
            return false;
        vq.Callback = VirtblkDone;
        CapacitySectors = drv.ReadDeviceConfig(BlkSpec.ConfigCapacityOffset, 8);
        ReadOnly = drv.HasFeature(BlkSpec.FRo);
        _header = dma.Allocate(BlkSpec.OutHeaderSize, 16);
        _status = dma.Allocate(BlkSpec.InHeaderSize, 1);
        _data = dma.Allocate(DataBytesMax, 512);
        drv.DriverOk();
        Transport = drv;
        Queue = vq;
        return true;
    }

    /// <summary>The interrupt handler's part for this device (true when it was ours). The program EOIs.</summary>
    /// <summary>Claims the interrupt on <paramref name="gsi"/> when it is this device's (the transport reads ISR or
    /// owns the MSI-X vector).</summary>
    public bool HandleInterrupt(uint gsi) => Transport?.HandleInterrupt(gsi) ?? false;

    /// <summary>
    /// One request of <paramref name="type"/> at <paramref name="sector"/> with <paramref name="dataBytes"/> bytes of
    /// <see cref="DataBuffer"/> (0 = none): device-readable for OUT, device-writable otherwise. Yields until the
    /// completion; then <see cref="LastStatus"/> and <see cref="LastUsedLen"/> hold the result.
    /// </summary>
    public IEnumerable<VcpuStep> Submit(uint type, ulong sector, int dataBytes)
    {
        VirtioDriverQueue vq = Queue ?? throw new InvalidOperationException("the blk driver is not probed");
        if (Narrow.AsUInt32Bits(dataBytes) > DataBytesMax)
            throw new ArgumentOutOfRangeException(nameof(dataBytes));
        GuestMemory memory = _guest.Memory;
        Span<byte> header = stackalloc byte[BlkSpec.OutHeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header[BlkSpec.OutHeaderTypeOffset..], type);
        BinaryPrimitives.WriteUInt32LittleEndian(header[BlkSpec.OutHeaderReservedOffset..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(header[BlkSpec.OutHeaderSectorOffset..], sector);
        memory.TryWrite(_header, header);
        memory.TryWriteUInt8(_status, 0xFF); // so a device that never writes the status shows
        var hdr = new GuestBuffer(_header, BlkSpec.OutHeaderSize);
        var st = new GuestBuffer(_status, BlkSpec.InHeaderSize);
        var data = new GuestBuffer(_data, Narrow.AsUInt32Bits(dataBytes));
        bool added =
            dataBytes == 0 ? vq.Ring.TryAdd(memory, [hdr], [st], out ushort head)
            : type == BlkSpec.TypeOut ? vq.Ring.TryAdd(memory, [hdr, data], [st], out head)
            : vq.Ring.TryAdd(memory, [hdr], [data, st], out head);
        LastSubmitFailed = !added;
        if (!added)
            yield break;
        _inflightHead = head;
        _inflight = true;
        _completed = false;
        vq.Kick();
        while (!_completed)
        {
            if (vq.Ring.Broken)
                yield break;
            yield return VcpuStep.Halt;
        }
    }

    /// <summary>virtblk_done: reap every used request (the disable_cb/enable_cb loop).</summary>
    private void VirtblkDone(VirtioDriverQueue vq)
    {
        vq.DrainUsed(
            (head, len) =>
            {
                if (!_inflight || head != _inflightHead)
                    return;
                _guest.Memory.TryReadUInt8(_status, out byte status);
                LastStatus = status;
                LastUsedLen = len;
                Completed++;
                _inflight = false;
                _completed = true;
            }
        );
    }
}
