using System.Buffers.Binary;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;

namespace Virtsim.Fuzz.Targets;

// What the driver must do for a direct chain (the span TryAdd) and for any single add, judged against the spec rather
// than against the other lane: the span TryAdd has no batch twin (both lanes run the same body, only its final stores
// take the window or the accessors), so a chain written wrong, an add refused with room or bookkeeping gone astray
// passes the lane comparison (issue 12, driver mutation sample of branch h/t12rd).
internal sealed partial class DriverQueueTarget
{
    private int _addFreeBefore;
    private int _addOutstandingBefore;
    private bool _addBrokenBefore;
    private RingIndex _addAvailBefore;
    private bool _chainAdded;
    private ushort _chainHead;

    /// <summary>Single adds judged by <see cref="AddAsSpec"/> since the target was made (tests: the check
    /// ran).</summary>
    internal int AddsJudged { get; private set; }

    /// <summary>Direct chains judged descriptor by descriptor by <see cref="ChainAsSpec"/>.</summary>
    internal int ChainsJudged { get; private set; }

    /// <summary>The reference lane's state before a single add (op 2 or 3), which the add is judged against.</summary>
    private void NoteBeforeAdd()
    {
        _addFreeBefore = _ref.FreeCount;
        _addOutstandingBefore = _ref.Outstanding;
        _addBrokenBefore = _ref.Broken;
        _addAvailBefore = _ref.AvailIdx;
    }

    /// <summary>After a single add on the reference lane (op 2: the span TryAdd of <paramref name="readable"/> +
    /// <paramref name="writable"/> buffers; op 3: TryAddIndirect, one ring descriptor): the answer is success exactly
    /// when the queue is not broken and holds enough free descriptors (Linux virtqueue_add_split: -ENOSPC only when
    /// num_free &lt; descs_used; -EIO when broken); a success takes exactly that many descriptors, makes the head
    /// outstanding and puts it in the available ring's next slot (avail->ring[avail_idx_shadow &amp; (num − 1)] = head,
    /// avail_idx_shadow++; VIRTIO 1.2 §2.7.13.2); a refusal changes nothing. For op 2, the chain's descriptors are
    /// judged by <see cref="ChainAsSpec"/>.</summary>
    private bool AddAsSpec(FuzzContext context, int op, int readable, int writable)
    {
        AddsJudged++;
        bool added = op == 2 ? _chainAdded : _indirectAdded;
        ushort head = op == 2 ? _chainHead : _indirectHead;
        int take = op == 2 ? readable + writable : 1;
        bool room = !_addBrokenBefore && take <= _addFreeBefore;
        if (added != room)
        {
            return AddFail(
                context,
                $"{Labels[op]} of {take} descriptor(s) {(added ? "succeeded" : "was refused")} with "
                    + $"{_addFreeBefore} free (broken: {_addBrokenBefore})"
            );
        }
        int free = added ? _addFreeBefore - take : _addFreeBefore;
        int outstanding = added ? _addOutstandingBefore + 1 : _addOutstandingBefore;
        RingIndex avail = added ? _addAvailBefore.Next : _addAvailBefore;
        if (_ref.FreeCount != free || _ref.Outstanding != outstanding || _ref.AvailIdx != avail)
        {
            return AddFail(
                context,
                $"after {Labels[op]} ({(added ? "added" : "refused")}) free {_ref.FreeCount}, outstanding "
                    + $"{_ref.Outstanding}, avail {_ref.AvailIdx}; must be {free}, {outstanding}, {avail}"
            );
        }
        if (!added)
            return true;
        Span<byte> entry = stackalloc byte[sizeof(ushort)];
        if (!_refMemory.TryRead(_layout.AvailEntry(_addAvailBefore.Slot(_layout.Size)), entry))
            throw new InvalidOperationException("driver-queue: available ring outside the target's memory");
        ushort slot = BinaryPrimitives.ReadUInt16LittleEndian(entry);
        if (head >= _layout.Size || slot != head || !_ref.IsOutstanding(head))
        {
            return AddFail(
                context,
                $"{Labels[op]} answered head {head}; the available ring's slot {_addAvailBefore.Slot(_layout.Size)} "
                    + $"holds {slot}, outstanding: {_ref.IsOutstanding(head)}"
            );
        }
        return op != 2 || ChainAsSpec(context, readable, writable);
    }

