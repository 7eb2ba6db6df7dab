using Sim.Spec.Net;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The versioned table of legitimate differences between our robust virtio-net model and QEMU 7.2's virtio-net-pci
/// on a socket netdev (Debian 12's 7.2.x; hw/net/virtio-net.c), each shown by a test of QemuNetProbeTests through
/// <see cref="NetLockstepPair"/>. docs/qemu-backend.md shows this table; keep the two in step.
/// </summary>
public static class NetQemu72Differences
{
    public const string QemuVersion = Qemu72Differences.QemuVersion;

    public const string NumBuffersUnwritten = "rx-num-buffers-unwritten";

    public const string SmallChainLeftAvailable = "rx-small-chain-left-available";

    public static IReadOnlyList<NetDifferenceRow> Rows { get; } =
    [
        new(NumBuffersUnwritten,
            "Bytes 10-11 (num_buffers) of a received frame's header: the model writes 1; QEMU 7.2 leaves the guest's "
                + "bytes (used.len counts the 12-byte header on both).",
            "VIRTIO 1.2 §5.1.6.4.1: without VIRTIO_NET_F_MRG_RXBUF the device MUST set num_buffers to 1. QEMU writes "
                + "the 10-byte struct virtio_net_hdr and fills num_buffers only for mergeable buffers.",
            "receive_header, virtio_net_receive_rcu (hw/net/virtio-net.c)"),
        new(SmallChainLeftAvailable,
            "A receive chain too small for header + frame: both drop the frame; the model completes the chain with "
                + "used.len 0 and writes nothing, QEMU 7.2 writes what fits (header, then the frame's start) and "
                + "leaves the chain available (used.idx does not move).",
            "QEMU copies with iov_from_buf before it sees the frame does not fit, then gives the chain back "
                + "(virtqueue_unpop): it stays at the head of receiveq1. The model keeps the queue live (VIRTIO 1.2 "
                + "§5.1.6.4.1: one chain per packet; the driver reposts a chain completed with a length error).",
            "virtio_net_receive_rcu (hw/net/virtio-net.c)"),
    ];

    /// <summary>True when byte <paramref name="offset"/> of a receive buffer may differ: the two bytes of
    /// num_buffers (<see cref="NumBuffersUnwritten"/>).</summary>
    public static bool ExplainsReceivedByte(int offset) =>
        offset is NetSpec.HeaderNumBuffersOffset or NetSpec.HeaderNumBuffersOffset + 1;
}
