using Sim.Devices.Virtio.Net;
using Sim.Engine.Memory;
using Sim.Spec.Net;
using Virtsim.Fuzz.Targets;
using static System.FormattableString;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The response oracle on virtio-net's transmitq1 (robust model targets; queue 1's <see cref="VirtqueueChecker"/>
/// tells it of each used entry): a transmit chain is the 12-byte virtio_net_hdr followed by the packet in the
/// driver-readable buffers (VIRTIO 1.2 §5.1.6.2), so completing one must have put exactly one frame on the link, that
/// frame being the readable bytes after the header, and used.len must be 0, the device writing nothing into a transmit
/// chain (QEMU virtio_net_flush_tx: <c>virtqueue_push(q-&gt;tx_vq, elem, 0)</c>). A packet longer than
/// <see cref="VirtioNetDevice.FrameBytesMax"/> is dropped, so its chain completes with no frame. The frames are what
/// the link received (<see cref="NetBackend.SentLog"/>), the offered bytes what guest memory holds at the completion:
/// the device's own state is never read. used.len is judged on every chain; the frame only on chains whose walk is the
/// device's view without doubt (<see cref="ICompletionObserver"/>: plain, buffers disjoint and non-empty, inside
/// memory), the others only move the oracle past the frames sent meanwhile.
/// </summary>
internal sealed class NetTransmitOracle : ICompletionObserver
{
    /// <summary>Oracle name (the response oracle's).</summary>
    public const string Oracle = ResponseOracle.Oracle;

    public const string SiteUsedLen = "response/net-tx-used-len";
    public const string SiteFrameMissing = "response/net-tx-frame-missing";
    public const string SiteFramesExtra = "response/net-tx-frames-extra";
    public const string SiteFrame = "response/net-tx-frame";

    private readonly List<byte[]> _sent = [];
    private byte[] _readable = new byte[256];
    private GuestMemory? _memory;
    private FuzzContext? _context;
    private NetLogJudge? _log;
    private bool _active;
    private int _seen;

    /// <summary>Chains whose frame was judged since construction (all executions).</summary>
    public long JudgedTotal { get; private set; }

    /// <summary>Starts judging one execution's transmitq1 whose link is <paramref name="link"/> (null: nothing is
    /// judged). The oracle keeps the link's <see cref="NetBackend.SentLog"/> for itself; each frame sent is judged in
    /// the device's log too (<paramref name="log"/>, shared with the receive oracle).</summary>
    public void Begin(NetBackend? link, NetLogJudge? log, GuestMemory memory, FuzzContext? context)
    {
        _log = log;
        _sent.Clear();
        _seen = 0;
        _memory = memory;
        _context = context;
        _active = link is not null;
        if (link is not null)
            link.SentLog = _sent;
    }

    /// <summary>The checker starts watching transmitq1 again (a re-initialisation bound it anew): frames sent while it
    /// was not watching belong to completions it never saw (the reset's status write drains a pending kick first,
    /// QEMU virtio_device_stop_ioeventfd_impl, so a chain can be sent and completed then), so they are not the next
    /// completion's.</summary>
    public void Resync() => _seen = _sent.Count;

    public void OnCompleted(int head, uint usedLen, RangeList readable, RangeList writable, bool plain)
    {
        if (!_active)
            return;
        int frames = _sent.Count - _seen;
        _seen = _sent.Count;
        if (usedLen != 0)
        {
            Report(
                SiteUsedLen,
                $"head {head}: transmitq1 used.len is {usedLen}; the device writes nothing into a "
                    + "transmit chain, so it must be 0 (QEMU virtio_net_flush_tx)"
            );
            return;
        }
        if (
            !plain
            || !ResponseOracle.Disjoint(readable, writable)
            || !readable.TryGather(_memory!, ResponseOracle.BytesMax, ref _readable, out int length)
        )
        {
            _log?.Judge(null, "");
            return;
        }
        int packet = Math.Max(0, length - NetSpec.HeaderBytes);
        ReadOnlySpan<byte> offered = _readable.AsSpan(Math.Min(length, NetSpec.HeaderBytes), packet);
        JudgedTotal++;
        int expected = packet > VirtioNetDevice.FrameBytesMax ? 0 : 1;
        if (frames < expected)
        {
            Report(
                SiteFrameMissing,
                $"head {head}: the chain offered a {packet}-byte packet after the "
                    + $"{NetSpec.HeaderBytes}-byte header and was completed, but no frame reached the link"
            );
            return;
        }
        if (frames > expected)
        {
            Report(
                SiteFramesExtra,
                $"head {head}: {frames} frames reached the link for one transmit chain "
                    + $"(expected {expected}: a {packet}-byte packet)"
            );
            return;
        }
        if (expected == 0)
            return;
        byte[] frame = _sent[^1];
        if (frame.AsSpan().SequenceEqual(offered))
        {
            // The line names the frame's length and its first bytes (VirtioNetDevice.LogBytesMax).
            string hex = Convert.ToHexStringLower(offered[..Math.Min(offered.Length, VirtioNetDevice.LogBytesMax)]);
            _log?.Judge(Invariant($"tx: {packet} bytes {hex}"), $"head {head} (a frame sent)");
            return;
        }
        int at = 0;
        while (at < frame.Length && at < offered.Length && frame[at] == offered[at])
            at++;
        Report(
            SiteFrame,
            $"head {head}: the link got a {frame.Length}-byte frame for a {packet}-byte packet; they "
                + $"differ from byte {at} (the frame is the readable bytes after the header, VIRTIO 1.2 §5.1.6.2)"
        );
    }

    private void Report(string site, string message) => _context?.Report(Oracle, site, message);
}
