using System.Globalization;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Net;

namespace Sim.Guest.Drivers.Net;

/// <summary>
/// The guest's virtio network driver (Linux drivers/net/virtio_net.c, the small-buffer path) on top of
/// <see cref="VirtioPciDriver"/>: virtnet_probe (negotiates VIRTIO_NET_F_MAC only, reads <c>mac</c> from the
/// configuration, VIRTIO 1.2 §5.1.5; queues receiveq1 and transmitq1), try_fill_recv → add_recvbuf_small (one
/// device-writable buffer of header + <see cref="FrameBytesMax"/> per receive chain, §5.1.6.3), start_xmit →
/// xmit_skb (header and frame as two driver-readable buffers, §5.1.6.2), skb_recv_done → receive_buf (the frame is
/// used.len − 12 bytes after the header; the buffer goes back on the ring) and skb_xmit_done (free_old_xmit_skbs).
/// </summary>
public sealed class VirtioNetDriver : IVirtioGuestDriver
{
    /// <summary>Largest frame the driver sends or receives (Linux GOOD_PACKET_LEN: ETH_HLEN + ETH_DATA_LEN +
    /// VLAN_HLEN).</summary>
    public const int FrameBytesMax = 1518;

    /// <summary>Receive buffers kept on receiveq1.</summary>
    public const int ReceiveBuffers = 8;

    private const int BufferBytes = NetSpec.HeaderBytes + FrameBytesMax;

    private readonly GuestContext _guest;
    private readonly Action<string>? _dmesg;
    private readonly GuestAddress[] _rxBuffers = new GuestAddress[ReceiveBuffers];
    private readonly Dictionary<ushort, int> _rxByHead = [];
    private readonly byte[] _mac = new byte[NetSpec.MacBytes];
    private GuestAddress _txHeader;
    private GuestAddress _txFrame;

    /// <summary>A virtio-net driver for <paramref name="guest"/>; it does nothing until probed.</summary>
    public VirtioNetDriver(GuestContext guest, Action<string>? dmesg = null)
    {
        ArgumentNullException.ThrowIfNull(guest);
        _guest = guest;
        _dmesg = dmesg;
    }

    /// <summary>The virtio-pci transport once probed (null before).</summary>
    public VirtioPciDriver? Transport { get; private set; }

    /// <summary>receiveq1 once set up (null before; VIRTIO 1.2 §5.1.2).</summary>
    public VirtioDriverQueue? ReceiveQueue { get; private set; }

    /// <summary>transmitq1 once set up (null before; VIRTIO 1.2 §5.1.2).</summary>
    public VirtioDriverQueue? TransmitQueue { get; private set; }

    /// <summary>The MAC address read from the configuration (valid after <see cref="Probe"/>).</summary>
    public ReadOnlySpan<byte> Mac => _mac;

    /// <summary>The last frame received (a copy).</summary>
    public byte[] LastFrame { get; private set; } = [];

    /// <summary>Frames received.</summary>
    public long Received { get; private set; }

    /// <summary>Transmit chains the device returned.</summary>
    public long TransmitCompleted { get; private set; }

