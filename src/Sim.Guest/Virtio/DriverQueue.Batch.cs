using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Guest.Virtio;

// The batch calls of DriverQueue, the driver's fast paths (issue 11 section 3, STYLE item 19: a fast path names its
// reference and the test that proves it equal). Each is, by definition, its sequential call repeated; with an observer
// watching the memory (trace recording, the fuzzer's checkers) it is literally that loop, and unobserved it keeps the
// free list and ring indices in locals and writes the rings through spans over their windows. It must give exactly the
// reference's results, ring bytes, driver state and dirty pages.
//
// - TryAddBatch must equal a loop of TryAdd(memory, readable, writable, out head) (DriverQueue.cs; that two-buffer
//   form must itself equal the general span TryAdd:
//   RingWindowPathTests.TwoBufferTryAdd_WritesTheSameChainAsTheSpanForm). Proved by
//   BatchDifferentialTests.Property_DriverBatches_MatchSequentialAddsAndReaps and
//   BatchDifferentialTests.AddBatch_MarksTheDescriptorPagesTheSequentialAddsMark.
// - TryAddBatchAndNotify must equal TryAddBatch then NeedsNotify (DriverQueue.cs); its KickPrepareDirect, NeedsNotify.
//   Proved by BatchDifferentialTests.Property_DriverBatches_MatchSequentialAddsAndReaps (its fused-kick rounds).
// - TryAddPairAndKickDirect (TryAddBatchAndNotify of one pair, unobserved) must equal the pair TryAdd then
//   NeedsNotify. Proved by BatchDifferentialTests.Property_SinglePairKick_MatchesTryAddThenNeedsNotify and the
//   fused-kick rounds above; fuzzed by the driver-queue target's fast lane (its op 1 with one pair).
// - Dirty marks: where a ring's window lies inside one page (_descInOnePage, _availInOnePage), TryAddBatch,
//   TryAddPairAndKickDirect and ReapDirect (MarkAvailStores) mark that page once per call instead of once per store
//   (through its dirty bit located at Initialize: _descPage, _availPage), the same dirty pages as the reference's
//   per-store marks. The property tests above draw layouts inside one page and across pages (an
//   available ring whose flags and idx end one page and whose entries and used_event start the next).
// - TryGetUsedBatch (ReapDirect without the handler steps) must equal a loop of TryGetUsed (DriverQueue.cs).
//   Proved by BatchDifferentialTests.Property_DriverBatches_MatchSequentialAddsAndReaps.
// - ReapAll (ReapDirect with them) must equal Linux's interrupt-handler loop over DriverQueue.cs's calls:
//   DisableCallbacks,
//   TryGetUsed until nothing is used, EnableCallbacks, again while that re-check finds more.
//   Proved by BatchDifferentialTests.Property_DriverBatches_MatchSequentialAddsAndReaps (its ReapAll rounds).
//
// (tests/Sim.Devices.Tests/Queue.) Change a reference and its batch form together; a new fast path gets an entry
// here and a differential test.
public sealed partial class DriverQueue
{
    /// <summary>
    /// <see cref="TryAdd(GuestMemory, GuestBuffer, GuestBuffer, out ushort)"/> repeated for the pairs
    /// (<paramref name="readable"/>[k], <paramref name="writable"/>[k]): adds them in order until one does not fit
    /// (or the queue is broken), their heads in <paramref name="heads"/>[0..<paramref name="added"/>). Returns true
    /// when every pair was added. The same descriptors, ring entries and state as the sequential adds; unobserved,
    /// the free-list and ring-index fields live in locals across the batch; observed, it is a loop of TryAdd.
    /// </summary>
    public bool TryAddBatch(
        GuestMemory memory,
        ReadOnlySpan<GuestBuffer> readable,
        ReadOnlySpan<GuestBuffer> writable,
        Span<ushort> heads,
        out int added
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (writable.Length != readable.Length)
            throw new ArgumentException("one writable buffer per readable buffer", nameof(writable));
        if (heads.Length < readable.Length)
            throw new ArgumentException("room for one head per pair", nameof(heads));
        added = 0;
        // One pair (or an observer watching): the sequential call itself, which has less to set up.
        if (readable.Length <= 1 || !Direct(memory))
        {
            while (added < readable.Length && TryAdd(memory, readable[added], writable[added], out heads[added]))
                added++;
            return added == readable.Length;
        }
        if (Broken)
            return readable.Length == 0;
        int n = Math.Min(readable.Length, _numFree / 2);
        int size = _size;
        ushort[] links = _next;
        HeadState[] states = _heads;
        Span<byte> tableBytes = _descWindow.WritableBytes;
        Span<byte> availBytes = _availWindow.WritableBytes;
        // The windows were taken at Initialize for this size; the free-list links are descriptor indices below the
        // size (each is checked as an index into links, whose length is the size), so every store below lies inside
        // them and needs no per-access bounds check.
        Assert(
            unchecked((ulong)tableBytes.Length) == VirtioSpec.DescTableSize(size) && links.Length == size,
            "descriptor-table window covers the table"
        );
        Assert(
            unchecked((ulong)availBytes.Length) == VirtioSpec.AvailRingSize(size),
            "available-ring window covers the ring"
        );
        ref byte table = ref MemoryMarshal.GetReference(tableBytes);
        ref byte avail = ref MemoryMarshal.GetReference(availBytes);
        int mask = unchecked(size - 1);
        int free = _freeHead;
        ushort shadow = _availShadow.Value;
        ushort firstSlot = shadow;
        // Sliced to n: the loop bound is the spans' common length.
        int wanted = readable.Length;
        readable = readable[..n];
        writable = writable[..n];
        Span<ushort> headsAdded = heads[..n];
        for (int k = 0; k < readable.Length; k = unchecked(k + 1)) // unchecked: k < n
        {
            // The steps of the pair TryAdd and Commit, in the same order.
            int first = free;
            int second = links[first];
            int rest = links[second];
            ref readonly GuestBuffer r = ref readable[k];
            ref readonly GuestBuffer w = ref writable[k];
            // unchecked: first, second < size (indices of links), so both descriptors lie inside the table.
            RingBytes.WriteDescriptor(
                ref table,
                unchecked(first * VirtioSpec.DescSize),
                r.Addr.Value,
                DescriptorHigh(r.Len, VirtioSpec.DescFNext, unchecked((ushort)second))
            );
            RingBytes.WriteDescriptor(
                ref table,
                unchecked(second * VirtioSpec.DescSize),
                w.Addr.Value,
                DescriptorHigh(w.Len, VirtioSpec.DescFWrite, unchecked((ushort)rest))
            );
            free = rest;
            states[first] = new HeadState(w.Len, unchecked((ushort)second), 2);
            // unchecked: the slot is masked to the size, inside the available ring.
            RingBytes.WriteLe16(
                ref avail,
                unchecked(VirtioSpec.AvailRingOffset + ((shadow & mask) * VirtioSpec.AvailElemSize)),
                unchecked((ushort)first)
            );
            shadow = unchecked((ushort)(shadow + 1));
            headsAdded[k] = unchecked((ushort)first);
        }
        // A ring inside one page: one mark of that page for all the batch's stores into it (none when nothing fit).
        if (!_descInOnePage)
            MarkDescriptorsWritten(headsAdded);
        else if (n > 0)
            _descPage.Mark();
        if (_availInOnePage)
        {
            if (n > 0)
                _availPage.Mark();
        }
        else
            RingBytes.MarkEntriesWritten(
                _availWindow,
                VirtioSpec.AvailRingOffset,
                VirtioSpec.AvailElemSize,
                size,
                firstSlot & mask,
                n
            );
        _freeHead = free;
        _numFree -= 2 * n; // n <= _numFree / 2
        Outstanding += n;
        _availShadow = new RingIndex(shadow);
        _numAdded += n;
        added = n;
        return n == wanted;
    }

