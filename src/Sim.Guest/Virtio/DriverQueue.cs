using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Guest.Virtio;

/// <summary>
/// Driver side of a split virtqueue, modelled on Linux drivers/virtio/virtio_ring.c (split ring): a host-side free
/// descriptor list (desc_extra), adding chains of readable then writable buffers (optionally through an indirect
/// table), publishing them, deciding whether to kick (virtqueue_kick_prepare), reaping used entries
/// (virtqueue_get_buf), enabling and disabling callbacks, and detaching unused buffers. Every access goes through
/// the <see cref="GuestMemory"/> passed in; the caller attributes it to the guest
/// (<see cref="GuestMemoryExtensions.AsGuest"/>). A device that writes nonsense into the used ring marks the queue
/// <see cref="Broken"/> (Linux BAD_RING), never an exception. Exceptions mean misuse by the (host-side) caller.
/// </summary>
public sealed partial class DriverQueue
{
    private readonly SplitRingLayout _layout;
    private readonly int _size;
    private readonly ushort[] _next; // desc_extra[i].next: free-list and chain links
    private readonly HeadState[] _heads; // desc_state[head], per outstanding head
    private int _freeHead;
    private int _numFree;
    private RingIndex _availShadow; // avail_idx_shadow
    private RingIndex _published; // avail.idx as last written
    private int _numAdded; // added since the last kick decision
    private RingIndex _lastUsed; // last_used_idx
    private RingIndex _usedShadow; // used.idx as last read
    private ushort _availFlagsShadow; // avail_flags_shadow

    // Field addresses, computed once (the layout is fixed for the queue's life; the constructor checks that no
    // ring part wraps past 2^64, so adding an in-range offset to these cannot overflow).
    private readonly ulong _descEntries;
    private readonly ulong _availEntries;
    private readonly ulong _usedEntries;
    private readonly GuestAddress _availIdx;
    private readonly GuestAddress _usedIdx;
    private readonly GuestAddress _usedEvent;
    private readonly GuestAddress _availEvent;

    // Windows on the three rings of the memory given to Initialize, used instead of its accessors while no observer
    // watches it (see Direct): each ring access is then a bounds check and an array access.
    private GuestMemory? _windowMemory;
    private GuestWindow _descWindow;
    private GuestWindow _availWindow;
    private GuestWindow _usedWindow;
    private readonly int _usedEventOffset;
    private readonly int _availEventOffset;

    // Whether the descriptor table's and the available ring's windows each lie inside one page (taken at Initialize).
    // Dirty tracking is per page, so there every store marks that same page: the unobserved kick and handler bodies
    // mark it once per kick instead of once per store (issue 13 section 5; same dirty pages as the reference), through
    // the page's dirty bit located at Initialize (the default mark where the window spans pages).
    private bool _descInOnePage;
    private bool _availInOnePage;
    private GuestPageMark _descPage;
    private GuestPageMark _availPage;

    /// <summary>A driver for the ring at <paramref name="layout"/>. <paramref name="eventIdx"/>: VIRTIO_F_EVENT_IDX
    /// was negotiated. Call <see cref="Initialize"/> before use.</summary>
    public DriverQueue(SplitRingLayout layout, bool eventIdx)
    {
        if (!VirtioSpec.IsValidQueueSize(layout.Size))
            throw new ArgumentOutOfRangeException(
                nameof(layout),
                layout.Size,
                "queue size must be a power of two up to 32768"
            );
        _layout = layout;
        _size = layout.Size;
        EventIdx = eventIdx;
        _next = new ushort[_size];
        _heads = new HeadState[_size];
        // checked: a layout whose ring parts wrap past 2^64 is refused here, once.
        _ = checked(layout.DescTable.Value + VirtioSpec.DescTableSize(_size));
        _ = checked(layout.AvailRing.Value + VirtioSpec.AvailRingSize(_size));
        _ = checked(layout.UsedRing.Value + VirtioSpec.UsedRingSize(_size));
        _descEntries = layout.DescTable.Value;
        _availEntries = layout.AvailEntry(0).Value;
        _usedEntries = layout.UsedEntry(0).Value;
        _availIdx = layout.AvailIdx;
        _usedIdx = layout.UsedIdx;
        _usedEvent = layout.UsedEvent;
        _availEvent = layout.AvailEvent;
        _usedEventOffset = Narrow.LowInt32(VirtioSpec.AvailUsedEventOffset(_size)); // at most 4 + 2 * 32768
        _availEventOffset = Narrow.LowInt32(VirtioSpec.UsedAvailEventOffset(_size)); // at most 4 + 8 * 32768
        ResetState();
    }

