using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Queue;

public sealed partial class SplitQueue
{
    /// <summary>
    /// QEMU virtqueue_get_avail_bytes on a split ring (hw/virtio/virtio.c virtqueue_split_get_avail_bytes, QEMU 7.2 and
    /// current): walks every available chain from last_avail_idx without popping, and sums the device-writable
    /// (<paramref name="inBytes"/>) and device-readable (<paramref name="outBytes"/>) lengths until
    /// <paramref name="inBytes"/> reaches <paramref name="inBytesMax"/>. Devices that size a request before popping
    /// call it (virtio-rng get_request_size, virtio-net's receive-buffer check). Its checks are QEMU's, in QEMU's
    /// order, and differ from a pop's: avail.idx more than a queue ahead ("Guest moved used index"), a head out of
    /// range, an indirect table of bad length or outside memory, a next index out of range, and a descriptor count
    /// that is <b>cumulative over the direct chains</b> — more direct descriptors in all available chains than the
    /// queue has means a descriptor is listed twice, so "Looped descriptor" even when each chain alone is sound.
    /// Buffers are not mapped (no zero-length or memory check: the pop does those). Returns the error that would
    /// break the device, or <see cref="QueueError.None"/>; on an error both sums are 0 (QEMU's <c>err:</c> label).
    /// Bound: at most size heads, each walk at most its table's size + 1 descriptors.
    /// </summary>
    public QueueError GetAvailBytes(GuestMemory memory, uint inBytesMax, out uint inBytes, out uint outBytes)
    {
        ArgumentNullException.ThrowIfNull(memory);
        inBytes = 0;
        outBytes = 0;
        if (!Ready)
            return QueueError.None;
        uint inTotal = 0,
            outTotal = 0;
        int totalBufs = 0;
        RingIndex idx = NextAvail;
        while (true)
        {
            int heads = RingIndex.Distance(idx, ReadAvailIdx(memory));
            if (heads > _size)
                return QueueError.AvailIndexTooFar;
            if (heads == 0)
                break;
            ushort head = MemoryRing.ReadAvailEntry(this, memory, idx.Slot(_size));
            idx = idx.Next;
            if (head >= _size)
                return QueueError.HeadOutOfRange;
            QueueError error = SumChain(
                memory,
                head,
                ref totalBufs,
                ref inTotal,
                ref outTotal,
                inBytesMax,
                out bool done
            );
            if (error != QueueError.None)
                return error;
            if (done)
                break;
        }
        inBytes = inTotal;
        outBytes = outTotal;
        return QueueError.None;
    }

    /// <summary>One chain of <see cref="GetAvailBytes"/>: adds its lengths (32-bit sums, as QEMU's unsigned int) and
    /// its descriptors to <paramref name="totalBufs"/> (a direct chain's count carries over to the next chain, an
    /// indirect chain counts as one); <paramref name="done"/> when <paramref name="inBytesMax"/> was reached.</summary>
    private QueueError SumChain(
        GuestMemory memory,
        ushort head,
        ref int totalBufs,
        ref uint inTotal,
        ref uint outTotal,
        uint inBytesMax,
        out bool done
    )
    {
        done = false;
        if (!TryReadDescriptor(memory, _descTable, head, out Descriptor d))
            return QueueError.DescTableOutsideMemory;
        int max = _size;
        int numBufs = totalBufs;
        GuestAddress table = _descTable;
        bool indirect = d.IsIndirect;
        if (indirect)
        {
            if (d.Len == 0 || d.Len % VirtioSpec.DescSize != 0)
                return QueueError.IndirectBadLength;
            if (numBufs >= max)
                return QueueError.LoopedChain;
            if (d.Len / VirtioSpec.DescSize > QueueLimits.IndirectDescriptorsMax)
                return QueueError.IndirectTooLarge;
            if (!memory.IsValidRange(d.Addr, d.Len))
                return QueueError.IndirectTableOutsideMemory;
            table = d.Addr;
            max = checked((int)(d.Len / VirtioSpec.DescSize));
            numBufs = 0;
            if (!TryReadDescriptor(memory, table, 0, out d))
                return QueueError.IndirectTableOutsideMemory;
        }
        while (true)
        {
            // QEMU: "If we've got too many, that implies a descriptor loop" (++num_bufs > max).
            if (++numBufs > max)
                return QueueError.LoopedChain;
            if (d.IsWriteOnly)
                inTotal = Add32(inTotal, d.Len);
            else
                outTotal = Add32(outTotal, d.Len);
            if (inTotal >= inBytesMax)
            {
                done = true;
                return QueueError.None;
            }
            if (!d.HasNext)
                break;
            if (d.Next >= max)
                return QueueError.NextOutOfRange;
            if (!TryReadDescriptor(memory, table, d.Next, out d))
            {
                return indirect ? QueueError.IndirectTableOutsideMemory : QueueError.DescTableOutsideMemory;
            }
        }
        totalBufs = indirect ? totalBufs + 1 : numBufs;
        return QueueError.None;
    }

    /// <summary>QEMU's <c>unsigned int</c> sum: wraps at 2^32.</summary>
    private static uint Add32(uint total, uint len) => Narrow.LowUInt32(total + (ulong)len);
}