    /// <summary>
    /// The driver's side of a kick in one call (Linux virtio-blk's queue_rq then virtqueue_kick_prepare):
    /// <see cref="TryAddBatch"/>, then <see cref="NeedsNotify"/>, whose answer is <paramref name="notify"/>. Exactly
    /// those two calls (an observer sees their accesses); unobserved, one window choice for both and the publish and
    /// kick decision through the ring windows (<see cref="KickPrepareDirect"/>). Inlined: only the single-pair
    /// dispatch, so that a latency-bound caller's kick is one call, not two (issue 13 section 5).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAddBatchAndNotify(
        GuestMemory memory,
        ReadOnlySpan<GuestBuffer> readable,
        ReadOnlySpan<GuestBuffer> writable,
        Span<ushort> heads,
        out int added,
        out bool notify
    )
    {
        if (readable.Length == 1 && writable.Length == 1 && heads.Length >= 1 && Direct(memory))
        {
            // One pair (a latency-bound guest's kick): the single-chain body, one window choice for the add and the
            // kick decision.
            bool one = TryAddPairAndKickDirect(readable[0], writable[0], out heads[0], out notify);
            added = one ? 1 : 0;
            return one;
        }
        return TryAddBatchThenNotify(memory, readable, writable, heads, out added, out notify);
    }

    /// <summary>The other cases of <see cref="TryAddBatchAndNotify"/>: <see cref="TryAddBatch"/>, then
    /// <see cref="KickPrepareDirect"/> unobserved or <see cref="NeedsNotify"/> observed. Not inlined, so that the
    /// single-pair callers do not set up its frame.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryAddBatchThenNotify(
        GuestMemory memory,
        ReadOnlySpan<GuestBuffer> readable,
        ReadOnlySpan<GuestBuffer> writable,
        Span<ushort> heads,
        out int added,
        out bool notify
    )
    {
        bool all = TryAddBatch(memory, readable, writable, heads, out added);
        notify = Direct(memory) ? KickPrepareDirect() : NeedsNotify(memory);
        return all;
    }

    /// <summary>
    /// The unobserved body of <see cref="TryAddBatchAndNotify"/> for one pair: the pair
    /// <see cref="TryAdd(GuestMemory, GuestBuffer, GuestBuffer, out ushort)"/> then <see cref="NeedsNotify"/>, in one
    /// body with the rings written through spans over their windows (taken once, their lengths asserted: every offset
    /// below is a descriptor index or a slot masked to the size) and the free-list and ring-index fields in locals.
    /// The same checks, stores, state and dirty pages as those two calls, in their order. A pair that does not fit
    /// (or a broken queue) adds nothing: then it is NeedsNotify alone (<see cref="KickPrepareDirect"/>, out of line).
    /// </summary>
    private bool TryAddPairAndKickDirect(GuestBuffer readable, GuestBuffer writable, out ushort head, out bool notify)
    {
        if (Broken || _numFree < 2)
        {
            head = 0;
            notify = KickPrepareDirect();
            return false;
        }
        // TryAdd: the free list's first two descriptors, the first linking to the second.
        int size = _size;
        ushort[] links = _next;
        int first = _freeHead;
        int second = links[first];
        int rest = links[second];
        Span<byte> tableBytes = _descWindow.WritableBytes;
        Span<byte> availBytes = _availWindow.WritableBytes;
        // The windows were taken at Initialize for this size; the available ring ends with used_event (VIRTIO 1.2
        // §2.7.6), whose offset was taken there too: plain compares, not the layout's checked arithmetic, per kick.
        Assert(
            tableBytes.Length == unchecked(size * VirtioSpec.DescSize) // size <= 32768
                && links.Length == size
                && availBytes.Length == _usedEventOffset + VirtioSpec.AvailUsedEventSize,
            "ring windows cover the table and the available ring"
        );
        ref byte table = ref MemoryMarshal.GetReference(tableBytes);
        ref byte avail = ref MemoryMarshal.GetReference(availBytes);
        // unchecked: first, second, rest < size (indices of links), so both descriptors lie inside the table.
        ushort secondIndex = Narrow.LowUInt16(second);
        int firstAt = unchecked(first * VirtioSpec.DescSize);
        int secondAt = unchecked(second * VirtioSpec.DescSize);
        RingBytes.WriteDescriptor(
            ref table,
            firstAt,
            readable.Addr.Value,
            DescriptorHigh(readable.Len, VirtioSpec.DescFNext, secondIndex)
        );
        RingBytes.WriteDescriptor(
            ref table,
            secondAt,
            writable.Addr.Value,
            DescriptorHigh(writable.Len, VirtioSpec.DescFWrite, Narrow.LowUInt16(rest))
        );
        _freeHead = rest;
        _numFree -= 2; // _numFree >= 2 checked above
        head = Narrow.LowUInt16(first);
        // Commit: the head state, then avail->ring[avail_idx_shadow & (num - 1)] = head.
        _heads[first] = new HeadState(writable.Len, secondIndex, 2);
        Outstanding++; // at most one chain per descriptor, so below 32768
        RingIndex shadow = _availShadow;
        // unchecked: the slot is masked to the size, inside the available ring.
        int slotAt = unchecked(VirtioSpec.AvailRingOffset + (shadow.Slot(size) * VirtioSpec.AvailElemSize));
        RingBytes.WriteLe16(ref avail, slotAt, head);
        shadow = shadow.Next;
        _availShadow = shadow;
        int numAdded = _numAdded + 1; // at most the size between kicks
        // NeedsNotify: Publish (avail.idx after the entry: VIRTIO 1.2 §2.7.13.2's barrier is program order here).
        bool published = _published != shadow;
        if (published)
        {
            RingBytes.WriteLe16(ref avail, VirtioSpec.AvailIdxOffset, shadow.Value);
            _published = shadow;
        }
        MarkPairWritten(firstAt, secondAt, slotAt, published);
        _numAdded = 0; // then the kick decision (Linux virtqueue_kick_prepare_split)
        notify = EventIdx
            ? RingIndex.NeedEvent(new(_usedWindow.ReadUInt16(_availEventOffset)), shadow, shadow.Subtract(numAdded))
            : (_usedWindow.ReadUInt16(VirtioSpec.UsedFlagsOffset) & VirtioSpec.UsedFNoNotify) == 0;
        return true;
    }

    /// <summary>The dirty marks of <see cref="TryAddPairAndKickDirect"/>'s stores: the two descriptors at
    /// <paramref name="firstAt"/> and <paramref name="secondAt"/> of the table, the available-ring entry at
    /// <paramref name="slotAt"/> and, when <paramref name="published"/>, avail.idx. A ring inside one page: one mark
    /// of its page for all its stores (the page the reference's per-store marks mark). Both rings inside one page
    /// (as bench ring's are) is the inlined case; the rest is out of line.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkPairWritten(int firstAt, int secondAt, int slotAt, bool published)
    {
        if (_descInOnePage & _availInOnePage)
        {
            _descPage.Mark();
            _availPage.Mark();
            return;
        }
        MarkPairWrittenPerRing(firstAt, secondAt, slotAt, published);
    }

    /// <summary><see cref="MarkPairWritten"/> where a ring spans pages: per store there, once per ring where the ring
    /// lies inside one page.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MarkPairWrittenPerRing(int firstAt, int secondAt, int slotAt, bool published)
    {
        if (_descInOnePage)
        {
            _descPage.Mark();
        }
        else
        {
            _descWindow.MarkWritten(firstAt, VirtioSpec.DescSize);
            _descWindow.MarkWritten(secondAt, VirtioSpec.DescSize);
        }
        if (_availInOnePage)
        {
            _availPage.Mark();
            return;
        }
        _availWindow.MarkWritten(slotAt, VirtioSpec.AvailElemSize);
        if (published)
            _availWindow.MarkWritten(VirtioSpec.AvailIdxOffset, sizeof(ushort));
    }

    /// <summary>The unobserved body of <see cref="NeedsNotify"/>: Publish's avail.idx store and the kick decision
    /// through the ring windows, in NeedsNotify's order. Out of line: the single-pair kick calls it only when its
    /// pair does not fit.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool KickPrepareDirect()
    {
        RingIndex newIdx = _availShadow;
        if (_published != newIdx)
        {
            _availWindow.WriteUInt16(VirtioSpec.AvailIdxOffset, newIdx.Value);
            _published = newIdx;
        }
        RingIndex oldIdx = newIdx.Subtract(_numAdded);
        _numAdded = 0;
        if (EventIdx)
            return RingIndex.NeedEvent(new(_usedWindow.ReadUInt16(_availEventOffset)), newIdx, oldIdx);
        return (_usedWindow.ReadUInt16(VirtioSpec.UsedFlagsOffset) & VirtioSpec.UsedFNoNotify) == 0;
    }

    /// <summary>Marks the pages of the two descriptors of each chain just added at <paramref name="heads"/> (head, then
    /// the head's link: the chain's second descriptor) dirty: collected in one mask (bit i: page i of the table's
    /// window) when the table's window is small enough, else one descriptor at a time.</summary>
    private void MarkDescriptorsWritten(ReadOnlySpan<ushort> heads)
    {
        GuestWindow table = _descWindow;
        ushort[] links = _next;
        if (!table.FitsPageMask)
        {
            foreach (ushort head in heads)
            {
                table.MarkWritten(head * VirtioSpec.DescSize, VirtioSpec.DescSize);
                table.MarkWritten(links[head] * VirtioSpec.DescSize, VirtioSpec.DescSize);
            }
            return;
        }
        uint skew = unchecked((uint)table.PageSkew);
        ulong pages = 0;
        if ((skew % VirtioSpec.DescSize) == 0)
        {
            // A table 16-aligned within its page (as VIRTIO 1.2 §2.7 asks): a descriptor never crosses a page.
            foreach (ushort head in heads)
            {
                // unchecked: skew + at lies inside the window's first 64 pages (FitsPageMask).
                pages |= 1UL << unchecked((int)((skew + (head * (uint)VirtioSpec.DescSize)) / GuestMemory.PageSize));
                pages |=
                    1UL << unchecked((int)((skew + (links[head] * (uint)VirtioSpec.DescSize)) / GuestMemory.PageSize));
            }
        }
        else
        {
            foreach (ushort head in heads)
            {
                // Both ends of each descriptor: it may cross a page.
                uint first = unchecked(skew + (head * (uint)VirtioSpec.DescSize));
                uint second = unchecked(skew + (links[head] * (uint)VirtioSpec.DescSize));
                pages |=
                    (1UL << unchecked((int)(first / GuestMemory.PageSize)))
                    | (1UL << unchecked((int)((first + VirtioSpec.DescSize - 1) / GuestMemory.PageSize)));
                pages |=
                    (1UL << unchecked((int)(second / GuestMemory.PageSize)))
                    | (1UL << unchecked((int)((second + VirtioSpec.DescSize - 1) / GuestMemory.PageSize)));
            }
        }
        table.MarkPagesWritten(pages);
    }

    /// <summary>
    /// <see cref="TryGetUsed(GuestMemory, out ushort, out uint)"/> repeated: reaps up to <paramref name="ids"/>.Length
    /// used entries into <paramref name="ids"/> and <paramref name="lens"/>[0..<paramref name="count"/>), stopping
    /// where the sequential calls would (nothing used, or the queue broke: see <see cref="Error"/>). The window or
    /// accessor choice is made once per batch; observed, the accesses are those of the sequential calls. True when
    /// at least one entry was reaped.
    /// </summary>
    public bool TryGetUsedBatch(GuestMemory memory, Span<ushort> ids, Span<uint> lens, out int count)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (lens.Length < ids.Length)
            throw new ArgumentException("room for one length per id", nameof(lens));
        count = 0;
        if (!Direct(memory))
        {
            while (count < ids.Length && TryGetUsed(memory, out ids[count], out lens[count]))
                count++;
            return count > 0;
        }
        return ReapDirect<GetUsedMode>(ids, lens, out count);
    }

    /// <summary>
    /// The unobserved body of <see cref="TryGetUsedBatch"/> (<typeparamref name="TMode"/> <see cref="GetUsedMode"/>)
    /// and of <see cref="ReapAll"/> (<see cref="HandlerMode"/>: a type argument, so that each is compiled for its
    /// mode with the other's steps left out). Reaping: the steps of TryGetUsed (RefreshUsedIdx, the entry checks,
    /// DetachChain, used_event) in the same order. As the handler: DisableCallbacks, that reaping, EnableCallbacks and
    /// its re-check, again while the re-check finds more, each step where ReapAll's loop takes it. The indices and
    /// free list stay in locals across the whole kick (stored back at the end), and the used ring is read through a
    /// span over its window, whose length is checked once here: the slots are masked to the size, so every read lies
    /// inside it. Bounded: each pass after the first follows a re-check that found an entry, which that pass reaps or
    /// breaks the queue on, and at most <paramref name="ids"/>.Length entries are reaped.
    /// </summary>
    private bool ReapDirect<TMode>(Span<ushort> ids, Span<uint> lens, out int reaped)
        where TMode : struct, IReapMode
    {
        bool handler = TMode.Handler;
        int size = _size;
        ReadOnlySpan<byte> usedBytes = _usedWindow.Bytes;
        Span<byte> availBytes = _availWindow.WritableBytes;
        // The windows were taken at Initialize for this size: the used ring ends with avail_event and the available
        // ring with used_event, and every offset below (used.idx, a used slot masked to the size, avail.flags,
        // used_event) lies before those.
        Assert(usedBytes.Length == _availEventOffset + VirtioSpec.UsedAvailEventSize, "used-ring window is the ring");
        Assert(availBytes.Length == _usedEventOffset + VirtioSpec.AvailUsedEventSize, "avail-ring window is the ring");
        ref byte used = ref MemoryMarshal.GetReference(usedBytes);
        ref byte avail = ref MemoryMarshal.GetReference(availBytes);
        RingIndex last = _lastUsed;
        RingIndex shadow = _usedShadow;
        int outstanding = Outstanding;
        int free = _freeHead;
        int numFree = _numFree;
        int count = 0;
        DriverQueueError error = Error; // a broken queue reaps nothing (TryGetUsed)
        int stored = 0; // AvailStore bits: the fields stored through the span, marked dirty once at the end
        bool done = false;
        while (true)
        {
            if (handler)
                stored |= DisableCallbacksDirect(ref avail);
            bool callbacks = !handler && CallbacksEnabled; // the handler has just disabled them
            // unchecked: count < ids.Length.
            for (; count < ids.Length && error == DriverQueueError.None; count = unchecked(count + 1))
            {
                // TryGetUsed: RefreshUsedIdx when the shadow is used up, then the entry.
                if (last == shadow)
                {
                    if (!TryRefreshUsedIdx(ref used, last, ref shadow, outstanding, ref error) || last == shadow)
                        break;
                }
                // id (le32) | len (le32). unchecked: the slot is masked to the size, inside the used ring.
                int at = unchecked(VirtioSpec.UsedRingOffset + (last.Slot(size) * VirtioSpec.UsedElemSize));
                ulong raw = RingBytes.ReadLe64(ref used, at);
                error = DetachUsed(unchecked((uint)raw), ref free, ref numFree);
                if (error != DriverQueueError.None)
                    break;
                outstanding = unchecked(outstanding - 1); // this head was outstanding
                last = last.Next;
                if (callbacks)
                {
                    RingBytes.WriteLe16(ref avail, _usedEventOffset, last.Value);
                    stored |= AvailStoreUsedEvent;
                }
                ids[count] = unchecked((ushort)raw); // the id: below the size, checked by DetachUsed
                lens[count] = unchecked((uint)(raw >> 32));
            }
            if (!handler || count == ids.Length || error != DriverQueueError.None)
                break;
            // EnableCallbacks: ClearNoInterrupt, used_event = last_used_idx, then !HasUsed (its RefreshUsedIdx breaks
            // the queue on a used.idx too far, and HasUsed is then false: EnableCallbacks true).
            stored |= EnableCallbacksDirect(ref avail, last);
            if (last != shadow)
                continue;
            done = true;
            if (!TryRefreshUsedIdx(ref used, last, ref shadow, outstanding, ref error) || last == shadow)
                break;
            done = false;
        }
        // The free count only grows in the loop, so its last value bounds every one before it.
        Assert(numFree <= size, "free count within the queue size");
        if (stored != 0)
            MarkAvailStores(stored);
        _lastUsed = last;
        _usedShadow = shadow;
        Outstanding = outstanding;
        _freeHead = free;
        _numFree = numFree;
        reaped = count;
        if (error != DriverQueueError.None)
            Break(error);
        return handler ? done : count > 0;
    }

    /// <summary>avail.flags stored through the available ring's span (ReapDirect).</summary>
    private const int AvailStoreFlags = 1;

    /// <summary>used_event stored through the available ring's span (ReapDirect).</summary>
    private const int AvailStoreUsedEvent = 2;

    /// <summary>Marks the available-ring fields ReapDirect stored through its span dirty (the pages the window stores
    /// of the reference mark: with a ring inside one page, that page); <paramref name="stored"/> is not 0. Inlined: at
    /// one used entry per kick its call was a measurable part of the handler.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkAvailStores(int stored)
    {
        if (_availInOnePage)
            _availPage.Mark(); // avail.flags' page and used_event's
        else
            MarkAvailStoresPerField(stored);
    }

    /// <summary><see cref="MarkAvailStores"/> for an available ring that spans pages: each stored field's page. Out of
    /// line: the handler's common case is the ring inside one page.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MarkAvailStoresPerField(int stored)
    {
        if ((stored & AvailStoreFlags) != 0)
            _availWindow.MarkWritten(VirtioSpec.AvailFlagsOffset, sizeof(ushort));
        if ((stored & AvailStoreUsedEvent) != 0)
            _availWindow.MarkWritten(_usedEventOffset, sizeof(ushort));
    }

    /// <summary>RefreshUsedIdx on ReapDirect's locals: reads used.idx into <paramref name="shadow"/>, or sets
    /// <paramref name="error"/> and returns false when it ran past what is outstanding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryRefreshUsedIdx(
        ref byte used,
        RingIndex last,
        ref RingIndex shadow,
        int outstanding,
        ref DriverQueueError error
    )
    {
        RingIndex usedIdx = new(RingBytes.ReadLe16(ref used, VirtioSpec.UsedIdxOffset));
        if (RingIndex.Distance(last, usedIdx) > outstanding)
        {
            error = DriverQueueError.UsedIdxTooFar;
            return false;
        }
        shadow = usedIdx;
        return true;
    }

    /// <summary>TryGetUsed's entry checks and DetachChain on ReapDirect's locals (the free-list head and count): the
    /// error for a used id that is not an outstanding head, else None with the chain back on the free list.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DriverQueueError DetachUsed(uint rawId, ref int free, ref int numFree)
    {
        HeadState[] states = _heads;
        // states: one per descriptor.
        if (rawId >= unchecked((uint)states.Length))
            return DriverQueueError.UsedIdOutOfRange;
        HeadState state = states[rawId];
        if (state.Length == 0)
            return DriverQueueError.UsedIdNotHead;
        states[rawId] = default;
        _next[state.Last] = unchecked((ushort)free);
        free = unchecked((int)rawId);
        numFree = unchecked(numFree + state.Length); // the chain's descriptors came from the free list
        return DriverQueueError.None;
    }

    /// <summary>DisableCallbacks through the available ring's span (<paramref name="avail"/>); returns the
    /// AvailStore bits of what it stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int DisableCallbacksDirect(ref byte avail)
    {
        if (!CallbacksEnabled)
            return 0;
        _availFlagsShadow = Narrow.LowUInt16(_availFlagsShadow | VirtioSpec.AvailFNoInterrupt);
        if (EventIdx)
        {
            RingBytes.WriteLe16(ref avail, _usedEventOffset, 0);
            return AvailStoreUsedEvent;
        }
        RingBytes.WriteLe16(ref avail, VirtioSpec.AvailFlagsOffset, _availFlagsShadow);
        return AvailStoreFlags;
    }

    /// <summary>EnableCallbacks' stores through the available ring's span: ClearNoInterrupt, then used_event =
    /// <paramref name="lastUsed"/> (last_used_idx); returns the AvailStore bits of what it stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int EnableCallbacksDirect(ref byte avail, RingIndex lastUsed)
    {
        int stored = AvailStoreUsedEvent;
        if (!CallbacksEnabled)
        {
            _availFlagsShadow = unchecked((ushort)(_availFlagsShadow & ~VirtioSpec.AvailFNoInterrupt));
            if (!EventIdx)
            {
                RingBytes.WriteLe16(ref avail, VirtioSpec.AvailFlagsOffset, _availFlagsShadow);
                stored |= AvailStoreFlags;
            }
        }
        RingBytes.WriteLe16(ref avail, _usedEventOffset, lastUsed.Value);
        return stored;
    }

    /// <summary>
    /// A driver's interrupt handler in one call, as Linux virtblk_done / virtnet_poll write it:
    /// <c>do { virtqueue_disable_cb; while (virtqueue_get_buf) ...; if broken, stop; } while
    /// (!virtqueue_enable_cb)</c>. Reaps into <paramref name="ids"/> and
    /// <paramref name="lens"/>[0..<paramref name="count"/>). Returns true when it ended as that loop ends (callbacks
    /// enabled, and the re-check found nothing more used), false when it stopped first: the spans are full (call again:
    /// callbacks are still off) or the queue broke (see <see cref="Error"/>). Exactly <see cref="DisableCallbacks"/>,
    /// <see cref="TryGetUsed(GuestMemory, out ushort, out uint)"/> and
    /// <see cref="EnableCallbacks"/> in that loop (an observer sees their accesses); unobserved, one window choice
    /// and the reaping of <see cref="TryGetUsedBatch"/> in one body (ReapDirect).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool ReapAll(GuestMemory memory, Span<ushort> ids, Span<uint> lens, out int count)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (lens.Length < ids.Length)
            ThrowLensTooShort();
        if (Direct(memory))
            return ReapDirect<HandlerMode>(ids, lens, out count);
        return ReapAllReference(memory, ids, lens, out count);
    }

    /// <summary>ReapAll's argument check, out of line: ReapAll is inlined into its callers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowLensTooShort() => throw new ArgumentException("lens: room for one length per id");

    /// <summary>Which body <see cref="ReapDirect{TMode}"/> is: a struct type argument, so that the JIT compiles one
    /// copy per mode with <see cref="Handler"/> a constant.</summary>
    private interface IReapMode
    {
        /// <summary>True for ReapAll's handler steps (callbacks off, reap, callbacks on and re-check).</summary>
        static abstract bool Handler { get; }
    }

    /// <summary><see cref="TryGetUsedBatch"/>'s mode: reaping only.</summary>
    private struct GetUsedMode : IReapMode
    {
        public static bool Handler => false;
    }

    /// <summary><see cref="ReapAll"/>'s mode: the interrupt handler.</summary>
    private struct HandlerMode : IReapMode
    {
        public static bool Handler => true;
    }

    /// <summary>The reference of <see cref="ReapAll"/> (what an observed run takes): the handler loop over
    /// DisableCallbacks, TryGetUsed and EnableCallbacks. Not inlined, so that the unobserved kick does not set up
    /// its frame.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool ReapAllReference(GuestMemory memory, Span<ushort> ids, Span<uint> lens, out int count)
    {
        count = 0;
        while (true)
        {
            DisableCallbacks(memory);
            while (count < ids.Length && TryGetUsed(memory, out ids[count], out lens[count]))
                count++;
            if (count == ids.Length || Broken)
                return false;
            if (EnableCallbacks(memory))
                return true;
        }
    }
}
