using System.Buffers.Binary;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;

namespace Virtsim.Fuzz.Targets;

// What the driver must write for an indirect chain, judged against the spec rather than against the other lane:
// DriverQueue.TryAddIndirect has no fast twin, so both lanes run the same code and a wrong table passes the lane
// comparison (issue 12 mutation sample: the table's NEXT flag dropped survived 60 s).
internal sealed partial class DriverQueueTarget
{
    /// <summary>The oracle of the driver's own stores judged against the spec (not against the other lane).</summary>
    public const string SpecOracle = "driver-spec";

    private bool _indirectAdded;
    private ushort _indirectHead;

    /// <summary>After a successful indirect add on the reference lane: the ring descriptor at the head is
    /// {table, 16 × n, INDIRECT} and the table holds the n buffers in order, readable before writable, each with WRITE
    /// exactly when writable and NEXT (with next = i + 1) on all but the last (VIRTIO 1.2 §2.7.5.3.1: "The driver MUST
    /// NOT set the VIRTQ_DESC_F_INDIRECT flag within an indirect descriptor"; §2.7.5: next is valid only with NEXT;
    /// Linux virtqueue_add_split with an indirect table); and the head's writable bytes are the writable buffers'
    /// lengths summed.</summary>
    private bool IndirectAsSpec(FuzzContext context, int readable, int writable, int table)
    {
        if (!_indirectAdded)
            return true;
        int n = readable + writable;
        var at = new GuestAddress(TableBase + (ulong)(table * TableStride));
        Span<byte> d = stackalloc byte[VirtioSpec.DescSize];
        if (!_refMemory.TryRead(_layout.Desc(_indirectHead), d))
            throw new InvalidOperationException("driver-queue: descriptor table outside the target's memory");
        if (
            BinaryPrimitives.ReadUInt64LittleEndian(d) != at.Value
            || BinaryPrimitives.ReadUInt32LittleEndian(d[8..]) != (uint)(n * VirtioSpec.DescSize)
            || BinaryPrimitives.ReadUInt16LittleEndian(d[12..]) != VirtioSpec.DescFIndirect
        )
        {
            return SpecFail(
                context,
                $"ring descriptor {_indirectHead} is not {{table 0x{at.Value:x}, {n * 16}, INDIRECT}}"
            );
        }
        for (int i = 0; i < n; i++)
        {
            GuestBuffer b = i < readable ? _readable[i] : _writable[i - readable];
            if (!_refMemory.TryRead(new GuestAddress(at.Value + (ulong)(i * VirtioSpec.DescSize)), d))
                throw new InvalidOperationException("driver-queue: indirect table outside the target's memory");
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            bool last = i == n - 1;
            int want = (i >= readable ? VirtioSpec.DescFWrite : 0) | (last ? 0 : VirtioSpec.DescFNext);
            if (
                BinaryPrimitives.ReadUInt64LittleEndian(d) != b.Addr.Value
                || BinaryPrimitives.ReadUInt32LittleEndian(d[8..]) != b.Len
                || flags != want
                || (!last && BinaryPrimitives.ReadUInt16LittleEndian(d[14..]) != i + 1)
            )
            {
                return SpecFail(
                    context,
                    $"indirect entry {i} of {n} (flags 0x{flags:x}, want 0x{want:x}) is not buffer {i} as added"
                );
            }
        }
        // The chain's writable bytes, which a driver bounds used.len by (Linux virtio_ring keeps no such count; the
        // model's drivers do): the sum of the writable buffers' lengths, saturating at 2^32 - 1.
        ulong sum = 0;
        for (int i = 0; i < writable; i++)
            sum = Math.Min(uint.MaxValue, sum + _writable[i].Len);
        if (_ref.WritableBytes(_indirectHead) != sum)
        {
            return SpecFail(context, $"the chain's writable bytes are {_ref.WritableBytes(_indirectHead)}, not {sum}");
        }
        return true;
    }

    private static bool SpecFail(FuzzContext context, string message)
    {
        context.Report(
            SpecOracle,
            "driver-spec/indirect-table",
            "TryAddIndirect wrote a table against the spec: " + message
        );
        return false;
    }
}
