using Sim.Spec.Net;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The versioned table of legitimate differences between our robust virtio-net model and QEMU 7.2's virtio-net-pci
/// on a socket netdev (Debian 12's 7.2.x; hw/net/virtio-net.c), as far as the net probe compares
/// (<see cref="NetLockstepPair"/>; docs/qemu-backend.md shows this table, keep the two in step).
/// </summary>
public static class NetQemu72Differences
{
    public const string QemuVersion = Qemu72Differences.QemuVersion;

    /// <summary>num_buffers of a received frame's header: the model writes 1 (VIRTIO 1.2 §5.1.6.4.1: without
    /// VIRTIO_NET_F_MRG_RXBUF the device MUST set num_buffers to 1); QEMU 7.2 writes only the 10-byte
    /// <c>struct virtio_net_hdr</c> (receive_header) and fills num_buffers only for mergeable buffers
    /// (virtio_net_receive_rcu: <c>if (n->mergeable_rx_bufs)</c> … <c>if (mhdr_cnt)</c>), so the guest's bytes stay,
    /// while used.len still counts the 12-byte header (guest_hdr_len).</summary>
    public const string NumBuffersUnwritten = "rx-num-buffers-unwritten";

    /// <summary>True when byte <paramref name="offset"/> of a receive buffer may differ: the two bytes of
    /// num_buffers (<see cref="NumBuffersUnwritten"/>).</summary>
    public static bool ExplainsReceivedByte(int offset) =>
        offset is NetSpec.HeaderNumBuffersOffset or NetSpec.HeaderNumBuffersOffset + 1;
}