    /// <summary>Ring addresses and size.</summary>
    public SplitRingLayout Layout => _layout;

    /// <summary>Queue size.</summary>
    public int Size => _size;

    /// <summary>VIRTIO_F_EVENT_IDX negotiated.</summary>
    public bool EventIdx { get; }

    /// <summary>Free descriptors (num_free).</summary>
    public int FreeCount => _numFree;

    /// <summary>Chains added and not yet reaped or detached.</summary>
    public int Outstanding { get; private set; }

    /// <summary>avail_idx_shadow: the avail index after the last added chain.</summary>
    public RingIndex AvailIdx => _availShadow;

    /// <summary>last_used_idx: the next used entry to reap.</summary>
    public RingIndex LastUsed => _lastUsed;

    /// <summary>Callbacks (interrupts) currently requested: VIRTQ_AVAIL_F_NO_INTERRUPT clear in the shadow
    /// flags.</summary>
    public bool CallbacksEnabled => (_availFlagsShadow & VirtioSpec.AvailFNoInterrupt) == 0;

    /// <summary>True after the device corrupted the used ring (Linux vq->broken); cleared by
    /// <see cref="Initialize"/>.</summary>
    public bool Broken => Error != DriverQueueError.None;

    /// <summary>Why the queue is broken.</summary>
    public DriverQueueError Error { get; private set; }

    /// <summary>Zeroes the three ring parts and resets the driver state (Linux vring_create_virtqueue: rings
    /// allocated zeroed, callbacks enabled). Throws if the layout is not in guest memory (caller misuse).</summary>
    public void Initialize(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        Zero(memory, _layout.DescTable, VirtioSpec.DescTableSize(_size));
        Zero(memory, _layout.AvailRing, VirtioSpec.AvailRingSize(_size));
        Zero(memory, _layout.UsedRing, VirtioSpec.UsedRingSize(_size));
        // Zero just checked each part lies in one region; sizes are at most 16 * 32768 bytes.
        bool windows =
            memory.TryGetWindow(_layout.DescTable, Narrow.LowInt32(VirtioSpec.DescTableSize(_size)), out _descWindow)
            & memory.TryGetWindow(_layout.AvailRing, Narrow.LowInt32(VirtioSpec.AvailRingSize(_size)), out _availWindow)
            & memory.TryGetWindow(_layout.UsedRing, Narrow.LowInt32(VirtioSpec.UsedRingSize(_size)), out _usedWindow);
        Assert(windows, "ring parts in guest memory have windows");
        _descInOnePage = InOnePage(_descWindow);
        _availInOnePage = InOnePage(_availWindow);
        _descPage = _descInOnePage ? _descWindow.FirstPageMark : default;
        _availPage = _availInOnePage ? _availWindow.FirstPageMark : default;
        _windowMemory = memory;
        ResetState();
    }

    /// <summary>True when every byte of <paramref name="window"/> lies in its first page.</summary>
    private static bool InOnePage(GuestWindow window) => (long)window.PageSkew + window.Length <= GuestMemory.PageSize;

    private static void Zero(GuestMemory memory, GuestAddress at, ulong length)
    {
        if (!memory.TryGetSpan(at, length, out Span<byte> span))
            throw new ArgumentException($"ring part at {at} (+{length}) is not in guest memory");
        span.Clear();
        memory.MarkDirty(at, length);
    }