    /// <summary>After a successful span TryAdd on the reference lane: the chain from the head is the added buffers in
    /// order, readable before writable, WRITE exactly on the writable ones, NEXT on all but the last, each next naming
    /// the following descriptor (VIRTIO 1.2 §2.7.5, §2.7.13.1; Linux virtqueue_add_split, direct); no descriptor of
    /// it is twice in the chain or in another outstanding chain (the driver takes free descriptors only: VIRTIO 1.2
    /// §2.7.13.1, the device owns a chain until it is used); and the head's writable bytes are the writable buffers'
    /// lengths summed.</summary>
    private bool ChainAsSpec(FuzzContext context, int readable, int writable)
    {
        ChainsJudged++;
        int n = readable + writable;
        // One bit per descriptor of the other outstanding chains (the large queue's 16384: 2 KiB).
        Span<ulong> others = stackalloc ulong[(_layout.Size + 63) / 64];
        MarkOtherChains(others);
        Span<ushort> chain = stackalloc ushort[ChainMax * 2];
        Span<byte> d = stackalloc byte[VirtioSpec.DescSize];
        int index = _chainHead;
        for (int i = 0; i < n; i++)
        {
            if (chain[..i].Contains(AsIndex(index)) || (others[index >> 6] & (1UL << (index & 63))) != 0)
                return ChainFail(context, $"descriptor {index} (entry {i} of {n}) is already in use");
            chain[i] = AsIndex(index);
            ReadDescriptor(index, d);
            GuestBuffer b = i < readable ? _readable[i] : _writable[i - readable];
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            bool last = i == n - 1;
            int want = (i >= readable ? VirtioSpec.DescFWrite : 0) | (last ? 0 : VirtioSpec.DescFNext);
            if (
                BinaryPrimitives.ReadUInt64LittleEndian(d) != b.Addr.Value
                || BinaryPrimitives.ReadUInt32LittleEndian(d[8..]) != b.Len
                || flags != want
            )
            {
                return ChainFail(
                    context,
                    $"descriptor {index} (entry {i} of {n}, flags 0x{flags:x}, want 0x{want:x}) "
                        + $"is not buffer {i} as added"
                );
            }
            index = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
            if (!last && index >= _layout.Size)
                return ChainFail(context, $"entry {i} of {n} names next {index}, outside the table");
        }
        ulong sum = 0;
        for (int i = 0; i < writable; i++)
            sum = Math.Min(uint.MaxValue, sum + _writable[i].Len);
        if (_ref.WritableBytes(_chainHead) != sum)
            return ChainFail(context, $"the chain's writable bytes are {_ref.WritableBytes(_chainHead)}, not {sum}");
        return true;
    }

    /// <summary>Sets a bit for every descriptor of every outstanding chain but the one just added, walked in the
    /// reference lane's table (only the driver writes the table; an indirect head is one descriptor).</summary>
    private void MarkOtherChains(Span<ulong> bits)
    {
        Span<byte> d = stackalloc byte[VirtioSpec.DescSize];
        for (int h = 0; h < _layout.Size; h++)
        {
            if (h == _chainHead || !_ref.IsOutstanding(AsIndex(h)))
                continue;
            int index = h;
            for (int steps = 0; steps < _layout.Size && index < _layout.Size; steps++)
            {
                bits[index >> 6] |= 1UL << (index & 63);
                ReadDescriptor(index, d);
                if ((BinaryPrimitives.ReadUInt16LittleEndian(d[12..]) & VirtioSpec.DescFNext) == 0)
                    break;
                index = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
            }
        }
    }

    /// <summary>The reference lane's state before EnableCallbacksDelayed (op 12), which its answer is judged
    /// against.</summary>
    private (RingIndex LastUsed, RingIndex Avail, bool Broken, bool Answer) _delayed;

    /// <summary>After EnableCallbacksDelayed on the reference lane: Linux virtqueue_enable_cb_delayed_split — bufs =
    /// (u16)(avail_idx_shadow − last_used_idx) × 3 / 4; used_event = last_used_idx + bufs; false exactly when
    /// (u16)(used->idx − last_used_idx) &gt; bufs (more than bufs already used: the caller must poll again), and
    /// callbacks on (VIRTIO 1.2 §2.7.10: with VIRTIO_F_EVENT_IDX the device interrupts once used.idx passes
    /// used_event). A broken queue answers true (the model's drivers then stop reaping).</summary>
    private bool EnableDelayedAsSpec(FuzzContext context)
    {
        (RingIndex lastUsed, RingIndex avail, bool broken, bool answer) = _delayed;
        int bufs = RingIndex.Distance(lastUsed, avail) * 3 / 4;
        ushort wantEvent = lastUsed.Add(bufs).Value;
        Span<byte> word = stackalloc byte[sizeof(ushort)];
        if (!_refMemory.TryRead(_layout.UsedEvent, word))
            throw new InvalidOperationException("driver-queue: available ring outside the target's memory");
        ushort usedEvent = BinaryPrimitives.ReadUInt16LittleEndian(word);
        if (!_refMemory.TryRead(_layout.UsedIdx, word))
            throw new InvalidOperationException("driver-queue: used ring outside the target's memory");
        var usedIdx = new RingIndex(BinaryPrimitives.ReadUInt16LittleEndian(word));
        bool want = broken || RingIndex.Distance(lastUsed, usedIdx) <= bufs;
        if (answer == want && usedEvent == wantEvent && _ref.CallbacksEnabled)
            return true;
        context.Report(
            SpecOracle,
            "driver-spec/enable-delayed",
            $"EnableCallbacksDelayed answered {answer}, stored used_event {usedEvent}, callbacks "
                + $"{(_ref.CallbacksEnabled ? "on" : "off")}; Linux virtqueue_enable_cb_delayed_split: {want}, "
                + $"{wantEvent} (last used {lastUsed.Value} + {bufs}), on (used.idx {usedIdx.Value})"
        );
        return false;
    }

    private void ReadDescriptor(int index, Span<byte> d)
    {
        if (!_refMemory.TryRead(_layout.Desc(index), d))
            throw new InvalidOperationException("driver-queue: descriptor table outside the target's memory");
    }

    private static ushort AsIndex(int index) => checked((ushort)index);

    private static bool AddFail(FuzzContext context, string message)
    {
        context.Report(SpecOracle, "driver-spec/add", "a single add broke the driver's contract: " + message);
        return false;
    }

    private static bool ChainFail(FuzzContext context, string message)
    {
        context.Report(SpecOracle, "driver-spec/direct-chain", "TryAdd wrote a chain against the spec: " + message);
        return false;
    }
}
