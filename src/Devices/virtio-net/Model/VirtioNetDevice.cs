using System.Buffers.Binary;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Trace;
using Sim.Spec.Net;
using static System.FormattableString;

namespace Sim.Devices.Virtio.Net;

/// <summary>
/// The virtio network device (VIRTIO 1.2 §5.1; QEMU hw/net/virtio-net.c), minimal: receiveq1 and transmitq1,
/// VIRTIO_NET_F_MAC, no control queue, no mergeable receive buffers, no offloads. Frames go to and come from a
/// <see cref="NetBackend"/> that lives inside the simulation.
/// <para>Transmit (QEMU virtio_net_flush_tx): each chain on transmitq1 is the 12-byte virtio_net_hdr followed by
/// the frame, in the driver-readable buffers; the device hands the frame to the backend and returns the chain with
/// used.len 0 (it wrote nothing). Receive (QEMU virtio_net_receive_rcu): each waiting frame takes one chain of
/// receiveq1, which gets a zeroed header with num_buffers 1 (VIRTIO 1.2 §5.1.6.4.1: without
/// VIRTIO_NET_F_MRG_RXBUF the device MUST set num_buffers to 1) and the frame; used.len = 12 + frame bytes. With no
/// receive buffer the frame waits in the backend (QEMU virtio_net_has_buffers returns 0 and the net queue keeps
/// the packet); the driver's kick on receiveq1 delivers it (virtio_net_handle_rx: qemu_flush_queued_packets).</para>
/// <para>What the flavours do, and why they differ. No seed document describes a network device, so the
/// <see cref="Flavour.Seed"/> flavour is the device as the seeds write theirs: seed 001's virtio_test_handle_output
/// template applied to receive, <c>iov_from_buf(elem-&gt;in_sg, elem-&gt;in_num, 0, pkt, sizeof(hdr) + len)</c> then
/// <c>virtqueue_push(vq, elem, sizeof(hdr) + len)</c> whatever the buffers held:</para>
/// <list type="bullet">
/// <item><b>Seed</b> writes as much of header + frame as the receive buffers hold and reports used.len = 12 + frame
/// bytes even when it wrote fewer (VIRTIO 1.2 §2.7.8.2: the device MUST NOT report more than it wrote).</item>
/// <item><b>Robust</b> (default) drops a frame that does not fit the chain (VIRTIO 1.2 §5.1.6.4.1: without
/// VIRTIO_NET_F_MRG_RXBUF a packet uses one chain) and completes that chain with used.len 0, writing nothing: the
/// driver sees a length error and reposts the buffer (Linux receive_buf, "rx error: len"), and a too-small buffer
/// cannot stall receiveq1. QEMU drops the frame too but gives the chain back unused (virtio_net_receive_rcu,
/// virtqueue_unpop), so it stays available for ever (a difference of NetQemu72Differences). Robust also breaks the
/// device on a transmit chain with nothing after the header (QEMU virtio_net_flush_tx, "virtio-net nothing to
/// send"; QEMU 7.2 sends an empty frame instead).</item>
/// <item>Both break the device (QEMU virtio_error, the chain detached) on a transmit chain without driver-readable
/// buffers ("virtio-net header not in first element") and a receive chain without device-writable buffers
/// ("virtio-net receive queue contains no in buffers"); both send frames of at most <see cref="FrameBytesMax"/>
/// bytes (longer ones are dropped, completed with used.len 0) and pop at most <see cref="ElementsPerNotifyMax"/>
/// chains per kick (QEMU tx_burst).</item>
/// </list>
/// Trace: a DeviceResult per frame (Address = <see cref="ResultTransmit"/>, <see cref="ResultReceive"/>,
/// <see cref="ResultTransmitDropped"/> or <see cref="ResultReceiveDropped"/>; Value = frame bytes, or used.len for a
/// received frame).
/// </summary>
public sealed class VirtioNetDevice : VirtioDevice
{
    /// <summary>Longest frame the device sends or receives (64 KiB: an IPv4 packet's total length fits).</summary>
    public const int FrameBytesMax = 64 * 1024;

    /// <summary>Chains one kick pops at most (QEMU virtio-net tx_burst default 256).</summary>
    public const int ElementsPerNotifyMax = NetSpec.QueueSize;

