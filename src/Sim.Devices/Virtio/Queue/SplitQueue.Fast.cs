using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Queue;

// The fast paths of SplitQueue (issue 11 section 3, STYLE item 19: a fast path names its reference and the test that
// proves it equal). Each runs only while no observer watches the memory the queue was enabled on (Direct), and must
// give exactly its reference's results, errors, queue indices, guest memory bytes and dirty pages. Observed runs
// (trace recording, the fuzzer's checkers) always take the references, and the fuzzer's FastPathDifferential oracle
// (src/Fuzz/Oracles) runs each clean input again unobserved, through these, and compares everything the guest sees.
//
// The reference chain walk is TryWalkTable (SplitQueue.cs): the one general walk, which every observed pop, every
// indirect chain and every chain the fast walk declines goes through.
//
// - TryPopBatchDirect (the unobserved TryPopBatch) must equal a loop of TryPop<MemoryRing>.
//   Proved by BatchDifferentialTests.Property_PopBatch_MatchesSequentialPops (and its avail_event Spec_2_7_10 case).
// - TryWalkDirectPair (a direct server's kick records the chains it accepts instead of filling their elements) must
//   accept only chains TryWalkDirectFast accepts, with the same head and buffers.
//   Proved by KickDifferentialTests.Property_DirectServer_MatchesElementServer.
// - TryWalkDirectFast must equal TryWalkTable on every chain it accepts (a direct chain whose buffers all lie in the
//   descriptor table's region); it declines every other chain, which the caller then walks with TryWalkTable.
//   Proved by ChainWalkDifferentialTests.Property_FusedPopWalk_MatchesChainModel and BatchDifferentialTests.
// - WindowRing (the ring accesses of TryPop<WindowRing>) must equal MemoryRing (SplitQueue.cs).
//   Proved by RingWindowPathTests.WindowPath_MatchesObservedAccessorPath and ChainWalkDifferentialTests.
// - FillBatchDirect (the unobserved FillBatch) must equal a loop of Fill.
//   Proved by FillBatchTests and BatchDifferentialTests.
// - AddUsedAndSignalDirect (the unobserved AddUsedAndSignal) must equal FillBatch, Flush, ShouldNotify in turn.
//   Proved by BatchDifferentialTests.Property_PopBatch_MatchesSequentialPops (its completions) and fuzzed by the
//   split-virtqueue target's batch completions.
// - PopServeAndSignalDirect, the unobserved PopServeAndSignal (a whole kick: TryPopBatchDirect, the server, then
//   CompleteKickDirect), lives in SplitQueue.Kick.cs, whose header names its reference and test.
//
// Change a reference and its fast path together; a new fast path gets an entry here and a differential test.
public sealed partial class SplitQueue
{
    /// <summary>
    /// The unobserved body of <see cref="TryPopBatch"/>: the steps of TryPop&lt;WindowRing&gt;, in the same order, with
    /// the indices in locals across the batch (stored back before a chain needs the general walk, and at the end) and
    /// the rings read through <paramref name="rings"/> (<see cref="TakeRings"/>: every offset below is inside them by
    /// construction, as slots are masked to the size and heads and next links are checked against it, so the reads
    /// need no per-access bounds check). Inlined into its two callers (the batch pop and the fused kick),
    /// so a kick's pop pays no call and no second set-up of the caller's state.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryPopBatchDirect<TAvailEvent>(
        GuestMemory memory,
        scoped in RingRefs rings,
        ReadOnlySpan<QueueElement> elements,
        out int popped,
        out QueueError error
    )
        where TAvailEvent : struct, IAvailEventPolicy
    {
        int size = _size;
        ref byte avail = ref rings.Avail;
        ref byte table = ref rings.Table;
        int mask = unchecked(size - 1);
        // avail_event: inside the used ring
        ref byte availEvent = ref Unsafe.Add(ref rings.Used, _availEventOffset);
        bool wroteAvailEvent = false;
        ulong regionBase = _tableRegionBase;
        ulong regionSize = _tableRegionSize;
        ushort next = NextAvail.Value;
        ushort shadow = ShadowAvail.Value;
        // The chains in use are InUse + count throughout (each pop adds one to both), so the loop keeps only the
        // room left (QEMU virtqueue_pop's "Virtqueue size exceeded" check: inUse >= size is count >= room): one live
        // value fewer in the loop, whose state the JIT otherwise spills (issue 13 section 5).
        int room = size - InUse;
        int count = 0;
        error = QueueError.None;
        for (; count < elements.Length; count = unchecked(count + 1)) // unchecked: count < elements.Length
        {
            QueueElement element = elements[count];
            ArgumentNullException.ThrowIfNull(element, nameof(elements));
            if (shadow == next)
            {
                ushort availIdx = RingBytes.ReadLe16(ref avail, VirtioSpec.AvailIdxOffset);
                // QEMU virtqueue_num_heads: "Guest moved used index from %u to %u".
                if (unchecked((ushort)(availIdx - next)) > size)
                {
                    error = QueueError.AvailIndexTooFar;
                    break;
                }
                shadow = availIdx;
                if (availIdx == next)
                    break;
            }
            if (count >= room)
            {
                error = QueueError.SizeExceeded;
                break;
            }
            // QEMU virtqueue_get_head: the index advances first. unchecked: the slot is masked to the size.
            int head = RingBytes.ReadLe16(
                ref avail,
                unchecked(VirtioSpec.AvailRingOffset + ((next & mask) * VirtioSpec.AvailElemSize))
            );
            next = unchecked((ushort)(next + 1));
            if (head >= size)
            {
                error = QueueError.HeadOutOfRange;
                break;
            }
            if (TAvailEvent.Publish)
            {
                // QEMU vring_set_avail_event, stored at once (the walk may read it where the rings overlap); its page
                // is marked dirty after the loop.
                RingBytes.WriteLe16(ref availEvent, 0, next);
                wroteAvailEvent = true;
            }
            if (!TryWalkDirectFast(ref table, size, regionBase, regionSize, element, head))
            {
                NextAvail = new RingIndex(next);
                ShadowAvail = new RingIndex(shadow);
                InUse = size - room + count;
                if (!TryWalkChainGeneral<WindowRing>(memory, element, unchecked((ushort)head), out error))
                    break;
            }
        }
        StoreAvailState(next, shadow, size - room + count, wroteAvailEvent);
        popped = count;
        return error == QueueError.None;
    }

    /// <summary>One chain of a direct server's kick (<see cref="TryPopDirectChains"/>): its head and the buffers
    /// <see cref="TryWalkDirectPair"/> proved inside the table's region, as offsets into it (a length of 0: no such
    /// buffer).</summary>
    private struct KickChain
    {
        public int OutOffset;
        public uint OutLen;
        public int InOffset;
        public uint InLen;
        public ushort Head;
    }

    /// <summary>
    /// The chains a direct server takes (<see cref="IChainServer.ServeDirect"/>): a direct chain of one readable
    /// buffer, one writable buffer, or one readable then one writable, each inside the table's region, recorded in
    /// <paramref name="chain"/>. Every chain it accepts, <see cref="TryWalkDirectFast"/> accepts too, with the same
    /// head and buffers (the same checks, of which this makes each one that a chain of these shapes meets), so it
    /// equals <see cref="TryWalkTable"/> through that walk's proof; it declines (false, <paramref name="chain"/>
    /// unspecified) every other chain, which the caller then walks into its element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryWalkDirectPair(
        ref byte table,
        int size,
        ulong regionBase,
        ulong regionSize,
        int head,
        ref KickChain chain
    )
    {
        // 0 <= head < size: inside the table. unchecked: head * 16 < 2^19.
        int at = unchecked(head * VirtioSpec.DescSize);
        ulong addr = RingBytes.ReadLe64(ref table, at);
        ulong high = RingBytes.ReadLe64(ref table, unchecked(at + VirtioSpec.DescLenOffset));
        uint len = unchecked((uint)high);
        int flags = unchecked((ushort)(high >> ((VirtioSpec.DescFlagsOffset - VirtioSpec.DescLenOffset) * 8)));
        // TryWalkDirectFast's checks of a first descriptor: not indirect, not empty, inside the region (the loop check
        // holds: 0 < size).
        if ((flags & VirtioSpec.DescFIndirect) != 0 || len == 0)
            return false;
        // unchecked: written not to overflow, as in GuestMemory.TryLocate.
        ulong offset = unchecked(addr - regionBase);
        if (len > regionSize || offset > unchecked(regionSize - len))
            return false;
        chain.Head = unchecked((ushort)head);
        if ((flags & VirtioSpec.DescFWrite) != 0)
        {
            // One writable buffer; a longer chain goes to the element walk.
            chain.OutLen = 0;
            chain.InOffset = Narrow.LowInt32(offset); // < region size <= 2^30
            chain.InLen = len;
            return (flags & VirtioSpec.DescFNext) == 0;
        }
        chain.OutOffset = Narrow.LowInt32(offset);
        chain.OutLen = len;
        chain.InLen = 0;
        if ((flags & VirtioSpec.DescFNext) == 0)
            return true;
        // The second descriptor: a link inside the table, and room for a second buffer (the loop check: 1 < size).
        int index = unchecked((ushort)(high >> ((VirtioSpec.DescNextOffset - VirtioSpec.DescLenOffset) * 8)));
        if (index >= size || size < 2)
            return false;
        at = unchecked(index * VirtioSpec.DescSize);
        addr = RingBytes.ReadLe64(ref table, at);
        high = RingBytes.ReadLe64(ref table, unchecked(at + VirtioSpec.DescLenOffset));
        len = unchecked((uint)high);
        flags = unchecked((ushort)(high >> ((VirtioSpec.DescFlagsOffset - VirtioSpec.DescLenOffset) * 8)));
        // Writable, the last, not indirect, not empty, inside the region: else the element walk takes the chain.
        const int Shape = VirtioSpec.DescFIndirect | VirtioSpec.DescFWrite | VirtioSpec.DescFNext;
        if ((flags & Shape) != VirtioSpec.DescFWrite || len == 0)
            return false;
        offset = unchecked(addr - regionBase);
        if (len > regionSize || offset > unchecked(regionSize - len))
            return false;
        chain.InOffset = Narrow.LowInt32(offset);
        chain.InLen = len;
        return true;
    }

    /// <summary>
    /// <see cref="TryPopBatchDirect"/> for a direct server's kick (<see cref="PopServeDirectChains"/>): the same steps
    /// in the same order, except that each chain <see cref="TryWalkDirectPair"/> accepts is recorded in
    /// <paramref name="chains"/> (the first of at least min(elements, size) records; its element is left as it
    /// was). At the first chain it declines (already taken from the available ring, not yet walked) the loop stops
    /// with its state stored in the queue's fields, and <see cref="PopDeclinedThenElements"/> walks that chain into
    /// its element and pops the rest of the batch with <see cref="TryPopBatchDirect"/>, as the loop would have gone
    /// on. Returns how many chains were recorded (the first ones popped); <paramref name="popped"/> counts them all.
    /// Its loop holds only the available ring's state and the short walk, so that more of it stays in registers
    /// (issue 13 section 5); for the same reason its head-taking steps are TryPopBatchDirect's written out again, not
    /// a shared helper (one taking the indices by reference measured 1–2 % slower per request: they left registers).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int TryPopDirectChains<TAvailEvent>(
        GuestMemory memory,
        scoped in RingRefs rings,
        ReadOnlySpan<QueueElement> elements,
        ref KickChain chains,
        out int popped,
        out QueueError error
    )
        where TAvailEvent : struct, IAvailEventPolicy
    {
        int size = _size;
        ref byte avail = ref rings.Avail;
        ref byte table = ref rings.Table;
        ref byte availEvent = ref Unsafe.Add(ref rings.Used, _availEventOffset);
        bool wroteAvailEvent = false;
        ushort next = NextAvail.Value;
        ushort shadow = ShadowAvail.Value;
        int room = size - InUse; // as in TryPopBatchDirect
        int count = 0;
        int declined = -1; // the head of the chain the short walk declined
        error = QueueError.None;
        for (; count < elements.Length; count = unchecked(count + 1)) // unchecked: count < elements.Length
        {
            ArgumentNullException.ThrowIfNull(elements[count], nameof(elements));
            if (shadow == next)
            {
                ushort availIdx = RingBytes.ReadLe16(ref avail, VirtioSpec.AvailIdxOffset);
                if (unchecked((ushort)(availIdx - next)) > size)
                {
                    error = QueueError.AvailIndexTooFar;
                    break;
                }
                shadow = availIdx;
                if (availIdx == next)
                    break;
            }
            if (count >= room)
            {
                error = QueueError.SizeExceeded;
                break;
            }
            int head = RingBytes.ReadLe16(
                ref avail,
                unchecked(VirtioSpec.AvailRingOffset + ((next & (size - 1)) * VirtioSpec.AvailElemSize))
            );
            next = unchecked((ushort)(next + 1));
            if (head >= size)
            {
                error = QueueError.HeadOutOfRange;
                break;
            }
            if (TAvailEvent.Publish)
            {
                RingBytes.WriteLe16(ref availEvent, 0, next);
                wroteAvailEvent = true;
            }
            // count < room <= size, and the caller holds at least min(elements, size) records: no bounds check.
            ref KickChain chain = ref Unsafe.Add(ref chains, count);
            if (!TryWalkDirectPair(ref table, size, _tableRegionBase, _tableRegionSize, head, ref chain))
            {
                declined = head;
                break;
            }
        }
        StoreAvailState(next, shadow, size - room + count, wroteAvailEvent);
        popped =
            declined < 0 ? count : PopDeclinedThenElements<TAvailEvent>(memory, elements, count, declined, out error);
        return count;
    }

    /// <summary>The end of a batch pop: its indices and in-use count stored back, and avail_event's page marked dirty
    /// when the batch wrote it (its pops' stores go straight to the used ring's bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void StoreAvailState(ushort next, ushort shadow, int inUse, bool wroteAvailEvent)
    {
        if (wroteAvailEvent)
            _usedWindow.MarkWritten(_availEventOffset, VirtioSpec.UsedAvailEventSize);
        NextAvail = new RingIndex(next);
        ShadowAvail = new RingIndex(shadow);
        InUse = inUse;
    }

    /// <summary>The rest of <see cref="TryPopDirectChains"/> from the first chain its short walk declined
    /// (<paramref name="head"/>, popped from the available ring, to be walked into element <paramref name="count"/>):
    /// <see cref="TryPopBatchDirect"/>'s walk of it (the fast walk, else the general one), then, if that succeeded,
    /// <see cref="TryPopBatchDirect"/> over the remaining elements from the state in the queue's fields. Returns the
    /// chains popped in all. Out of line, so that the short loop does not carry the long walks' registers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int PopDeclinedThenElements<TAvailEvent>(
        GuestMemory memory,
        ReadOnlySpan<QueueElement> elements,
        int count,
        int head,
        out QueueError error
    )
        where TAvailEvent : struct, IAvailEventPolicy
    {
        RingRefs rings = TakeRings();
        QueueElement element = elements[count];
        error = QueueError.None;
        if (!TryWalkDirectFast(ref rings.Table, _size, _tableRegionBase, _tableRegionSize, element, head))
        {
            // InUse holds the chains in use before this one, as TryPopBatchDirect stores it before the general walk.
            if (!TryWalkChainGeneral<WindowRing>(memory, element, unchecked((ushort)head), out error))
                return count;
        }
        count = unchecked(count + 1); // < elements.Length
        InUse = InUse + 1;
        if (count == elements.Length)
            return count;
        _ = TryPopBatchDirect<TAvailEvent>(memory, rings, elements[count..], out int more, out error);
        return count + more;
    }

    /// <summary>Whether each pop of a batch publishes avail_event (a constant per compiled body of
    /// <see cref="TryPopBatchDirect"/>).</summary>
    private interface IAvailEventPolicy
    {
        static abstract bool Publish { get; }
    }

    /// <summary>EVENT_IDX negotiated and notifications on (§2.7.10).</summary>
    private readonly struct PublishAvailEvent : IAvailEventPolicy
    {
        public static bool Publish => true;
    }

    /// <summary>No avail_event stores.</summary>
    private readonly struct NoAvailEvent : IAvailEventPolicy
    {
        public static bool Publish => false;
    }

    /// <summary>The bytes of the three rings for one call of a fast body, taken from the queue's windows once
    /// (<see cref="TakeRings"/>) with their lengths asserted once: every offset those bodies use (a slot masked to the
    /// size, a checked head or next link, the event indices) then lies inside them by construction, so the accesses
    /// need no per-access bounds check and no per-call re-take of the windows.</summary>
    private readonly ref struct RingRefs
    {
        /// <summary>The available ring (flags, idx, ring, used_event).</summary>
        public readonly ref byte Avail;

        /// <summary>The descriptor table.</summary>
        public readonly ref byte Table;

        /// <summary>The used ring (flags, idx, ring, avail_event).</summary>
        public readonly ref byte Used;

        public RingRefs(ref byte avail, ref byte table, ref byte used)
        {
            Avail = ref avail;
            Table = ref table;
            Used = ref used;
        }
    }

    /// <summary>The rings' bytes for a fast body (unobserved, ready): the windows taken at enable for this size
    /// (ComputeAddresses), checked once here to cover the rings.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private RingRefs TakeRings()
    {
        int size = _size;
        ReadOnlySpan<byte> availBytes = _availWindow.Bytes;
        ReadOnlySpan<byte> descBytes = _descWindow.Bytes;
        Span<byte> usedBytes = _usedWindow.WritableBytes;
        // The rings end with their event fields (VIRTIO 1.2 §2.7.6, §2.7.8), whose offsets were taken at enable;
        // unchecked: size <= 32768, so 16 * size fits.
        // One branch for the three (each failed check's call site spilled the windows taken so far).
        Assert(
            (availBytes.Length == unchecked(_usedEventOffset + VirtioSpec.AvailUsedEventSize))
                & (descBytes.Length == unchecked(size * VirtioSpec.DescSize))
                & (usedBytes.Length == unchecked(_availEventOffset + VirtioSpec.UsedAvailEventSize)),
            "each ring's window covers its ring"
        );
        return new RingRefs(
            ref MemoryMarshal.GetReference(availBytes),
            ref MemoryMarshal.GetReference(descBytes),
            ref MemoryMarshal.GetReference(usedBytes)
        );
    }

    /// <summary>
    /// <see cref="TryWalkTable"/> of a direct chain for the case where it succeeds with every buffer inside the region
    /// that holds the descriptor table, reading descriptors through the table's window. The same checks in the same
    /// order, each answered only when it passes: false (element unspecified) at the first one that does not, or for
    /// a buffer elsewhere, and the caller then walks the chain with the general loop, which gives the answer. With
    /// no call in the loop its state stays in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryWalkDirectFast(
        ref byte table,
        int size,
        ulong regionBase,
        ulong regionSize,
        QueueElement element,
        int head
    )
    {
        // table: the descriptor table's window (16 * size bytes; the callers take it from _descWindow).
        Iovec[] iovecs = element.Iovecs;
        int index = head;
        int used = 0;
        int outCount = -1;
        ulong bytes = 0;
        ulong outBytes = 0;
        while (true)
        {
            // 0 <= index < size: inside the table. unchecked: index * 16 < 2^19.
            ulong addr = RingBytes.ReadLe64(ref table, unchecked(index * VirtioSpec.DescSize));
            ulong high = RingBytes.ReadLe64(
                ref table,
                unchecked((index * VirtioSpec.DescSize) + VirtioSpec.DescLenOffset)
            );
            uint len = unchecked((uint)high);
            int flags = unchecked((ushort)(high >> ((VirtioSpec.DescFlagsOffset - VirtioSpec.DescLenOffset) * 8)));
            if ((flags & VirtioSpec.DescFIndirect) != 0)
                return false;
            if ((flags & VirtioSpec.DescFWrite) != 0)
            {
                if (outCount < 0)
                {
                    outCount = used;
                    outBytes = bytes;
                }
            }
            else if (outCount >= 0)
            {
                return false;
            }
            if (len == 0)
                return false;
            // Inside the table's region (so IsValidRange holds, one iovec). unchecked: written not to overflow, as in
            // GuestMemory.TryLocate.
            if (len > regionSize || unchecked(addr - regionBase) > unchecked(regionSize - len))
                return false;
            // The loop check (yielded > table size) with yielded = used + 1: one iovec per descriptor here.
            if (used >= size || unchecked((uint)used) >= unchecked((uint)iovecs.Length))
                return false;
            iovecs[used] = new Iovec(new GuestAddress(addr), len);
            used = unchecked(used + 1); // < size <= 32768
            bytes = unchecked(bytes + len); // at most 32768 32-bit lengths
            if ((flags & VirtioSpec.DescFNext) == 0)
            {
                SetDirectElement(element, head, used, ref outCount, bytes, ref outBytes);
                return true;
            }
            index = unchecked((ushort)(high >> ((VirtioSpec.DescNextOffset - VirtioSpec.DescLenOffset) * 8)));
            if (index >= size)
                return false;
        }
    }

    /// <summary>The end of <see cref="TryWalkDirectFast"/>'s chain (no NEXT): the element's head and counts, as
    /// <see cref="TryWalkTable"/>'s StoreCounts and Finish leave them for a direct chain of <paramref name="used"/>
    /// descriptors, one iovec each (an all-readable chain has its out part end at the last buffer). The walk's state
    /// is passed by reference, so that once inlined it stays in the walk's own registers (by value, the copies cost
    /// a spill in the descriptor loop: measured in the JIT's code for PopServeAndSignalDirect).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetDirectElement(
        QueueElement element,
        int head,
        int used,
        ref int outCount,
        ulong bytes,
        ref ulong outBytes
    )
    {
        if (outCount < 0)
        {
            outCount = used;
            outBytes = bytes;
        }
        // unchecked: outCount <= used and outBytes <= bytes (taken when the first writable buffer came); head < size.
        element.Set(
            unchecked((ushort)head),
            outCount,
            unchecked(used - outCount),
            outBytes,
            unchecked(bytes - outBytes),
            used,
            indirect: false
        );
    }

    /// <summary>Ring accesses through the queue's windows (no observer watching). Descriptors come from the main
    /// table's window: only the direct walk uses this (an indirect walk reads through
    /// <see cref="MemoryRing"/>).</summary>
    private readonly struct WindowRing : IRingAccess
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ushort ReadAvailIdx(SplitQueue queue, GuestMemory memory) =>
            queue._availWindow.ReadUInt16(VirtioSpec.AvailIdxOffset);

        // unchecked: slot < size, inside the window.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ushort ReadAvailEntry(SplitQueue queue, GuestMemory memory, int slot) =>
            queue._availWindow.ReadUInt16(unchecked(VirtioSpec.AvailRingOffset + (slot * VirtioSpec.AvailElemSize)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void WriteAvailEvent(SplitQueue queue, GuestMemory memory, ushort value) =>
            queue._usedWindow.WriteUInt16(queue._availEventOffset, value);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool TryReadDescriptor(
            SplitQueue? queue,
            GuestMemory memory,
            GuestAddress table,
            int index,
            out Descriptor descriptor
        )
        {
            // 0 <= index < the queue size: inside the window (the whole main table).
            queue!._descWindow.Read128(unchecked(index * VirtioSpec.DescSize), out ulong low, out ulong high);
            descriptor = new Descriptor(
                new GuestAddress(low),
                unchecked((uint)high),
                unchecked((ushort)(high >> ((VirtioSpec.DescFlagsOffset - VirtioSpec.DescLenOffset) * 8))),
                unchecked((ushort)(high >> ((VirtioSpec.DescNextOffset - VirtioSpec.DescLenOffset) * 8)))
            );
            return true;
        }
    }

    /// <summary>The unobserved body of <see cref="FillBatch"/>: the entries stored through a span over the used ring's
    /// window, their pages marked dirty once per contiguous run.</summary>
    private void FillBatchDirect(ReadOnlySpan<QueueElement> elements, ReadOnlySpan<uint> lens, int idx)
    {
        int n = elements.Length;
        ThrowIfNotReady();
        if (n == 0)
            return;
        // Fill's index check for the last entry covers the others (idx >= 0 and idx + n - 1 < InUse <= size).
        if (idx < 0 || idx > InUse - n)
            throw new ArgumentOutOfRangeException(nameof(idx), idx, "fill index beyond the elements in use");
        int size = _size;
        int mask = unchecked(size - 1);
        Span<byte> usedBytes = _usedWindow.WritableBytes;
        Assert(unchecked((ulong)usedBytes.Length) == VirtioSpec.UsedRingSize(size), "used-ring window covers the ring");
        ref byte used = ref MemoryMarshal.GetReference(usedBytes);
        int first = UsedIdx.Add(idx).Slot(size);
        for (int k = 0; k < n; k = unchecked(k + 1)) // unchecked: k < n
        {
            ushort head = elements[k].Head;
            if (head >= size)
            {
                // Fill refuses this entry with the earlier ones written: they are marked as the sequential fills mark
                // them.
                RingBytes.MarkEntriesWritten(
                    _usedWindow,
                    VirtioSpec.UsedRingOffset,
                    VirtioSpec.UsedElemSize,
                    size,
                    first,
                    k
                );
                throw new ArgumentOutOfRangeException(
                    nameof(elements),
                    head,
                    "head is not a descriptor index of this queue"
                );
            }
            // id (le32) + len (le32) as one little-endian 8-byte store. unchecked: the slot is masked to the size.
            RingBytes.WriteLe64(
                ref used,
                unchecked(VirtioSpec.UsedRingOffset + (((first + k) & mask) * VirtioSpec.UsedElemSize)),
                head | (unchecked((ulong)lens[k]) << 32)
            );
        }
        // n <= InUse <= size
        RingBytes.MarkEntriesWritten(_usedWindow, VirtioSpec.UsedRingOffset, VirtioSpec.UsedElemSize, size, first, n);
    }

    /// <summary>The unobserved body of <see cref="AddUsedAndSignal"/>: the bodies of FillBatch, Flush and ShouldNotify
    /// (<see cref="FillBatchDirect"/>, <see cref="FlushCore"/>, <see cref="ShouldNotifyCore"/>) in turn, after one
    /// argument check and one window choice instead of three.</summary>
    private bool AddUsedAndSignalDirect(
        GuestMemory memory,
        ReadOnlySpan<QueueElement> elements,
        ReadOnlySpan<uint> lens
    )
    {
        if (lens.Length < elements.Length)
            throw new ArgumentException("one used.len per element", nameof(lens));
        if (elements.Length == 1)
        {
            // One chain (a latency-bound guest's kick): Fill's own window store, which costs less than the batch
            // body's set-up (its checks, entry and dirty page are the same).
            Fill(memory, elements[0].Head, lens[0], 0);
        }
        else
        {
            FillBatchDirect(elements, lens, 0);
        }
        FlushCore(memory, elements.Length, direct: true);
        return ShouldNotifyCore(memory, direct: true);
    }
}
