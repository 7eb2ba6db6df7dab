using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// <c>response/blk-broke-well-formed</c> (robust virtio-blk): when the device breaks for a malformed request, the
/// chain it popped last must be malformed by QEMU's rules (hw/block/virtio-blk.c virtio_blk_handle_request:
/// <c>out_num &lt; 1 || in_num &lt; 1</c> "missing headers"; fewer than 16 readable bytes "outhdr too short"; a last
/// writable iovec shorter than the 1-byte status "inhdr too short"). Before, a device that broke on a well-formed
/// request was judged by nothing: the response model judges completions, and liveness owes nothing once the device is
/// broken. The chain is the one at <c>last_avail_idx − 1</c>, walked as the pop walked it
/// (<see cref="ChainReference"/>: one iovec per guest region a descriptor spans, as QEMU's virtqueue_map_desc): the
/// device writes nothing between that pop and the break, so guest memory still holds what the pop read.
/// </summary>
internal sealed class BlkMalformedJudge
{
    /// <summary>The site reported.</summary>
    public const string Site = "response/blk-broke-well-formed";

    private static readonly string[] MalformedReasons =
    [
        "virtio-blk missing headers",
        "virtio-blk request outhdr too short",
        "virtio-blk request inhdr too short",
    ];

    private readonly ChainReference _chain = new();
    private VirtioBlkDevice? _device;
    private bool _wasBroken;

    /// <summary>Starts judging <paramref name="device"/> when it is a robust blk device (one execution).</summary>
    public void Begin(Sim.Devices.Virtio.Transport.VirtioDevice device, Sim.Devices.Flavour flavour)
    {
        _device = flavour == Sim.Devices.Flavour.Robust && device is VirtioBlkDevice blk ? blk : null;
        _wasBroken = device.IsBroken;
    }

    /// <summary>After a device-side op: judges a break for a malformed request that happened during it.</summary>
    public void AfterOp(GuestMemory memory, FuzzContext context)
    {
        if (_device is null)
            return;
        bool broken = _device.IsBroken;
        bool fresh = broken && !_wasBroken;
        _wasBroken = broken;
        if (!fresh || Array.IndexOf(MalformedReasons, _device.BrokenReason) < 0)
            return;
        SplitQueue q = _device.GetQueue(0);
        if (!q.Ready || q.Size == 0)
            return;
        int slot = (q.NextAvail.Value + q.Size - 1) & (q.Size - 1);
        ulong at = q.AvailRing.Value + 4 + (2UL * Sim.Engine.Narrow.AsUInt64Bits(slot));
        Span<byte> word = stackalloc byte[2];
        if (!memory.TryRead(new GuestAddress(at), word))
            return;
        ushort head = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(word);
        if (head >= q.Size || _chain.Classify(memory, q.DescTable.Value, q.Size, head) != QueueError.None)
            return;
        string? verdict = Verdict(_chain.Out, _chain.In);
        if (verdict is not null)
            return;
        context.Report(
            ResponseOracle.Oracle,
            Site,
            $"the device broke (\"{_device.BrokenReason}\") on head {head}, a well-formed request: "
                + $"{_chain.Out.Count} readable iovecs ({Bytes(_chain.Out)} bytes), {_chain.In.Count} writable, "
                + $"the last {_chain.In[^1].Len} bytes long"
        );
    }

    /// <summary>QEMU virtio_blk_handle_request's malformed checks, in its order; null when the request passes
    /// them.</summary>
    internal static string? Verdict(IReadOnlyList<Iovec> readable, IReadOnlyList<Iovec> writable)
    {
        ArgumentNullException.ThrowIfNull(readable);
        ArgumentNullException.ThrowIfNull(writable);
        if (readable.Count < 1 || writable.Count < 1)
            return MalformedReasons[0];
        if (Bytes(readable) < Sim.Spec.Blk.BlkSpec.OutHeaderSize)
            return MalformedReasons[1];
        if (writable[^1].Len < Sim.Spec.Blk.BlkSpec.InHeaderSize)
            return MalformedReasons[2];
        return null;
    }

    private static ulong Bytes(IReadOnlyList<Iovec> iovecs)
    {
        ulong sum = 0;
        foreach (Iovec v in iovecs)
            sum += v.Len;
        return sum;
    }
}