    /// <summary>The MAC address offered in the configuration (QEMU's default for the first NIC).</summary>
    public static ReadOnlySpan<byte> DefaultMac => [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    /// <summary>DeviceResult code of a sent frame (Value = frame bytes).</summary>
    public const ulong ResultTransmit = 2;

    /// <summary>DeviceResult code of a received frame (Value = used.len).</summary>
    public const ulong ResultReceive = 3;

    /// <summary>DeviceResult code of a transmit chain whose frame was longer than
    /// <see cref="FrameBytesMax"/>.</summary>
    public const ulong ResultTransmitDropped = 4;

    /// <summary>DeviceResult code of a received frame that did not fit its chain (robust; Value = frame
    /// bytes).</summary>
    public const ulong ResultReceiveDropped = 5;

    /// <summary>Default trace source id.</summary>
    public const uint TraceIdDefault = 0x05;

    /// <summary>Bytes of a frame the device log shows.</summary>
    public const int LogBytesMax = 16;

    private readonly QueueElement _element = new();
    private readonly byte[] _frame = new byte[FrameBytesMax];
    private readonly byte[] _header = new byte[NetSpec.HeaderBytes];

    /// <param name="backend">The link: where sent frames go and received ones come from.</param>
    /// <param name="flavour">Device behaviour.</param>
    /// <param name="traceId">Trace source id.</param>
    public VirtioNetDevice(NetBackend backend, Flavour flavour = Flavour.Robust, uint traceId = TraceIdDefault)
        : base(
            NetSpec.DeviceId,
            [NetSpec.QueueSize, NetSpec.QueueSize],
            1UL << NetSpec.FMac,
            NetSpec.ConfigBytes,
            traceId
        )
    {
        ArgumentNullException.ThrowIfNull(backend);
        Backend = backend;
        Flavour = flavour;
        DefaultMac.CopyTo(Config[NetSpec.ConfigMacOffset..]);
        // Without VIRTIO_NET_F_MRG_RXBUF the header's num_buffers is 1 (VIRTIO 1.2 §5.1.6.4.1); the rest is zero:
        // no checksum or segmentation offload was negotiated (flags 0, gso_type VIRTIO_NET_HDR_GSO_NONE).
        BinaryPrimitives.WriteUInt16LittleEndian(_header.AsSpan(NetSpec.HeaderNumBuffersOffset), 1);
    }

    /// <summary>Seed or robust.</summary>
    public Flavour Flavour { get; }

    /// <summary>The link: frames sent, frames waiting to be received.</summary>
    public NetBackend Backend { get; }

    /// <summary>The device's log (QEMU's error_report lines and one line per frame).</summary>
    public DeviceLog Log { get; } = new();

    /// <summary>Frames delivered into receive buffers.</summary>
    public long FramesReceived { get; private set; }

    /// <summary>Robust: received frames dropped because they did not fit their chain (completed with used.len
    /// 0).</summary>
    public long ReceiveDropped { get; private set; }

    /// <summary>Transmit chains whose frame was longer than <see cref="FrameBytesMax"/>.</summary>
    public long TransmitDropped { get; private set; }

    /// <inheritdoc/>
    protected override void HandleQueueNotify(int queueIndex)
    {
        if (queueIndex == NetSpec.TransmitQueue)
            FlushTransmit();
        // A kick on receiveq1 offers buffers (virtio_net_handle_rx → qemu_flush_queued_packets); frames the
        // backend echoed while transmitting wait for them too.
        DeliverPending();
    }

    /// <inheritdoc/>
    protected override void OnReset() => Backend.Clear();

    /// <summary>Delivers the frames waiting in the backend into receive buffers while there are buffers (QEMU
    /// qemu_flush_queued_packets → virtio_net_receive_rcu). Call after injecting frames.</summary>
    public void DeliverPending() => DeliverPending(ElementsPerNotifyMax);

    /// <summary>A frame arrives from the link now (QEMU: the netdev's read handler → qemu_send_packet →
    /// virtio_net_receive): it joins the frames already waiting, and the waiting frames, this one last, are delivered
    /// while receive buffers are available; what finds none waits for the driver's next receiveq1 kick. A
    /// <see cref="NetBackendMode.Source"/> link offers none of its own frames here (only at kicks). False when the
    /// link's queue was full and the frame was dropped (<see cref="NetBackend.PendingFramesMax"/>).</summary>
    public bool InjectFrame(ReadOnlySpan<byte> frame)
    {
        if (!Backend.TryInject(frame))
            return false;
        DeliverPending(Backend.PendingCount);
        return true;
    }

    /// <summary>As <see cref="DeliverPending()"/>, at most <paramref name="framesMax"/> frames: at most those already
    /// waiting when it is the pending count (a source link makes a frame only once none waits).</summary>
    private void DeliverPending(int framesMax)
    {
        for (int n = 0; n < framesMax; n++)
        {
            // virtio_net_can_receive: DRIVER_OK and a ready receiveq.
            if (IsBroken || !DriverOk || !GetQueue(NetSpec.ReceiveQueue).Ready)
                return;
            if (!Backend.TryPeek(out byte[] frame))
                return;
            // virtio_net_has_buffers: no chain, the frame stays queued.
            if (!TryPop(NetSpec.ReceiveQueue, _element))
                return;
            if (!Receive(frame))
                return;
        }
    }

    /// <summary>virtio_net_flush_tx: sends the frame of each transmit chain.</summary>
    private void FlushTransmit()
    {
        if (!DriverOk)
            return;
        for (int n = 0; n < ElementsPerNotifyMax; n++)
        {
            if (!TryPop(NetSpec.TransmitQueue, _element))
                return;
            if (_element.OutCount == 0)
            {
                Detach(NetSpec.TransmitQueue, "virtio-net header not in first element");
                return;
            }
            ulong frameBytes = _element.OutBytes > NetSpec.HeaderBytes ? _element.OutBytes - NetSpec.HeaderBytes : 0;
            if (frameBytes == 0 && Flavour == Flavour.Robust)
            {
                Detach(NetSpec.TransmitQueue, "virtio-net nothing to send");
                return;
            }
            Send(frameBytes);
            TryPush(NetSpec.TransmitQueue, _element, 0);
            NotifyQueue(NetSpec.TransmitQueue);
        }
    }

    private void Send(ulong frameBytes)
    {
        if (frameBytes > FrameBytesMax)
        {
            TransmitDropped++;
            if (Log.Enabled)
                LogLine(Invariant($"tx: frame of {frameBytes} bytes dropped (over {FrameBytesMax})"));
            Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultTransmitDropped, frameBytes, default);
            return;
        }
        Span<byte> frame = _frame.AsSpan(0, checked((int)frameBytes));
        int read = _element.ReadOut(Memory, NetSpec.HeaderBytes, frame);
        frame = frame[..read];
        if (Log.Enabled)
            LogLine(Invariant($"tx: {frame.Length} bytes {Hex(frame)}"));
        Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultTransmit, checked((ulong)frame.Length), default);
        Backend.Transmit(frame);
    }

    /// <summary>virtio_net_receive_rcu for one frame and the chain just popped. False when the device broke.</summary>
    private bool Receive(byte[] frame)
    {
        if (_element.InCount == 0)
        {
            Detach(NetSpec.ReceiveQueue, "virtio-net receive queue contains no in buffers");
            return false;
        }
        uint need = checked((uint)(NetSpec.HeaderBytes + frame.Length));
        Backend.Dequeue();
        if (Flavour == Flavour.Robust && _element.InBytes < need)
        {
            // No mergeable buffers: the whole packet must fit one chain, or it is dropped; the chain completes empty.
            ReceiveDropped++;
            if (Log.Enabled)
            {
                LogLine(
                    Invariant(
                        $"rx: frame of {frame.Length} bytes dropped: head {_element.Head} holds {_element.InBytes}"
                    )
                );
            }
            Simulation.Emit(
                TraceEventKind.DeviceResult,
                TraceId,
                ResultReceiveDropped,
                checked((ulong)frame.Length),
                default
            );
            TryPush(NetSpec.ReceiveQueue, _element, 0);
            NotifyQueue(NetSpec.ReceiveQueue);
            return true;
        }
        int written = _element.WriteIn(Memory, 0, _header);
        if (written == NetSpec.HeaderBytes)
            written += _element.WriteIn(Memory, NetSpec.HeaderBytes, frame);
        // Seed: virtqueue_push(vq, elem, sizeof(hdr) + len) whatever iov_from_buf managed to write.
        uint len = Flavour == Flavour.Seed ? need : checked((uint)written);
        FramesReceived++;
        if (Log.Enabled)
            LogLine(Invariant($"rx: {frame.Length} bytes into head {_element.Head}, used.len {len}"));
        Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultReceive, len, default);
        TryPush(NetSpec.ReceiveQueue, _element, len);
        NotifyQueue(NetSpec.ReceiveQueue);
        return true;
    }

    /// <summary>QEMU virtio_error then virtqueue_detach_element: the chain is never completed.</summary>
    private void Detach(int queueIndex, string reason)
    {
        LogLine(reason);
        GetQueue(queueIndex).Detach();
        SetBroken(reason);
    }

    private void LogLine(string line)
    {
        if (Log.Enabled)
            Log.Add(line);
    }

    private static string Hex(ReadOnlySpan<byte> frame) =>
        Convert.ToHexStringLower(frame[..Math.Min(frame.Length, LogBytesMax)]);
}