    private void ResetState()
    {
        for (int i = 0; i < _size; i++)
        {
            _next[i] = unchecked((ushort)((i + 1) & (_size - 1)));
            _heads[i] = default;
        }
        _freeHead = 0;
        _numFree = _size;
        Outstanding = 0;
        _availShadow = default;
        _published = default;
        _numAdded = 0;
        _lastUsed = default;
        _usedShadow = default;
        _availFlagsShadow = 0;
        Error = DriverQueueError.None;
    }

    // ---------------------------------------------------------------- adding buffers

    /// <summary>
    /// Linux virtqueue_add (split, direct): takes readable.Length + writable.Length free descriptors, writes them as
    /// one chain (readable first, NEXT on all but the last, WRITE on the writable ones), and puts the head in the
    /// next available-ring slot. The chain is not visible to the device until <see cref="Publish"/>.
    /// False (nothing written) when there are not enough free descriptors (ENOSPC) or the queue is broken.
    /// Buffer values are not checked, so tests can offer zero-length or wild buffers.
    /// </summary>
    public bool TryAdd(
        GuestMemory memory,
        ReadOnlySpan<GuestBuffer> readable,
        ReadOnlySpan<GuestBuffer> writable,
        out ushort head
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        int total = readable.Length + writable.Length;
        if (total == 0)
            throw new ArgumentException("a chain needs at least one buffer");
        head = 0;
        if (Broken || total > _numFree)
            return false;

        // From here total <= _numFree <= _size <= 32768, so no count below can overflow.
        ushort[] links = _next;
        int first = _freeHead;
        int i = first;
        int last = first;
        int k = 0;
        bool direct = Direct(memory);
        GuestWindow window = _descWindow;
        foreach (GuestBuffer b in readable)
        {
            k = unchecked(k + 1);
            ushort next = links[i];
            ulong high = DescriptorHigh(b.Len, k < total ? VirtioSpec.DescFNext : (ushort)0, next);
            // unchecked: i < size, inside the table window.
            if (direct)
                window.Write128(unchecked(i * VirtioSpec.DescSize), b.Addr.Value, high);
            else
                WriteDescriptor(memory, DescAddress(i), b.Addr.Value, high);
            last = i;
            i = next;
        }
        uint writableBytes = 0;
        foreach (GuestBuffer b in writable)
        {
            k = unchecked(k + 1);
            writableBytes = SaturatingAdd(writableBytes, b.Len);
            ushort next = links[i];
            ulong high = DescriptorHigh(b.Len, k < total ? WriteNext : VirtioSpec.DescFWrite, next);
            // unchecked: i < size, inside the table window.
            if (direct)
                window.Write128(unchecked(i * VirtioSpec.DescSize), b.Addr.Value, high);
            else
                WriteDescriptor(memory, DescAddress(i), b.Addr.Value, high);
            last = i;
            i = next;
        }
        _freeHead = i;
        _numFree = unchecked(_numFree - total);
        head = Narrow.LowUInt16(first);
        Commit(memory, head, new HeadState(writableBytes, Narrow.LowUInt16(last), Narrow.LowUInt16(total)));
        return true;
    }

