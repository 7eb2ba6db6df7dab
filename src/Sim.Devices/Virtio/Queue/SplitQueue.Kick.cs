using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Queue;

// A whole kick's device-side work in one call (issue 13 section 5: the cost of a kick), as a vhost handler or a QEMU
// batching device does it: pop every available chain, serve each, complete them all and decide on the interrupt
// (Linux vhost handle_vq's get_vq_desc loop then vhost_add_used_and_signal_n; QEMU virtio-blk's
// virtio_blk_handle_vq then virtio_blk_req_complete / virtio_notify).
//
// Reference (STYLE item 19): PopServeAndSignalReference below, which is
//   TryPopBatch, then server.Serve of each popped element in pop order, then (when it popped any) AddUsedAndSignal.
// Observed runs (trace recording, the fuzzer's checkers) and a memory other than the queue's take exactly that path.
// The fast path, PopServeAndSignalDirect (unobserved), must give the reference's results (count, error, notify, lens),
// queue indices, guest memory bytes and dirty pages, on every ring a guest can build.
// Proved by KickDifferentialTests.Property_PopServeAndSignal_MatchesReference (hostile rings, observed against
// unobserved) and fuzzed by the split-virtqueue target's fast-path oracle: the unobserved twin serves its drain with
// PopServeAndSignal (FastPathDifferential compares it with the observed lane's pops, writes and AddUsedAndSignal).
//
// A direct server (IChainServer.ServesDirect) takes the same body with one change, PopServeDirectChains: the pop
// records each chain of at most one readable then one writable buffer inside the table's region (TryWalkDirectPair)
// in a KickChain instead of its element, and the server reads and writes those buffers through the region's window
// (DirectChain). Its reference is the same PopServeAndSignalReference, which serves every chain through its element
// (IChainServer.Serve): proved by KickDifferentialTests.Property_DirectServer_MatchesElementServer and fuzzed by the
// split-virtqueue target's fast-path oracle (a kick op with flag bit 3 serves through DirectHarnessServer).
//
// What the fusion saves per kick: the argument checks and the window choice of three calls made once, the server
// inlined (a struct type argument, no interface dispatch), and the completion (entries, used.idx, signalled_used, the
// interrupt decision) done with the used ring's span taken once and the indices in locals. The order of guest-memory
// accesses is the reference's: every pop before the first Serve, every Serve before the first used entry (a hostile
// guest may lay buffers over its rings, so the order is visible to later reads).
public sealed partial class SplitQueue
{
    /// <summary>
    /// One kick's device work: pops up to <paramref name="elements"/>.Length chains (stopping where
    /// <see cref="TryPopBatch"/> stops: an empty queue, a full span or the first guest error, returned in
    /// <paramref name="error"/> with the state the failing pop leaves), serves each popped element with
    /// <paramref name="server"/> in pop order (its used.len into <paramref name="lens"/>), then, if any was popped,
    /// completes them all with <see cref="AddUsedAndSignal"/> and returns its interrupt decision; false when nothing
    /// was popped (no completion, no decision). Exactly those calls when an observer watches
    /// <paramref name="memory"/> (the same accesses, so the same trace); unobserved, one fused body
    /// (SplitQueue.Kick.cs names the reference and its differential test). <paramref name="server"/> must not attach
    /// an observer to, or reconfigure, the queue's memory.
    /// </summary>
    public bool PopServeAndSignal<TServer>(
        GuestMemory memory,
        ReadOnlySpan<QueueElement> elements,
        Span<uint> lens,
        ref TServer server,
        out int count,
        out QueueError error
    )
        where TServer : struct, IChainServer
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (lens.Length < elements.Length)
            throw new ArgumentException("one used.len per element", nameof(lens));
        if (!Direct(memory) || !Ready)
        {
            return PopServeAndSignalReference(memory, elements, lens, ref server, out count, out error);
        }
        AssertIndexInvariants();
        if (TServer.ServesDirect && _kickChains.Length < Math.Min(elements.Length, _size))
            GrowKickChains(Math.Min(elements.Length, _size));
        return EventIdx && NotificationEnabled
            ? PopServeAndSignalDirect<TServer, PublishAvailEvent>(
                memory,
                elements,
                lens,
                ref server,
                out count,
                out error
            )
            : PopServeAndSignalDirect<TServer, NoAvailEvent>(memory, elements, lens, ref server, out count, out error);
    }

    /// <summary>The unobserved body of <see cref="PopServeAndSignal{TServer}"/>: the rings taken once
    /// (<see cref="TakeRings"/>), then the batch pop (<see cref="TryPopBatchDirect"/>), the server and the completion
    /// (<see cref="CompleteKickDirect"/>) on them, both inlined, so one frame holds the whole kick (one instance per
    /// avail_event policy).</summary>
    private bool PopServeAndSignalDirect<TServer, TAvailEvent>(
        GuestMemory memory,
        ReadOnlySpan<QueueElement> elements,
        Span<uint> lens,
        ref TServer server,
        out int count,
        out QueueError error
    )
        where TServer : struct, IChainServer
        where TAvailEvent : struct, IAvailEventPolicy
    {
        RingRefs rings = TakeRings();
        if (TServer.ServesDirect)
            return PopServeDirectChains<TServer, TAvailEvent>(
                memory,
                rings,
                elements,
                lens,
                ref server,
                out count,
                out error
            );
        // the error says it
        _ = TryPopBatchDirect<TAvailEvent>(memory, rings, elements, out count, out error);
        if (count == 0)
            return false;
        // The popped elements are served and completed whatever the error.
        ReadOnlySpan<QueueElement> served = elements[..count];
        Span<uint> servedLens = lens[..count];
        for (int k = 0; k < served.Length; k++)
            servedLens[k] = server.Serve(memory, served[k]);
        return CompleteKickDirect(memory, rings, served, [], 0, servedLens);
    }

    /// <summary>
    /// <see cref="PopServeAndSignalDirect"/> for a direct server (<see cref="IChainServer.ServesDirect"/>): the pop
    /// records each chain <see cref="TryWalkDirectPair"/> accepts (head and buffers, as region offsets) in the queue's
    /// scratch <see cref="KickChain"/> records instead of its element, the server gets those as a
    /// <see cref="DirectChain"/> (reading and writing through the table region's window) and the rest with their
    /// elements, in pop order, and the completion takes each head from its record. The same guest-memory accesses in
    /// the same order as the element kick (every pop, then every serve, then the completion); only where the chain's
    /// description lives between them differs (issue 13 section 5: the element's iovec array and fields written by the
    /// walk, read back by the server and located in guest memory again, were the largest per-chain cost).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool PopServeDirectChains<TServer, TAvailEvent>(
        GuestMemory memory,
        scoped in RingRefs rings,
        ReadOnlySpan<QueueElement> elements,
        Span<uint> lens,
        ref TServer server,
        out int count,
        out QueueError error
    )
        where TServer : struct, IChainServer
        where TAvailEvent : struct, IAvailEventPolicy
    {
        Span<KickChain> chains = _kickChains;
        Assert(chains.Length >= Math.Min(elements.Length, _size), "a record for each chain the kick can pop");
        int direct = TryPopDirectChains<TAvailEvent>(
            memory,
            rings,
            elements,
            ref MemoryMarshal.GetReference(chains),
            out count,
            out error
        );
        if (count == 0)
            return false;
        // Served in pop order: the recorded chains first, then any popped after the first declined one.
        ReadOnlySpan<KickChain> recorded = chains[..direct];
        Span<uint> servedLens = lens[..count];
        ref readonly GuestWindow region = ref _tableRegion;
        for (int k = 0; k < recorded.Length; k++)
        {
            ref readonly KickChain chain = ref recorded[k];
            servedLens[k] = server.ServeDirect(
                new DirectChain(in region, chain.Head, chain.OutOffset, chain.OutLen, chain.InOffset, chain.InLen)
            );
        }
        ReadOnlySpan<QueueElement> served = elements[..count];
        for (int k = direct; k < served.Length; k++)
            servedLens[k] = server.Serve(memory, served[k]);
        return CompleteKickDirect(memory, rings, served, recorded, direct, servedLens);
    }

    /// <summary>Grows the kick's chain records to <paramref name="count"/> (a direct server's first kick, or a larger
    /// span or queue size than before); out of line, as it allocates.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void GrowKickChains(int count) => _kickChains = new KickChain[count];

    /// <summary>The reference of <see cref="PopServeAndSignal{TServer}"/>: the three calls it must equal, in
    /// turn. Not inlined: with the server inlined here it would give the entry point a large frame that the
    /// unobserved kick then sets up for nothing.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool PopServeAndSignalReference<TServer>(
        GuestMemory memory,
        ReadOnlySpan<QueueElement> elements,
        Span<uint> lens,
        ref TServer server,
        out int count,
        out QueueError error
    )
        where TServer : struct, IChainServer
    {
        TryPopBatch(memory, elements, out count, out error);
        for (int k = 0; k < count; k++)
            lens[k] = server.Serve(memory, elements[k]);
        return count != 0 && AddUsedAndSignal(memory, elements[..count], lens[..count]);
    }

    /// <summary>
    /// <see cref="AddUsedAndSignalDirect"/> of a kick's popped elements, fused: the used entries (FillBatchDirect's
    /// stores), the used.idx store and signalled_used update (<see cref="FlushCore"/>), then the interrupt decision
    /// (<see cref="ShouldNotifyCore"/>), all through the kick's <paramref name="rings"/>. The same checks as those
    /// bodies, in their order (less FlushCore's entry check of the indices, which the caller made for the kick); the
    /// entries' pages are marked dirty once per contiguous run, used.idx's once.
    /// </summary>
    /// <remarks>The first <paramref name="direct"/> chains' heads come from their records in
    /// <paramref name="chains"/> (a direct server's kick), the others' from their elements.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool CompleteKickDirect(
        GuestMemory memory,
        scoped in RingRefs rings,
        ReadOnlySpan<QueueElement> elements,
        ReadOnlySpan<KickChain> chains,
        int direct,
        ReadOnlySpan<uint> lens
    )
    {
        ThrowIfNotReady(); // Fill's first check: a server must not reset the queue, but if one did, this answers
        int n = elements.Length;
        if (n > InUse)
        {
            throw new ArgumentOutOfRangeException(nameof(elements), n, "completing more elements than are in use");
        }
        int size = _size;
        int mask = size - 1;
        ref byte used = ref rings.Used;
        int first = UsedIdx.Slot(size);
        for (int k = 0; k < n; k++)
        {
            ushort head = k < direct ? chains[k].Head : elements[k].Head;
            if (head >= size)
            {
                // Fill refuses this entry with the earlier ones written (marked as the sequential fills mark them).
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
            // id (le32) + len (le32) as one little-endian 8-byte store; the slot is masked to the size, so the offset
            // lies inside the ring.
            int at = VirtioSpec.UsedRingOffset + (((first + k) & mask) * VirtioSpec.UsedElemSize);
            RingBytes.WriteLe64(ref used, at, head | ((ulong)lens[k] << 32));
        }
        // QEMU virtqueue_split_flush: used.idx after the entries (the §2.7.8.2 barrier is program order here). Old read
        // here: a local kept over the loop was spilled 16-bit and reloaded 32-bit, a store-forwarding stall per kick.
        RingIndex old = UsedIdx;
        RingIndex updated = old.Add(n);
        RingBytes.WriteLe16(ref used, VirtioSpec.UsedIdxOffset, updated.Value);
        MarkKickWritten(first, n);
        UsedIdx = updated;
        InUse -= n;
        if (RingIndex.MarkOvertaken(SignalledUsed, updated, old))
            SignalledUsedValid = false;
        AssertIndexInvariants();
        // ShouldNotifyCore (QEMU virtio_split_should_notify) with the available ring's fields read through the rings.
        if (NotifyOnEmpty && InUse == 0 && IsEmpty(memory))
            return true;
        if (!EventIdx)
            return (RingBytes.ReadLe16(ref rings.Avail, VirtioSpec.AvailFlagsOffset) & VirtioSpec.AvailFNoInterrupt)
                == 0;
        bool valid = SignalledUsedValid;
        SignalledUsedValid = true;
        RingIndex previous = SignalledUsed;
        SignalledUsed = updated;
        RingIndex usedEvent = new(RingBytes.ReadLe16(ref rings.Avail, _usedEventOffset));
        return !valid || RingIndex.NeedEvent(usedEvent, updated, previous);
    }

    /// <summary>
    /// The dirty pages of a kick's completion: the entries' run (or runs, when it wraps) and used.idx, as
    /// <see cref="RingBytes.MarkEntriesWritten"/> then a mark of used.idx give them. When the entries do not wrap and
    /// the first one starts on used.idx's page (a ring of up to about 500 entries, or any ring's early slots), the
    /// bytes from used.idx to the last entry cover exactly those pages (the bytes between them lie on that same
    /// page), so one mark does: one page lookup per kick instead of two (issue 13 section 5). When the whole used ring
    /// lies inside one page, every such range is that page, so its dirty bit located at enable (_usedPage) is set
    /// directly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkKickWritten(int first, int n)
    {
        if (!_usedPage.IsEmpty)
        {
            // The whole used ring lies in one page (located at enable): whatever the entries, that page.
            _usedPage.Mark();
            return;
        }
        int start = VirtioSpec.UsedRingOffset + (first * VirtioSpec.UsedElemSize);
        int skew = _usedWindow.PageSkew;
        if (
            n <= _size - first
            && (skew + VirtioSpec.UsedIdxOffset) / GuestMemory.PageSize == (skew + start) / GuestMemory.PageSize
        )
        {
            _usedWindow.MarkWritten(
                VirtioSpec.UsedIdxOffset,
                start + (n * VirtioSpec.UsedElemSize) - VirtioSpec.UsedIdxOffset
            );
            return;
        }
        RingBytes.MarkEntriesWritten(_usedWindow, VirtioSpec.UsedRingOffset, VirtioSpec.UsedElemSize, _size, first, n);
        _usedWindow.MarkWritten(VirtioSpec.UsedIdxOffset, sizeof(ushort));
    }
}
