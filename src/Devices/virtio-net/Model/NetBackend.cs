using Sim.Engine;

namespace Sim.Devices.Virtio.Net;

/// <summary>
/// The network backend behind a <see cref="VirtioNetDevice"/> (QEMU's NetClientState peer, <c>-netdev</c>), kept
/// inside the simulation so a run is deterministic: frames the device transmits are counted and, in
/// <see cref="NetBackendMode.Echo"/>, queued to come back as received frames; frames injected by the scenario (or a
/// fuzz input) wait in the same bounded queue until the driver offers a receive buffer (QEMU's net queue holds a
/// packet while virtio_net_has_buffers says no).
/// </summary>
public sealed class NetBackend
{
    /// <summary>Frames waiting for a receive buffer, at most (QEMU net/queue.c bounds its queue too:
    /// QUEUE_LEN).</summary>
    public const int PendingFramesMax = 64;

    /// <summary>Frames kept in <see cref="Transmitted"/>, at most (the oldest are dropped).</summary>
    public const int TransmittedKeptMax = 64;

    /// <summary>Lengths of the frames <see cref="NetBackendMode.Source"/> offers, in turn: minimum Ethernet frame,
    /// a bare Ethernet header, a full 1500-byte MTU frame, an ARP-sized frame, and two that need large
    /// buffers.</summary>
    public static IReadOnlyList<int> SourceFrameLengths { get; } = [60, 14, 1514, 42, 200, 4096];

    private static readonly byte[][] SourceFrames = [.. SourceFrameLengths.Select(SourceFrame)];

    private readonly Queue<byte[]> _pending = new();
    private int _sourceNext;
    private readonly Queue<byte[]> _transmitted = new();

    /// <param name="mode">What happens to transmitted frames.</param>
    public NetBackend(NetBackendMode mode = NetBackendMode.Echo) => Mode = mode;

    /// <summary>Where received frames come from and what happens to sent ones (echo, sink or source).</summary>
    public NetBackendMode Mode { get; }

    /// <summary>True: <see cref="Transmitted"/> keeps copies of the last frames sent (a differential oracle reads
    /// them); false: only the counters move.</summary>
    public bool KeepTransmitted { get; set; }

    /// <summary>Frames the device sent.</summary>
    public long FramesSent { get; private set; }

    /// <summary>Bytes of the frames the device sent (headers excluded).</summary>
    public long BytesSent { get; private set; }

    /// <summary>Frames dropped because <see cref="PendingFramesMax"/> were already waiting.</summary>
    public long FramesDropped { get; private set; }

    /// <summary>Frames waiting for a receive buffer.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>When set, every frame sent is appended here too; unlike <see cref="Transmitted"/> a device reset does
    /// not clear it (a differential oracle compares a whole input's frames).</summary>
    public List<byte[]>? SentLog { get; set; }

    /// <summary>The last frames sent, oldest first, when <see cref="KeepTransmitted"/> is on.</summary>
    public IReadOnlyCollection<byte[]> Transmitted => _transmitted;

    /// <summary>The device sent <paramref name="frame"/> (QEMU qemu_sendv_packet_async to the peer).</summary>
    public void Transmit(ReadOnlySpan<byte> frame)
    {
        FramesSent++;
        BytesSent += frame.Length;
        SentLog?.Add(frame.ToArray());
        if (KeepTransmitted)
        {
            if (_transmitted.Count == TransmittedKeptMax)
                _transmitted.Dequeue();
            _transmitted.Enqueue(frame.ToArray());
        }
        if (Mode == NetBackendMode.Echo)
            TryInject(frame);
    }

    /// <summary>The link delivers <paramref name="frame"/> towards the guest. False (dropped, counted) when
    /// <see cref="PendingFramesMax"/> frames are already waiting.</summary>
    public bool TryInject(ReadOnlySpan<byte> frame)
    {
        if (_pending.Count >= PendingFramesMax)
        {
            FramesDropped++;
            return false;
        }
        _pending.Enqueue(frame.ToArray());
        return true;
    }

    /// <summary>The oldest waiting frame, left in the queue; false when none waits.</summary>
    public bool TryPeek(out byte[] frame)
    {
        if (Mode == NetBackendMode.Source && _pending.Count == 0)
        {
            _pending.Enqueue(SourceFrames[_sourceNext]);
            _sourceNext = (_sourceNext + 1) % SourceFrames.Length;
        }
        return _pending.TryPeek(out frame!);
    }

    /// <summary>When set, every frame the device takes (delivered or dropped) is appended: a differential oracle
    /// offers the same frames to another implementation (its owner empties it).</summary>
    public List<byte[]>? Taken { get; set; }

    /// <summary>Removes the oldest waiting frame (delivered or dropped by the device).</summary>
    public void Dequeue()
    {
        byte[] frame = _pending.Dequeue();
        Taken?.Add(frame);
    }

    /// <summary>Forgets the waiting frames and the kept transmitted ones (a fresh link).</summary>
    public void Clear()
    {
        _pending.Clear();
        _transmitted.Clear();
        _sourceNext = 0;
    }

    /// <summary>A broadcast frame of <paramref name="length"/> bytes (ethertype 0x88b5, IEEE 802 local
    /// experimental) whose payload counts up.</summary>
    private static byte[] SourceFrame(int length)
    {
        var frame = new byte[length];
        for (int i = 0; i < length; i++)
            frame[i] = Narrow.LowByte(
                i < 6 ? 0xFF
                : i == 12 ? 0x88
                : i == 13 ? 0xB5
                : i & 0xFF
            );
        return frame;
    }
}