    /// <summary>
    /// <see cref="TryAdd(GuestMemory, ReadOnlySpan{GuestBuffer}, ReadOnlySpan{GuestBuffer}, out ushort)"/> for the
    /// commonest chain shape, one readable buffer (the request) then one writable buffer (the response): the same
    /// descriptors, ring entry and state, written straight-line.
    /// </summary>
    public bool TryAdd(GuestMemory memory, GuestBuffer readable, GuestBuffer writable, out ushort head)
    {
        ArgumentNullException.ThrowIfNull(memory);
        head = 0;
        if (Broken || _numFree < 2)
            return false;
        ushort[] links = _next;
        int first = _freeHead;
        int second = links[first];
        int rest = links[second];
        // The first descriptor links to the second (the free list's order), as the general TryAdd writes them.
        ulong readHigh = DescriptorHigh(readable.Len, VirtioSpec.DescFNext, Narrow.LowUInt16(second));
        ulong writeHigh = DescriptorHigh(writable.Len, VirtioSpec.DescFWrite, Narrow.LowUInt16(rest));
        if (Direct(memory))
        {
            GuestWindow table = _descWindow;
            // unchecked: both indices < size, inside the table window.
            table.Write128(unchecked(first * VirtioSpec.DescSize), readable.Addr.Value, readHigh);
            table.Write128(unchecked(second * VirtioSpec.DescSize), writable.Addr.Value, writeHigh);
        }
        else
        {
            WriteDescriptorPair(memory, first, readable.Addr.Value, readHigh, second, writable.Addr.Value, writeHigh);
        }
        _freeHead = rest;
        _numFree = unchecked(_numFree - 2); // _numFree >= 2 checked above
        head = Narrow.LowUInt16(first);
        Commit(memory, head, new HeadState(writable.Len, Narrow.LowUInt16(second), 2));
        return true;
    }

    /// <summary>
    /// Linux virtqueue_add with an indirect table (VIRTIO 1.2 §2.7.5.3): writes the chain into the caller-provided
    /// table at <paramref name="table"/> (readable.Length + writable.Length descriptors of 16 bytes, next = i + 1) and
    /// takes a single ring descriptor flagged INDIRECT. The caller owns the table memory until the chain is reaped.
    /// </summary>
    public bool TryAddIndirect(
        GuestMemory memory,
        ReadOnlySpan<GuestBuffer> readable,
        ReadOnlySpan<GuestBuffer> writable,
        GuestAddress table,
        out ushort head
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        int total = readable.Length + writable.Length;
        if (total == 0)
            throw new ArgumentException("a chain needs at least one buffer");
        if (total > VirtioSpec.QueueSizeMax)
            throw new ArgumentException("indirect table too large");
        head = 0;
        if (Broken || _numFree < 1)
            return false;
        uint writableBytes = 0;
        for (int k = 0; k < total; k++)
        {
            bool isWritable = k >= readable.Length;
            GuestBuffer b = isWritable ? writable[k - readable.Length] : readable[k];
            ushort flags = unchecked(
                (ushort)((isWritable ? VirtioSpec.DescFWrite : 0) | (k + 1 < total ? VirtioSpec.DescFNext : 0))
            );
            if (isWritable)
                writableBytes = SaturatingAdd(writableBytes, b.Len);
            // unchecked: k < IndirectDescriptorsMax (32768), so 16 * k is far below 2^64.
            if (!table.TryAdd(unchecked((ulong)k * VirtioSpec.DescSize), out GuestAddress at))
                ThrowDescriptorOutside(table, k);
            WriteDescriptor(
                memory,
                at.Value,
                b.Addr.Value,
                DescriptorHigh(b.Len, flags, unchecked((ushort)(k + 1 < total ? k + 1 : 0)))
            );
        }
        int i = _freeHead;
        WriteDescriptor(
            memory,
            DescAddress(i),
            table.Value,
            DescriptorHigh(unchecked((uint)(total * VirtioSpec.DescSize)), VirtioSpec.DescFIndirect, _next[i])
        );
        _freeHead = _next[i];
        _numFree--;
        head = Narrow.LowUInt16(i);
        Commit(memory, head, new HeadState(writableBytes, head, 1));
        return true;
    }

    /// <summary>Records the chain's head state and puts the head in the next available-ring slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Commit(GuestMemory memory, ushort head, HeadState state)
    {
        _heads[head] = state;
        Outstanding = unchecked(Outstanding + 1); // unchecked: at most one chain per descriptor, so below 32768
        // avail->ring[avail_idx_shadow & (num - 1)] = head; the index itself is written by Publish.
        // unchecked: slot < size, inside the available ring, which the constructor checked does not wrap.
        if (Direct(memory))
        {
            // unchecked: slot < size, inside the available-ring window.
            _availWindow.WriteUInt16(
                unchecked(VirtioSpec.AvailRingOffset + (_availShadow.Slot(_size) * VirtioSpec.AvailElemSize)),
                head
            );
        }
        else
        {
            WriteAvailEntry(memory, _availShadow.Slot(_size), head);
        }
        _availShadow = _availShadow.Next;
        _numAdded++;
    }

