using System.Buffers.Binary;
using Sim.Devices.Virtio.Net;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Spec.Net;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets;
using static System.FormattableString;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The response oracle on virtio-net's receiveq1, and the device's refusals on both queues (robust model targets;
/// queue 0's <see cref="VirtqueueChecker"/> tells it of each used entry, then it passes the entry on). Each receive
/// chain the device completes took one frame from the link (<see cref="NetBackend.Taken"/>, the link's record, never
/// the device's state), and without VIRTIO_NET_F_MRG_RXBUF the frame uses that one chain (VIRTIO 1.2 §5.1.6.3.1,
/// §5.1.6.4.1; QEMU virtio_net_receive_rcu):
/// <list type="bullet">
/// <item>a chain whose device-writable bytes hold the 12-byte virtio_net_hdr and the frame gets the header (flags 0,
/// gso_type VIRTIO_NET_HDR_GSO_NONE, every field zero but num_buffers, which MUST be 1) then the frame, and used.len
/// 12 + frame bytes (<c>response/net-rx-header</c>, <c>response/net-rx-frame</c>,
/// <c>response/net-rx-used-len</c>);</item>
/// <item>a smaller chain: the robust device drops the frame and completes the chain with used.len 0;</item>
/// <item>the frame itself is one the link offers: a frame the input injected (op 13) or one of the source link's
/// documented frames (<see cref="NetBackend.SourceFrameLengths"/>: broadcast, ethertype 0x88b5, bytes counting up),
/// written here again from that description (<c>response/net-rx-link-frame</c>).</item>
/// </list>
/// Refusals (<see cref="AfterDeviceOp"/>): when the device breaks (NEEDS_RESET) with a chain in flight that the ring
/// model (<see cref="ChainReference"/>) calls valid, that chain must be one QEMU refuses: on receiveq1 only a chain
/// without device-writable buffers ("virtio-net receive queue contains no in buffers"), on transmitq1 only one whose
/// driver-readable bytes do not go past the header ("virtio-net header not in first element", "header incorrect",
/// "nothing to send", QEMU virtio_net_flush_tx); a transmit chain with at least one byte of packet after the header is
/// sent (<c>response/net-rx-refused</c>, <c>response/net-tx-refused</c>). Waiting frames (<see
/// cref="AfterInjection"/>): when a frame arrives, the frames waiting are delivered while receive buffers are available
/// (QEMU qemu_flush_queued_packets offers each while virtio_net_can_receive and virtio_net_has_buffers say yes), so
/// none waits while a chain is available (<c>liveness/rx-frame-waits-with-buffers</c>).
/// </summary>
internal sealed class NetReceiveOracle : ICompletionObserver
{
    /// <summary>Oracle name (the response oracle's).</summary>
    public const string Oracle = ResponseOracle.Oracle;

    private readonly ICompletionObserver? _next;
    private readonly List<byte[]> _taken = [];
    private readonly List<byte[]> _injected = [];
    private readonly ChainReference _chain = new();
    private readonly byte[] _header = new byte[NetSpec.HeaderBytes];
    private byte[] _writable = new byte[256];
    private NetLogJudge? _log;
    private GuestMemory? _memory;
    private FuzzContext? _context;
    private bool _active;
    private bool _breakJudged;
    private int _seen;

    /// <param name="next">Told of every completion after this oracle (the response oracle).</param>
    public NetReceiveOracle(ICompletionObserver? next = null)
    {
        _next = next;
        // VIRTIO 1.2 §5.1.6.4.1: without VIRTIO_NET_F_MRG_RXBUF the device MUST set num_buffers to 1.
        BinaryPrimitives.WriteUInt16LittleEndian(_header.AsSpan(NetSpec.HeaderNumBuffersOffset), 1);
    }

    /// <summary>Receive chains whose header and frame were judged since construction (all executions).</summary>
    public long JudgedTotal { get; private set; }

    /// <summary>Refusals (a device broken with a valid chain in flight) judged since construction.</summary>
    public long RefusalsJudged { get; private set; }

    /// <summary>Starts judging one execution's receiveq1 whose link is <paramref name="link"/> (null: nothing is
    /// judged); the oracle keeps the link's <see cref="NetBackend.Taken"/> for itself.</summary>
    public void Begin(NetBackend? link, NetLogJudge log, GuestMemory memory, FuzzContext? context)
    {
        _taken.Clear();
        _injected.Clear();
        _seen = 0;
        _breakJudged = false;
        _log = log;
        _memory = memory;
        _context = context;
        _active = link is not null;
        if (link is not null)
            link.Taken = _taken;
    }

    /// <summary>The input makes <paramref name="frame"/> arrive (op 13): a frame the link may deliver.</summary>
    public void Injected(byte[] frame)
    {
        if (_active)
            _injected.Add(frame);
    }

    /// <summary>The checker starts watching receiveq1 again (a re-initialisation): frames taken while it was not
    /// watching belong to completions it never saw.</summary>
    public void Resync() => _seen = _taken.Count;

    public void OnCompleted(int head, uint usedLen, RangeList readable, RangeList writable, bool plain)
    {
        if (_active)
            Judge(head, usedLen, readable, writable, plain);
        _next?.OnCompleted(head, usedLen, readable, writable, plain);
    }

    private void Judge(int head, uint usedLen, RangeList readable, RangeList writable, bool plain)
    {
        int frames = _taken.Count - _seen;
        _seen = _taken.Count;
        if (frames <= 0)
        {
            Report(
                "response/net-rx-no-frame",
                $"head {head}: a receive chain was completed (used.len {usedLen}) but the link gave the device no "
                    + "frame for it (QEMU virtio_net_receive_rcu pops a chain only for a packet)"
            );
            return;
        }
        byte[] frame = _taken[^1];
        if (!IsLinkFrame(frame))
        {
            Report(
                "response/net-rx-link-frame",
                $"head {head}: the link delivered a {frame.Length}-byte frame that is neither one the input injected "
                    + "nor one of the source link's documented frames"
            );
            return;
        }
        if (
            !plain
            || !ResponseOracle.Disjoint(readable, writable)
            || !writable.TryGather(_memory!, ResponseOracle.BytesMax, ref _writable, out int room)
        )
        {
            _log!.Judge(null, "");
            return;
        }
        JudgedTotal++;
        int need = NetSpec.HeaderBytes + frame.Length;
        if (room < need)
        {
            if (usedLen != 0)
            {
                Report(
                    "response/net-rx-used-len",
                    $"head {head}: a {frame.Length}-byte frame does not fit the chain's {room} writable bytes, so the "
                        + $"robust device drops it and completes the chain with used.len 0, not {usedLen} "
                        + "(VIRTIO 1.2 §5.1.6.3.1: without mergeable buffers a packet uses one chain)"
                );
                return;
            }
            _log!.Judge(
                Invariant($"rx: frame of {frame.Length} bytes dropped: head {head} holds {room}"),
                $"head {head} (a frame dropped)"
            );
            return;
        }
        JudgeDelivered(head, usedLen, frame, room);
    }

    /// <summary>A frame that fits its chain: used.len, header and frame bytes, log line (class summary).</summary>
    private void JudgeDelivered(int head, uint usedLen, byte[] frame, int room)
    {
        int need = NetSpec.HeaderBytes + frame.Length;
        if (usedLen != (uint)need)
        {
            Report(
                "response/net-rx-used-len",
                $"head {head}: a {frame.Length}-byte frame was received into a chain of {room} writable bytes; "
                    + $"used.len must be {need} (the 12-byte header and the frame, VIRTIO 1.2 §2.7.8.2), not {usedLen}"
            );
            return;
        }
        ReadOnlySpan<byte> got = _writable.AsSpan(0, need);
        if (!got[..NetSpec.HeaderBytes].SequenceEqual(_header))
        {
            Report(
                "response/net-rx-header",
                $"head {head}: the virtio_net_hdr written is {Convert.ToHexStringLower(got[..NetSpec.HeaderBytes])}; "
                    + $"expected {Convert.ToHexStringLower(_header)} (no offload negotiated, num_buffers 1: VIRTIO 1.2 "
                    + "§5.1.6.4.1)"
            );
            return;
        }
        if (!got[NetSpec.HeaderBytes..].SequenceEqual(frame))
        {
            int at = 0;
            while (got[NetSpec.HeaderBytes + at] == frame[at])
                at++;
            Report(
                "response/net-rx-frame",
                $"head {head}: the {frame.Length}-byte frame written after the header differs from the link's frame "
                    + $"from byte {at} (VIRTIO 1.2 §5.1.6.4: the packet follows the header)"
            );
            return;
        }
        _log!.Judge(
            Invariant($"rx: {frame.Length} bytes into head {head}, used.len {need}"),
            $"head {head} (a frame received)"
        );
    }

    /// <summary>After a device-side op, before the target's sync forgets a broken device's chains: the refusal
    /// judgement (class summary), once per break.</summary>
    public void AfterDeviceOp(VirtioNetDevice device, VirtqueueChecker receive, VirtqueueChecker transmit)
    {
        if (!_active)
            return;
        if (!device.IsBroken)
        {
            _breakJudged = false;
            return;
        }
        if (_breakJudged)
            return;
        _breakJudged = true;
        JudgeRefusal(device, NetSpec.ReceiveQueue, receive);
        if (_context?.Finding is null)
            JudgeRefusal(device, NetSpec.TransmitQueue, transmit);
    }

    private void JudgeRefusal(VirtioNetDevice device, int queue, VirtqueueChecker checker)
    {
        int head = checker.SoleInFlightHead();
        if (head < 0)
            return;
        SplitQueue q = device.GetQueue(queue);
        if (_chain.Classify(_memory!, q.DescTable.Value, q.Size, checked((ushort)head)) != QueueError.None)
            return;
        RefusalsJudged++;
        ulong readable = 0;
        foreach (Iovec v in _chain.Out)
            readable += v.Len;
        if (queue == NetSpec.ReceiveQueue)
        {
            if (_chain.In.Count == 0)
                _log!.Judge("virtio-net receive queue contains no in buffers", $"head {head} refused on receiveq1");
            else
            {
                Report(
                    "response/net-rx-refused",
                    $"head {head}: the device broke on a valid receive chain with {_chain.In.Count} device-writable "
                        + "buffers; QEMU virtio_net_receive_rcu refuses only a chain without one"
                );
            }
            return;
        }
        if (readable > NetSpec.HeaderBytes)
        {
            Report(
                "response/net-tx-refused",
                $"head {head}: the device broke on a valid transmit chain of {readable} driver-readable bytes, a "
                    + $"{readable - NetSpec.HeaderBytes}-byte packet after the {NetSpec.HeaderBytes}-byte header, "
                    + "instead of sending it (QEMU virtio_net_flush_tx; VIRTIO 1.2 §5.1.6.2)"
            );
            return;
        }
        _log!.Judge(
            _chain.Out.Count == 0 ? "virtio-net header not in first element" : "virtio-net nothing to send",
            $"head {head} refused on transmitq1"
        );
    }

    /// <summary>After a frame arrived (op 13): no frame waits while a receive chain is available (class
    /// summary).</summary>
    public void AfterInjection(VirtioNetDevice device, bool dmaEnabled)
    {
        if (!_active || device.IsBroken || !device.DriverOk || !dmaEnabled)
            return;
        SplitQueue q = device.GetQueue(NetSpec.ReceiveQueue);
        if (!q.Ready || device.Backend.PendingCount == 0)
            return;
        if (!_memory!.TryGetSpan(new GuestAddress(q.AvailRing.Value + 2), 2, out Span<byte> raw))
            return;
        var availIdx = new RingIndex(BinaryPrimitives.ReadUInt16LittleEndian(raw));
        if (q.NextAvail.Value == availIdx.Value || RingIndex.Distance(q.NextAvail, availIdx) > q.Size)
            return;
        _context?.Report(
            "liveness",
            "liveness/rx-frame-waits-with-buffers",
            $"a frame arrived and {device.Backend.PendingCount} frames still wait, but receiveq1 has "
                + $"{RingIndex.Distance(q.NextAvail, availIdx)} available chains (avail.idx {availIdx.Value}, the "
                + $"device at {q.NextAvail.Value}); QEMU qemu_flush_queued_packets delivers while there are buffers"
        );
    }

    private void Report(string site, string message) => _context?.Report(Oracle, site, message);

    /// <summary>A frame the link may deliver: injected by the input, or a source frame as documented.</summary>
    private bool IsLinkFrame(byte[] frame)
    {
        if (IsSourceFrame(frame))
            return true;
        foreach (byte[] f in _injected)
        {
            if (f.AsSpan().SequenceEqual(frame))
                return true;
        }
        return false;
    }

    /// <summary>The source link's frames (<see cref="NetBackend"/>'s documentation): one of its lengths, six 0xFF
    /// (broadcast), then bytes equal to their offset but the ethertype 0x88b5 at 12..13.</summary>
    internal static bool IsSourceFrame(ReadOnlySpan<byte> frame)
    {
        if (frame.Length is not (60 or 14 or 1514 or 42 or 200 or 4096))
            return false;
        for (int i = 0; i < frame.Length; i++)
        {
            int expected =
                i < 6 ? 0xFF
                : i == 12 ? 0x88
                : i == 13 ? 0xB5
                : i & 0xFF;
            if (frame[i] != expected)
                return false;
        }
        return true;
    }
}
