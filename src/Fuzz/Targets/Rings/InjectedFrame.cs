using Sim.Engine;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The frame of a <see cref="RingInput.OpInjectFrame"/> operation (virtio-net targets): the same bytes on the model
/// targets and on real QEMU (whose socket netdev receives it as one datagram). Length: the op's length field
/// (<see cref="RingInput.Length"/>, boundary biased) clamped to [1, <see cref="BytesMax"/>] (QEMU's socket netdev takes
/// a zero-length datagram for the end of the connection, net_socket_send). Content: a broadcast destination (QEMU
/// 7.2 is promiscuous after reset anyway, receive_filter), a locally administered source address from the raw address
/// field, ethertype 0x88b5 (IEEE 802 local experimental) and a payload that counts up from the op's index byte; a
/// frame shorter than 14 bytes is that prefix.
/// </summary>
internal static class InjectedFrame
{
    /// <summary>Longest injected frame (the source link's largest frame; any receive chain an input builds is
    /// shorter, so a frame that does not fit is reachable).</summary>
    public const int BytesMax = 4096;

    /// <summary>The frame <paramref name="op"/> injects.</summary>
    public static byte[] From(in RingInput.Op op)
    {
        int length = (int)Math.Clamp(op.Len, 1u, (uint)BytesMax);
        var frame = new byte[length];
        ulong source = op.RawAddr;
        for (int i = 0; i < length; i++)
        {
            frame[i] = i switch
            {
                < 6 => 0xFF,
                // The first source byte: unicast (bit 0 clear), locally administered (bit 1 set).
                6 => Narrow.LowByte((source & 0xFC) | 0x02),
                < 12 => Narrow.LowByte(source >> (8 * (i - 6))),
                12 => 0x88,
                13 => 0xB5,
                _ => Narrow.LowByte(op.Index + i),
            };
        }
        return frame;
    }
}