    /// <summary>Address of descriptor <paramref name="index"/> (0 &lt;= index &lt; size) of the ring's table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong DescAddress(int index) =>
        // unchecked: index < size, inside the table, which the constructor checked does not wrap.
        unchecked(_descEntries + (Narrow.AsUInt64Bits(index) * VirtioSpec.DescSize));

    /// <summary>Makes every added chain visible: writes avail.idx (after the ring entries, the write barrier of
    /// VIRTIO 1.2 §2.7.13.2 being program order here). Linux writes avail.idx on every add; calling this after each
    /// <c>TryAdd</c> reproduces that.</summary>
    public void Publish(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (_published == _availShadow)
            return;
        if (Direct(memory))
        {
            _availWindow.WriteUInt16(VirtioSpec.AvailIdxOffset, _availShadow.Value);
        }
        else
        {
            bool ok = memory.TryWriteUInt16(_availIdx, _availShadow.Value);
            Assert(ok, "available ring not in guest memory");
        }
        _published = _availShadow;
    }

    /// <summary>
    /// Linux virtqueue_kick_prepare_split (VIRTIO 1.2 §2.7.13.3/§2.7.10): publishes pending chains, then says whether
    /// the device wants a notification for the chains added since the last call: with EVENT_IDX when avail.idx moved
    /// past avail_event (vring_need_event), otherwise unless the device set VIRTQ_USED_F_NO_NOTIFY.
    /// </summary>
    public bool NeedsNotify(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        Publish(memory);
        RingIndex newIdx = _availShadow;
        RingIndex oldIdx = _availShadow.Subtract(_numAdded);
        _numAdded = 0;
        if (EventIdx)
        {
            ushort availEvent = ReadU16(memory, _usedWindow, _availEventOffset, _availEvent);
            return RingIndex.NeedEvent(new RingIndex(availEvent), newIdx, oldIdx);
        }
        ushort usedFlags = ReadU16(memory, _usedWindow, VirtioSpec.UsedFlagsOffset, _layout.UsedRing);
        return (usedFlags & VirtioSpec.UsedFNoNotify) == 0;
    }

    // ---------------------------------------------------------------- reaping

    /// <summary>Linux more_used_split: true when the device has published used entries not yet reaped.</summary>
    public bool HasUsed(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (Broken)
            return false;
        if (_lastUsed != _usedShadow)
            return true;
        return RefreshUsedIdx(memory) && _lastUsed != _usedShadow;
    }

    /// <summary>
    /// Linux virtqueue_get_buf (split): reaps the next used entry, returning its head <paramref name="id"/> and the
    /// device-reported <paramref name="len"/>, and returns its descriptors to the free list. While callbacks are
    /// enabled it writes used_event = last_used_idx (as Linux does, also without EVENT_IDX). False when nothing is
    /// used or the queue is broken; a corrupt entry breaks the queue (<see cref="Error"/>).
    /// </summary>
    public bool TryGetUsed(GuestMemory memory, out ushort id, out uint len)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return TryGetUsed(memory, Direct(memory), out id, out len);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryGetUsed(GuestMemory memory, bool direct, out ushort id, out uint len)
    {
        id = 0;
        len = 0;
        if (Broken)
            return false;
        if (_lastUsed == _usedShadow && (!RefreshUsedIdx(memory) || _lastUsed == _usedShadow))
            return false;

        ulong raw;
        if (direct)
        {
            // unchecked: slot < size, inside the used-ring window.
            raw = _usedWindow.ReadUInt64(
                unchecked(VirtioSpec.UsedRingOffset + (_lastUsed.Slot(_size) * VirtioSpec.UsedElemSize))
            );
        }
        else
        {
            raw = ReadUsedEntry(memory, _lastUsed.Slot(_size));
        }
        uint rawId = Narrow.LowUInt32(raw & uint.MaxValue);
        if (rawId >= Narrow.AsUInt32Bits(_size))
            return Break(DriverQueueError.UsedIdOutOfRange);
        if (_heads[rawId].Length == 0)
            return Break(DriverQueueError.UsedIdNotHead);
        id = Narrow.LowUInt16(rawId);
        len = Narrow.LowUInt32(raw >> 32);
        DetachChain(id);
        _lastUsed = _lastUsed.Next;
        if (CallbacksEnabled)
        {
            if (direct)
            {
                _availWindow.WriteUInt16(_usedEventOffset, _lastUsed.Value);
            }
            else
            {
                bool wrote = memory.TryWriteUInt16(_usedEvent, _lastUsed.Value);
                Assert(wrote, "available ring not in guest memory");
            }
        }
        return true;
    }