    /// <summary>virtnet_probe. False when the device is absent or setup fails.</summary>
    public bool Probe(
        PciResourceWindows windows,
        GuestDmaAllocator dma,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(dma);
        GuestPciFunction? pci = VirtioPciDriver.FindDevice(_guest, NetSpec.DeviceId, windows, intxGsi);
        if (pci == null)
            return false;
        VirtioPciDriver? drv = VirtioPciDriver.Probe(pci, transport, irq);
        if (drv == null || !drv.TryNegotiate(1UL << NetSpec.FMac))
            return false;
        drv.SetupInterrupts(2);
        VirtioDriverQueue? rx = drv.SetupQueue(NetSpec.ReceiveQueue, dma);
        VirtioDriverQueue? tx = drv.SetupQueue(NetSpec.TransmitQueue, dma);
        if (rx == null || tx == null)
            return false;
        rx.Callback = SkbRecvDone;
        tx.Callback = SkbXmitDone;
        if (drv.HasFeature(NetSpec.FMac))
        {
            for (int i = 0; i < NetSpec.MacBytes; i++)
            {
                _mac[i] = Narrow.LowByte(drv.ReadDeviceConfig(NetSpec.ConfigMacOffset + i, 1));
            }
        }
        for (int i = 0; i < ReceiveBuffers; i++)
            _rxBuffers[i] = dma.Allocate(BufferBytes, 8);
        _txHeader = dma.Allocate(NetSpec.HeaderBytes, 8);
        _txFrame = dma.Allocate(FrameBytesMax, 8);
        Transport = drv;
        ReceiveQueue = rx;
        TransmitQueue = tx;
        drv.DriverOk();
        for (int i = 0; i < ReceiveBuffers; i++)
            AddReceiveBuffer(i);
        rx.Kick();
        _dmesg?.Invoke("virtio_net: eth0: mac " + Convert.ToHexStringLower(_mac));
        return true;
    }

    /// <summary>Claims the interrupt on <paramref name="gsi"/> when it is this device's (the transport reads ISR or
    /// owns the MSI-X vector).</summary>
    public bool HandleInterrupt(uint gsi) => Transport?.HandleInterrupt(gsi) ?? false;

    /// <summary>start_xmit: a zeroed header (no offloads) and <paramref name="frame"/>, then a kick. False when
    /// the ring refused the chain.</summary>
    public bool Send(ReadOnlySpan<byte> frame)
    {
        VirtioDriverQueue vq = TransmitQueue ?? throw new InvalidOperationException("the net driver is not probed");
        if (frame.IsEmpty || frame.Length > FrameBytesMax)
        {
            throw new ArgumentOutOfRangeException(nameof(frame), $"1..{FrameBytesMax} bytes");
        }
        Span<byte> header = stackalloc byte[NetSpec.HeaderBytes];
        header.Clear();
        if (!_guest.Memory.TryWrite(_txHeader, header) || !_guest.Memory.TryWrite(_txFrame, frame))
            return false;
        GuestBuffer[] outSg = [new(_txHeader, NetSpec.HeaderBytes), new(_txFrame, checked((uint)frame.Length))];
        if (!vq.Ring.TryAdd(_guest.Memory, outSg, [], out _))
            return false;
        vq.Kick();
        return true;
    }

    private void AddReceiveBuffer(int index)
    {
        VirtioDriverQueue vq = ReceiveQueue!;
        GuestBuffer[] inSg = [new(_rxBuffers[index], BufferBytes)];
        if (vq.Ring.TryAdd(_guest.Memory, [], inSg, out ushort head))
            _rxByHead[head] = index;
    }

    /// <summary>skb_recv_done → virtnet_poll → receive_buf, then try_fill_recv.</summary>
    private void SkbRecvDone(VirtioDriverQueue vq)
    {
        int refill = 0;
        vq.DrainUsed(
            (head, len) =>
            {
                if (!_rxByHead.Remove(head, out int index))
                    return;
                // receive_buf: a buffer shorter than the header is a device error (Linux "rx error: len %u").
                if (len < NetSpec.HeaderBytes || len > BufferBytes)
                {
                    _dmesg?.Invoke(string.Create(CultureInfo.InvariantCulture, $"virtio_net: rx error: len {len}"));
                }
                else
                {
                    byte[] frame = new byte[len - NetSpec.HeaderBytes];
                    _guest.Memory.TryRead(new GuestAddress(_rxBuffers[index].Value + NetSpec.HeaderBytes), frame);
                    LastFrame = frame;
                    Received++;
                }
                AddReceiveBuffer(index);
                refill++;
            }
        );
        if (refill > 0)
            vq.Kick();
    }

    /// <summary>skb_xmit_done → free_old_xmit_skbs.</summary>
    private void SkbXmitDone(VirtioDriverQueue vq) => vq.DrainUsed((_, _) => TransmitCompleted++);
}