    /// <summary>Bytes of writable buffers the chain headed by <paramref name="head"/> offered (an honest device's
    /// used.len never exceeds it). 0 for a head not outstanding.</summary>
    public uint WritableBytes(ushort head) => head < _size ? _heads[head].WritableBytes : 0;

    /// <summary>True when <paramref name="head"/> heads a chain the device has not returned yet.</summary>
    public bool IsOutstanding(ushort head) => head < _size && _heads[head].Length != 0;

    private bool RefreshUsedIdx(GuestMemory memory)
    {
        ushort raw;
        if (Direct(memory))
        {
            raw = _usedWindow.ReadUInt16(VirtioSpec.UsedIdxOffset);
        }
        else
        {
            bool ok = memory.TryReadUInt16(_usedIdx, out raw);
            Assert(ok, "used ring not in guest memory");
        }
        var usedIdx = new RingIndex(raw);
        if (RingIndex.Distance(_lastUsed, usedIdx) > Outstanding)
            return Break(DriverQueueError.UsedIdxTooFar);
        _usedShadow = usedIdx;
        return true;
    }

    /// <summary>Linux detach_buf_split: returns the chain's descriptors to the head of the free list. The chain's
    /// last descriptor and length were recorded when it was added, so this is O(1) where Linux walks the NEXT flags
    /// (the chain's descriptors are still linked in order in <see cref="_next"/>: they were taken from the free list
    /// in its order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DetachChain(ushort head)
    {
        HeadState state = _heads[head];
        Assert(state.Length != 0, "detaching a head that is not outstanding");
        _heads[head] = default;
        _next[state.Last] = Narrow.LowUInt16(_freeHead);
        _freeHead = head;
        // unchecked: the chain's descriptors came from the free list, so the sum stays <= size.
        _numFree = unchecked(_numFree + state.Length);
        Assert(_numFree <= _size, "free count within the queue size");
        Outstanding = unchecked(Outstanding - 1); // unchecked: this head was outstanding
    }

    private bool Break(DriverQueueError error)
    {
        Error = error;
        return false;
    }

    // ---------------------------------------------------------------- callbacks

    /// <summary>Linux virtqueue_disable_cb_split: asks the device not to interrupt. Without EVENT_IDX sets
    /// VIRTQ_AVAIL_F_NO_INTERRUPT; with EVENT_IDX writes used_event = 0 as Linux does ("this is a hack"), which
    /// still lets an interrupt through when used.idx crosses 0 — VIRTIO 1.2 §2.7.10 makes suppression
    /// best-effort.</summary>
    public void DisableCallbacks(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!CallbacksEnabled)
            return;
        _availFlagsShadow |= VirtioSpec.AvailFNoInterrupt;
        if (EventIdx)
            WriteU16(memory, _availWindow, _usedEventOffset, _usedEvent, 0);
        else
            WriteU16(memory, _availWindow, VirtioSpec.AvailFlagsOffset, _layout.AvailRing, _availFlagsShadow);
    }

    /// <summary>
    /// Linux virtqueue_enable_cb (prepare + poll): re-enables interrupts (clears NO_INTERRUPT; writes used_event =
    /// last_used_idx) and then re-checks used.idx to close the race with a device that completed in between.
    /// Returns true when nothing new is used (safe to wait for an interrupt), false when the caller must reap again.
    /// </summary>
    public bool EnableCallbacks(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ClearNoInterrupt(memory);
        WriteU16(memory, _availWindow, _usedEventOffset, _usedEvent, _lastUsed.Value);
        return !HasUsed(memory);
    }

    /// <summary>Linux virtqueue_enable_cb_delayed: like <see cref="EnableCallbacks"/> but asks for the interrupt only
    /// after three quarters of the outstanding buffers are used (used_event = last_used + 3/4 × pending).</summary>
    public bool EnableCallbacksDelayed(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ClearNoInterrupt(memory);
        int bufs = RingIndex.Distance(_lastUsed, _availShadow) * 3 / 4;
        bool ok = memory.TryWriteUInt16(_usedEvent, _lastUsed.Add(bufs).Value);
        Assert(ok, "available ring not in guest memory");
        if (Broken)
            return true;
        bool read = memory.TryReadUInt16(_usedIdx, out ushort usedIdx);
        Assert(read, "used ring not in guest memory");
        return RingIndex.Distance(_lastUsed, new RingIndex(usedIdx)) <= bufs;
    }

    private void ClearNoInterrupt(GuestMemory memory)
    {
        if (CallbacksEnabled)
            return;
        _availFlagsShadow = Narrow.LowUInt16(_availFlagsShadow & ~VirtioSpec.AvailFNoInterrupt);
        if (!EventIdx)
            WriteU16(memory, _availWindow, VirtioSpec.AvailFlagsOffset, _layout.AvailRing, _availFlagsShadow);
    }

    // ---------------------------------------------------------------- teardown

    /// <summary>Linux virtqueue_detach_unused_buf_split: takes back one outstanding chain (lowest head first) that
    /// the device never returned, decrementing avail.idx. Use only with the device stopped (after reset).</summary>
    public bool TryDetachUnused(GuestMemory memory, out ushort head)
    {
        ArgumentNullException.ThrowIfNull(memory);
        for (int i = 0; i < _size; i++)
        {
            if (_heads[i].Length == 0)
                continue;
            DetachChain(Narrow.LowUInt16(i));
            _availShadow = _availShadow.Previous;
            bool ok = memory.TryWriteUInt16(_availIdx, _availShadow.Value);
            Assert(ok, "available ring not in guest memory");
            _published = _availShadow;
            head = Narrow.LowUInt16(i);
            return true;
        }
        head = 0;
        return false;
    }

    /// <summary>Always-on host-side invariants: free + in-chain descriptors account for the whole table.</summary>
    public void AssertInvariants()
    {
        Assert(_numFree >= 0 && _numFree <= _size, "free count within the queue size");
        Assert(Outstanding >= 0 && Outstanding <= _size, "outstanding chains within the queue size");
        Assert(_numFree + Outstanding <= _size, "each outstanding chain holds at least one descriptor");
    }

    /// <summary>VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT.</summary>
    private const ushort WriteNext = VirtioSpec.DescFWrite | VirtioSpec.DescFNext;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteDescriptor(GuestMemory memory, ulong at, ulong addr, ulong high)
    {
        // addr (le64), then len | flags | next (DescriptorHigh) as one le64: the 16 bytes are built in a
        // register and stored at once (one 16-byte write, as the observer has always seen it), with no staging
        // buffer for a wide load to read back (narrow stores read by one wide load stall for ~15 cycles on x86).
        if (!BitConverter.IsLittleEndian)
        {
            addr = BinaryPrimitives.ReverseEndianness(addr);
            high = BinaryPrimitives.ReverseEndianness(high);
        }
        if (!memory.TryWriteVector128(new GuestAddress(at), Vector128.Create(addr, high).AsByte()))
            ThrowDescriptorAt(at);
    }

    /// <summary>The accessor path of the two-buffer TryAdd, out of line so the window path keeps its
    /// registers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteDescriptorPair(
        GuestMemory memory,
        int first,
        ulong firstAddr,
        ulong firstHigh,
        int second,
        ulong secondAddr,
        ulong secondHigh
    )
    {
        WriteDescriptor(memory, DescAddress(first), firstAddr, firstHigh);
        WriteDescriptor(memory, DescAddress(second), secondAddr, secondHigh);
    }

    /// <summary>The accessor path of <see cref="Commit"/>'s available-ring store.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteAvailEntry(GuestMemory memory, int slot, ushort head)
    {
        bool ok = memory.TryWriteUInt16(
            new GuestAddress(unchecked(_availEntries + (Narrow.AsUInt64Bits(slot) * VirtioSpec.AvailElemSize))),
            head
        );
        Assert(ok, "available ring not in guest memory");
    }

    /// <summary>The accessor path of TryGetUsed's used-entry read: id (le32) | len (le32) as one le64.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong ReadUsedEntry(GuestMemory memory, int slot)
    {
        bool ok = memory.TryReadUInt64(
            new GuestAddress(_usedEntries + (Narrow.AsUInt64Bits(slot) * VirtioSpec.UsedElemSize)),
            out ulong raw
        );
        Assert(ok, "used ring not in guest memory");
        return raw;
    }

    /// <summary>A descriptor's bytes 8..15 as one value: len (le32) | flags (le16) | next (le16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong DescriptorHigh(uint len, ushort flags, ushort next) =>
        len
        | ((ulong)flags << ((VirtioSpec.DescFlagsOffset - VirtioSpec.DescLenOffset) * 8))
        | ((ulong)next << ((VirtioSpec.DescNextOffset - VirtioSpec.DescLenOffset) * 8));

    /// <summary>True when ring accesses may go through the windows: <paramref name="memory"/> is the memory given to
    /// <see cref="Initialize"/> and no observer watches it (an observer must see every ring access as
    /// before).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Direct(GuestMemory memory) => ReferenceEquals(memory, _windowMemory) && !memory.IsObserved;

    /// <summary>Reads the ring field at <paramref name="address"/>, which is <paramref name="offset"/> bytes into
    /// <paramref name="window"/>: through the window when <see cref="Direct"/>, else through the memory's
    /// accessor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ushort ReadU16(GuestMemory memory, GuestWindow window, int offset, GuestAddress address)
    {
        if (Direct(memory))
            return window.ReadUInt16(offset);
        bool ok = memory.TryReadUInt16(address, out ushort value);
        Assert(ok, "ring not in guest memory");
        return value;
    }

    /// <summary>Writes the ring field at <paramref name="address"/> (<paramref name="offset"/> bytes into
    /// <paramref name="window"/>), as <see cref="ReadU16"/> reads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteU16(GuestMemory memory, GuestWindow window, int offset, GuestAddress address, ushort value)
    {
        if (Direct(memory))
        {
            window.WriteUInt16(offset, value);
            return;
        }
        bool ok = memory.TryWriteUInt16(address, value);
        Assert(ok, "ring not in guest memory");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDescriptorAt(ulong at) =>
        throw new ArgumentException($"descriptor at 0x{at:x} is not in guest memory");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDescriptorOutside(GuestAddress table, int index) =>
        throw new ArgumentException($"descriptor {index} of the table at {table} is not in guest memory");

    private static uint SaturatingAdd(uint a, uint b) => a > uint.MaxValue - b ? uint.MaxValue : a + b;

    /// <summary>desc_state of an outstanding head: what the device may write, and the chain's last descriptor and
    /// length for an O(1) detach. <see cref="Length"/> 0 means the head is not outstanding.</summary>
    private readonly record struct HeadState(uint WritableBytes, ushort Last, ushort Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Assert(bool condition, string what)
    {
        if (!condition)
            Fail(what);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Fail(string what) => throw new InvalidOperationException("DriverQueue invariant: " + what);
}
