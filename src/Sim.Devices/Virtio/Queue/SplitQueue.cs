using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// Device side of a split virtqueue (VIRTIO 1.2 §2.7) with QEMU hw/virtio/virtio.c semantics: pop
/// (virtqueue_split_pop), fill/flush/push, notification suppression (virtio_should_notify,
/// virtio_queue_set_notification) and unpop/rewind/detach. The queue holds only its configuration and indices;
/// every operation takes the <see cref="GuestMemory"/> it works on (STYLE item 1). Guest data never raises an
/// exception: bad rings yield a <see cref="QueueError"/> that the device layer turns into NEEDS_RESET.
/// Exceptions mean host misuse (completing more than was popped, configuring a running queue).
/// Not thread-safe; the simulation is single-threaded.
/// </summary>
public sealed partial class SplitQueue
{
    private int _size;
    private GuestAddress _descTable;
    private GuestAddress _availRing;
    private GuestAddress _usedRing;

    // Ring field addresses, computed once at enable (all validated to lie in guest memory then).
    private GuestAddress _availIdxAddr;
    private GuestAddress _availRingAddr;
    private GuestAddress _usedEventAddr;
    private GuestAddress _usedIdxAddr;
    private GuestAddress _usedRingAddr;
    private GuestAddress _availEventAddr;

    // Windows on the three rings of the memory the queue was enabled on (located once at enable), used instead of
    // that memory's accessors while no observer watches it (see Direct): each ring access is then a bounds check and
    // an array access. Offsets into them: the ring field offsets, and the precomputed used_event / avail_event ones.
    private GuestMemory? _windowMemory;
    private GuestWindow _descWindow;
    private GuestWindow _availWindow;
    private GuestWindow _usedWindow;

    // The dirty bit of the used ring's page, located at enable when the whole ring lies inside one page (rings of up
    // to about 500 entries, aligned as Linux allocates them), else none: the fused kick's completion then marks its
    // entries and used.idx with one load and test instead of the window's range check and page arithmetic.
    private GuestPageMark _usedPage;
    private int _usedEventOffset;
    private int _availEventOffset;

    // The region holding the descriptor table (where buffers usually are too), for TryWalkDirectFast's range test.
    private ulong _tableRegionBase;
    private ulong _tableRegionSize;

    // A window on that whole region (taken at enable), through which a direct server reads and writes the buffers the
    // fused kick proved inside it (DirectChain); and the kick's scratch record of each popped chain (KickChain),
    // grown on a direct server's first kick and reused after (no allocation per kick).
    private GuestWindow _tableRegion;
    private KickChain[] _kickChains = [];

    /// <summary>A queue whose size the driver may set up to <paramref name="maxSize"/> (QEMU virtio_add_queue's
    /// queue_size, also the size after reset).</summary>
    public SplitQueue(int maxSize)
    {
        if (!VirtioSpec.IsValidQueueSize(maxSize))
            throw new ArgumentOutOfRangeException(
                nameof(maxSize),
                maxSize,
                "queue size must be a power of two from 1 to 32768"
            );
        MaxSize = maxSize;
        Reset();
    }

    /// <summary>Largest size the driver may choose (VIRTIO 1.2 §4.1.4.3 queue_size as read after reset).</summary>
    public int MaxSize { get; }

    /// <summary>Current queue size (a power of two).</summary>
    public int Size => _size;

    /// <summary>Guest address of the descriptor table. Set while the queue is not ready.</summary>
    public GuestAddress DescTable
    {
        get => _descTable;
        set
        {
            ThrowIfReady();
            _descTable = value;
        }
    }

    /// <summary>Guest address of the available (driver) ring. Set while the queue is not ready.</summary>
    public GuestAddress AvailRing
    {
        get => _availRing;
        set
        {
            ThrowIfReady();
            _availRing = value;
        }
    }

    /// <summary>Guest address of the used (device) ring. Set while the queue is not ready.</summary>
    public GuestAddress UsedRing
    {
        get => _usedRing;
        set
        {
            ThrowIfReady();
            _usedRing = value;
        }
    }

    /// <summary>True after a successful <see cref="TryEnable"/> (queue_enable / legacy PFN write).</summary>
    public bool Ready { get; private set; }

    /// <summary>VIRTIO_F_EVENT_IDX was negotiated: used_event / avail_event instead of the flags (§2.7.10).</summary>
    public bool EventIdx { get; set; }

    /// <summary>VIRTIO_F_NOTIFY_ON_EMPTY was negotiated (legacy): always notify when the queue runs empty.</summary>
    public bool NotifyOnEmpty { get; set; }

    /// <summary>QEMU last_avail_idx: the next available-ring index the device will pop.</summary>
    public RingIndex NextAvail { get; private set; }

    /// <summary>QEMU shadow_avail_idx: the avail.idx last read from the guest (and found sane).</summary>
    public RingIndex ShadowAvail { get; private set; }

    /// <summary>QEMU used_idx: the used.idx the device last published.</summary>
    public RingIndex UsedIdx { get; private set; }

    /// <summary>QEMU inuse: elements popped and not yet flushed, detached or rewound.</summary>
    public int InUse { get; private set; }

    /// <summary>QEMU signalled_used: used.idx at the last notification decision (EVENT_IDX).</summary>
    public RingIndex SignalledUsed { get; private set; }

    /// <summary>QEMU signalled_used_valid: false until the first decision, and after a flush overtook
    /// <see cref="SignalledUsed"/>; then the next <see cref="ShouldNotify"/> notifies unconditionally.</summary>
    public bool SignalledUsedValid { get; private set; }

    /// <summary>QEMU vq->notification: false while the device has kicks suppressed.</summary>
    public bool NotificationEnabled { get; private set; }

    /// <summary>Back to the reset state (QEMU virtio_reset / virtio_queue_reset): size to the maximum, rings at
    /// 0, all indices 0, notification enabled, not ready.</summary>
    public void Reset()
    {
        Ready = false;
        _size = MaxSize;
        _descTable = default;
        _availRing = default;
        _usedRing = default;
        EventIdx = false;
        NotifyOnEmpty = false;
        NextAvail = default;
        ShadowAvail = default;
        UsedIdx = default;
        InUse = 0;
        SignalledUsed = default;
        SignalledUsedValid = false;
        NotificationEnabled = true;
        AssertInvariants();
    }

    /// <summary>Sets the queue size (queue_size register, VIRTIO 1.2 §4.1.4.3): a power of two no larger than
    /// <see cref="MaxSize"/>. Refused while ready.</summary>
    public bool TrySetSize(int size, out QueueConfigError error)
    {
        ThrowIfReady();
        if (!VirtioSpec.IsValidQueueSize(size) || size > MaxSize)
        {
            error = QueueConfigError.BadSize;
            return false;
        }
        _size = size;
        AssertInvariants();
        error = QueueConfigError.None;
        return true;
    }

    /// <summary>Makes the queue live (queue_enable = 1). Checks the §2.7 alignments and that each ring lies in one
    /// guest memory region, which every later ring access then relies on. QEMU does not check either (a bad ring
    /// reads as all-ones); the transport decides what a refusal means for the guest.</summary>
    public bool TryEnable(GuestMemory memory, out QueueConfigError error)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ThrowIfReady();
        error = Validate(memory, _size, _descTable, _availRing, _usedRing);
        if (error != QueueConfigError.None)
            return false;
        ComputeAddresses(memory);
        Ready = true;
        AssertInvariants();
        return true;
    }

    /// <summary>Stops using the rings (queue_enable = 0 on a legacy PFN of 0, or queue reset); indices are kept
    /// (QEMU keeps them until reset).</summary>
    public void Disable() => Ready = false;

    private static QueueConfigError Validate(
        GuestMemory memory,
        int size,
        GuestAddress desc,
        GuestAddress avail,
        GuestAddress used
    )
    {
        if (!VirtioSpec.IsValidQueueSize(size))
            return QueueConfigError.BadSize;
        if (desc.Value % VirtioSpec.DescAlign != 0)
            return QueueConfigError.DescTableMisaligned;
        if (avail.Value % VirtioSpec.AvailAlign != 0)
            return QueueConfigError.AvailRingMisaligned;
        if (used.Value % VirtioSpec.UsedAlign != 0)
            return QueueConfigError.UsedRingMisaligned;
        if (!memory.IsValidRange(desc, VirtioSpec.DescTableSize(size)))
            return QueueConfigError.DescTableOutsideMemory;
        if (!memory.IsValidRange(avail, VirtioSpec.AvailRingSize(size)))
            return QueueConfigError.AvailRingOutsideMemory;
        if (!memory.IsValidRange(used, VirtioSpec.UsedRingSize(size)))
            return QueueConfigError.UsedRingOutsideMemory;
        return QueueConfigError.None;
    }

    private void ComputeAddresses(GuestMemory memory)
    {
        // Validate checked each ring lies in one region of this memory, so the windows exist; sizes are at most
        // 16 * 32768 bytes.
        foreach (MemoryRegion region in memory.Regions)
        {
            // Regions do not overlap: at most one holds the table (Validate checked that one does).
            if (_descTable.Value >= region.Base && _descTable.Value - region.Base < region.Size)
            {
                _tableRegionBase = region.Base;
                _tableRegionSize = region.Size;
            }
        }
        // Taken before the rings' windows, so the memory's most recently located region is theirs as before. A region
        // is at most RegionSizeMax (2^30) bytes.
        bool regionWindow = memory.TryGetWindow(
            new GuestAddress(_tableRegionBase),
            Narrow.LowInt32(_tableRegionSize),
            out _tableRegion
        );
        bool windows =
            regionWindow
            & memory.TryGetWindow(_descTable, Narrow.LowInt32(VirtioSpec.DescTableSize(_size)), out _descWindow)
            & memory.TryGetWindow(_availRing, Narrow.LowInt32(VirtioSpec.AvailRingSize(_size)), out _availWindow)
            & memory.TryGetWindow(_usedRing, Narrow.LowInt32(VirtioSpec.UsedRingSize(_size)), out _usedWindow);
        Assert(windows, "rings validated at enable have windows");
        _usedPage =
            _usedWindow.PageSkew + _usedWindow.Length <= GuestMemory.PageSize ? _usedWindow.FirstPageMark : default;
        _windowMemory = memory;
        _usedEventOffset = Narrow.LowInt32(VirtioSpec.AvailUsedEventOffset(_size));
        _availEventOffset = Narrow.LowInt32(VirtioSpec.UsedAvailEventOffset(_size));
        // Validated ranges: none of these additions can overflow.
        _availIdxAddr = new GuestAddress(_availRing.Value + VirtioSpec.AvailIdxOffset);
        _availRingAddr = new GuestAddress(_availRing.Value + VirtioSpec.AvailRingOffset);
        _usedEventAddr = new GuestAddress(_availRing.Value + VirtioSpec.AvailUsedEventOffset(_size));
        _usedIdxAddr = new GuestAddress(_usedRing.Value + VirtioSpec.UsedIdxOffset);
        _usedRingAddr = new GuestAddress(_usedRing.Value + VirtioSpec.UsedRingOffset);
        _availEventAddr = new GuestAddress(_usedRing.Value + VirtioSpec.UsedAvailEventOffset(_size));
    }

    /// <summary>The configuration and indices, for snapshots and traces.</summary>
    public SplitQueueState Capture() =>
        new(
            _size,
            _descTable,
            _availRing,
            _usedRing,
            Ready,
            EventIdx,
            NotifyOnEmpty,
            NextAvail,
            ShadowAvail,
            UsedIdx,
            InUse,
            SignalledUsed,
            SignalledUsedValid,
            NotificationEnabled
        );

    /// <summary>Restores a captured state (states come from trace files, so this validates instead of
    /// throwing).</summary>
    public bool TryRestore(GuestMemory memory, in SplitQueueState state, out QueueConfigError error)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!VirtioSpec.IsValidQueueSize(state.Size) || state.Size > MaxSize)
        {
            error = QueueConfigError.BadSize;
            return false;
        }
        if (
            state.InUse < 0
            || state.InUse > state.Size
            || RingIndex.Distance(state.NextAvail, state.ShadowAvail) > state.Size
        )
        {
            error = QueueConfigError.BadState;
            return false;
        }
        if (state.Ready)
        {
            error = Validate(memory, state.Size, state.DescTable, state.AvailRing, state.UsedRing);
            if (error != QueueConfigError.None)
                return false;
        }
        Ready = false;
        _size = state.Size;
        _descTable = state.DescTable;
        _availRing = state.AvailRing;
        _usedRing = state.UsedRing;
        EventIdx = state.EventIdx;
        NotifyOnEmpty = state.NotifyOnEmpty;
        NextAvail = state.NextAvail;
        ShadowAvail = state.ShadowAvail;
        UsedIdx = state.UsedIdx;
        InUse = state.InUse;
        SignalledUsed = state.SignalledUsed;
        SignalledUsedValid = state.SignalledUsedValid;
        NotificationEnabled = state.NotificationEnabled;
        if (state.Ready)
        {
            ComputeAddresses(memory);
            Ready = true;
        }
        AssertInvariants();
        error = QueueConfigError.None;
        return true;
    }

    // ---------------------------------------------------------------- driver → device

    /// <summary>QEMU virtio_queue_empty: true when no new head is available. Re-reads avail.idx only when the
    /// shadow copy is used up. A not-ready queue is empty. A bogus avail.idx reads as "not empty" so that the next
    /// <see cref="TryPop"/> reports it.</summary>
    public bool IsEmpty(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!Ready)
            return true;
        if (ShadowAvail != NextAvail)
            return false;
        RingIndex avail = ReadAvailIdx(memory);
        if (RingIndex.Distance(NextAvail, avail) <= _size)
            ShadowAvail = avail;
        return avail == NextAvail;
    }

    /// <summary>
    /// Pops the next available chain into <paramref name="element"/> (QEMU virtqueue_split_pop). Returns false with
    /// <see cref="QueueError.None"/> when the queue is empty or not ready, false with an error when the guest broke
    /// a rule (the device should then enter NEEDS_RESET), true with the element filled otherwise.
    /// As in QEMU, once a head has been taken from the ring, last_avail_idx stays advanced even if its chain turns
    /// out bad, and with EVENT_IDX avail_event is published before the chain is walked.
    /// Linux vhost_get_vq_desc differs: it checks the avail distance on every call ("Guest moved used index"), does
    /// not count in-use elements, and leaves last_avail_idx for the caller to advance.
    /// </summary>
    public bool TryPop(GuestMemory memory, QueueElement element, out QueueError error)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(element);
        // Two compiled bodies of one algorithm: ring accesses through the windows, or through the memory's
        // accessors when an observer must see them (or the memory is not the one the queue was enabled on).
        return Direct(memory)
            ? TryPop<WindowRing>(memory, element, out error)
            : TryPop<MemoryRing>(memory, element, out error);
    }

    /// <summary>
    /// <see cref="TryPop"/> repeated: pops up to <paramref name="elements"/>.Length chains into
    /// <paramref name="elements"/>[0..<paramref name="count"/>), stopping where the sequential pops would stop: at an
    /// empty queue (<paramref name="error"/> None), a full span (None), or the first guest error (that pop's error,
    /// with the same state as after the failing <see cref="TryPop"/>). Returns true when no error stopped it. The
    /// argument checks and the choice between ring windows and accessors are made once per batch; with an observer
    /// attached it is exactly a loop of <see cref="TryPop"/> (the same accesses, so the same trace).
    /// </summary>
    public bool TryPopBatch(
        GuestMemory memory,
        ReadOnlySpan<QueueElement> elements,
        out int count,
        out QueueError error
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        count = 0;
        error = QueueError.None;
        if (!Direct(memory))
        {
            while (count < elements.Length && TryPop(memory, elements[count], out error))
                count++;
            return error == QueueError.None;
        }
        AssertIndexInvariants();
        if (!Ready || elements.Length == 0)
            return true;
        // Two compiled bodies: with EVENT_IDX and notifications on each pop publishes avail_event; otherwise none does.
        RingRefs rings = TakeRings();
        bool ok =
            EventIdx && NotificationEnabled
                ? TryPopBatchDirect<PublishAvailEvent>(memory, rings, elements, out count, out error)
                : TryPopBatchDirect<NoAvailEvent>(memory, rings, elements, out count, out error);
        AssertIndexInvariants();
        return ok;
    }

    private bool TryPop<TRing>(GuestMemory memory, QueueElement element, out QueueError error)
        where TRing : struct, IRingAccess
    {
        AssertIndexInvariants();
        error = QueueError.None;
        if (!Ready)
            return false;
        if (ShadowAvail == NextAvail)
        {
            RingIndex avail = new(TRing.ReadAvailIdx(this, memory));
            // QEMU virtqueue_num_heads: "Guest moved used index from %u to %u".
            if (RingIndex.Distance(NextAvail, avail) > _size)
            {
                error = QueueError.AvailIndexTooFar;
                return false;
            }
            ShadowAvail = avail;
            if (avail == NextAvail)
                return false;
        }
        if (InUse >= _size)
        {
            error = QueueError.SizeExceeded;
            return false;
        }

        // QEMU virtqueue_get_head(vq, vq->last_avail_idx++, &head): the index advances before the head is checked.
        ushort head = TRing.ReadAvailEntry(this, memory, NextAvail.Slot(_size));
        NextAvail = NextAvail.Next;
        if (head >= _size)
        {
            error = QueueError.HeadOutOfRange;
            AssertIndexInvariants();
            return false;
        }
        if (EventIdx && NotificationEnabled)
            TRing.WriteAvailEvent(this, memory, NextAvail.Value);

        if (!TryWalkChain<TRing>(memory, element, head, out error))
        {
            AssertIndexInvariants();
            return false;
        }
        InUse = unchecked(InUse + 1); // unchecked: InUse < _size <= 32768 was checked above
        AssertIndexInvariants();
        return true;
    }

    /// <summary>
    /// Walks the chain headed by <paramref name="head"/> into <paramref name="element"/> (the virtqueue_split_pop
    /// loop). Unobserved, the fast walk <see cref="TryWalkDirectFast"/> (SplitQueue.Fast.cs) answers the common chain;
    /// everything else goes to <see cref="TryWalkChainGeneral"/> and the reference walk <see cref="TryWalkTable"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryWalkChain<TRing>(GuestMemory memory, QueueElement element, ushort head, out QueueError error)
        where TRing : struct, IRingAccess
    {
        // Unobserved, the common chain (direct, every buffer in the table's region) takes a walk without calls; any
        // other chain (or error) is walked again from its head by the general loop, which re-reads its descriptors:
        // harmless, as reads change nothing and nobody watches them.
        if (
            typeof(TRing) == typeof(WindowRing)
            && TryWalkDirectFast(
                ref MemoryMarshal.GetReference(_descWindow.Bytes),
                _size,
                _tableRegionBase,
                _tableRegionSize,
                element,
                head
            )
        )
        {
            error = QueueError.None;
            return true;
        }
        return TryWalkChainGeneral<TRing>(memory, element, head, out error);
    }

    /// <summary>The general walk of <see cref="TryWalkChain"/>, out of line so that the pop keeps few registers live
    /// around the speculative walk.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryWalkChainGeneral<TRing>(GuestMemory memory, QueueElement element, ushort head, out QueueError error)
        where TRing : struct, IRingAccess
    {
        element.Reset(head);
        // head < _size was checked by TryPop (virtqueue_get_head).
        if (!TRing.TryReadDescriptor(this, memory, _descTable, head, out Descriptor d))
        {
            error = QueueError.DescTableOutsideMemory;
            return false;
        }
        if (d.IsIndirect)
            return TryWalkIndirect(memory, element, d, out error);
        return TryWalkTable<TRing>(this, memory, element, _descTable, _size, d, indirect: false, out error);
    }

    /// <summary>An INDIRECT head (VIRTIO 1.2 §2.7.5.3.1): checks it, reads the table's first descriptor and walks
    /// the table.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool TryWalkIndirect(GuestMemory memory, QueueElement element, Descriptor head, out QueueError error)
    {
        error = EnterIndirect(memory, head, out GuestAddress table, out int tableSize, out Descriptor first);
        if (error != QueueError.None)
            return false;
        return TryWalkTable<MemoryRing>(null, memory, element, table, tableSize, first, indirect: true, out error);
    }

    /// <summary>
    /// The reference chain walk (issue 11 section 3: the queue keeps one): the checks of QEMU virtqueue_split_pop /
    /// virtqueue_split_read_next_desc / virtqueue_map_desc in their order (order, zero length and mapping before the
    /// loop count; the next index when it is followed), with the element's iovecs built as it goes, fused into one
    /// loop whose state stays in registers. Stricter than QEMU on three spec "MUST NOT"s (nested indirect, INDIRECT
    /// with NEXT, INDIRECT after the head), which QEMU maps as data. The fast walk
    /// (<see cref="TryWalkDirectFast"/>) must equal it; ChainWalkDifferentialTests holds it to the tests' spec model.
    /// Walks one table from its already-read descriptor <paramref name="d"/>, following NEXT links. Bound: at most
    /// <paramref name="tableSize"/> + 1 descriptors (the loop check stops a walk one past its table's size).
    /// State kept small for the registers: <c>used</c> iovecs and <c>bytes</c> in all, and where the writable part
    /// starts (<c>outCount</c>, -1 until the first writable buffer, which also says whether one was seen).
    /// <para>Left whole, over the tidy limit of 70 lines, because splitting it measured slower (issue 11 §4 asks for
    /// no slowdown; docs/benchmarks.md, "Long hot methods"): with its steps as AggressiveInlining helpers
    /// (virtqueue_split_pop's and virtqueue_map_desc's checks of one descriptor, virtqueue_split_read_next_desc, the
    /// cross-region append), state passed by ref and the error in a local, an observed pop of a 4-descriptor chain
    /// cost 47.1-48.4 CPU ns against 45.3-45.8 whole (best of 5 interleaved rounds, 2026-12-07), with the steps
    /// returning a QueueError or a bool and an out error alike: the JIT's code for the walk grew from 1,412 to 1,509
    /// bytes, with extra tests of the steps' results and register moves in the loop.</para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryWalkTable<TRing>(
        SplitQueue? queue,
        GuestMemory memory,
        QueueElement element,
        GuestAddress table,
        int tableSize,
        Descriptor d,
        bool indirect,
        out QueueError error
    )
        where TRing : struct, IRingAccess
    {
        Iovec[] iovecs = element.Iovecs;
        int yielded = 0;
        int used = 0;
        int outCount = -1;
        ulong bytes = 0;
        ulong outBytes = 0;
        while (true)
        {
            if (d.IsIndirect)
            {
                // Only a direct table's head may be INDIRECT (§2.7.5.3.1), and that one never reaches this loop.
                error = indirect ? QueueError.NestedIndirect : QueueError.IndirectNotAtHead;
                break;
            }

            // QEMU virtqueue_split_pop: the order check comes before mapping the buffer.
            bool writable = d.IsWriteOnly;
            if (writable)
            {
                if (outCount < 0)
                {
                    outCount = used;
                    outBytes = bytes;
                }
            }
            else if (outCount >= 0)
            {
                error = QueueError.ReadableAfterWritable;
                break;
            }
            if (d.Len == 0)
            {
                error = QueueError.ZeroLengthBuffer;
                break;
            }
            // Inside one region a buffer cannot wrap (regions end below 2^64): the overflow test is for the rest.
            bool oneRegion = memory.IsValidRange(d.Addr, d.Len);
            if (!oneRegion)
            {
                error = CheckAcrossRegions(memory, d.Addr, d.Len);
                if (error != QueueError.None)
                    break;
            }

            // QEMU: "If we've got too many, that implies a descriptor loop" (++elem_entries > max).
            // unchecked: yielded <= tableSize <= IndirectDescriptorsMax before the increment.
            yielded = unchecked(yielded + 1);
            if (yielded > tableSize)
            {
                error = QueueError.LoopedChain;
                break;
            }

            // unchecked: used <= iovecs.Length (1024), and bytes is a sum of at most ChainDescriptorsMax 32-bit
            // lengths, far below 2^64.
            if (oneRegion && Narrow.AsUInt32Bits(used) < Narrow.AsUInt32Bits(iovecs.Length))
            {
                iovecs[used] = new Iovec(d.Addr, d.Len);
                used = unchecked(used + 1);
                bytes = unchecked(bytes + d.Len);
            }
            else
            {
                // A buffer across regions (one iovec per region) or no iovec left: the element's own slow path.
                StoreCounts(element, used, outCount, bytes, outBytes);
                if (!element.TryAppend(memory, d, oneRegion, out error))
                    return false;
                used = unchecked(element.OutCount + element.InCount);
                bytes = unchecked(element.OutBytes + element.InBytes);
            }

            if (!d.HasNext)
            {
                StoreCounts(element, used, outCount, bytes, outBytes);
                element.Finish(yielded, indirect);
                error = QueueError.None;
                return true;
            }
            int next = d.Next;
            if (Narrow.AsUInt32Bits(next) >= Narrow.AsUInt32Bits(tableSize))
            {
                error = QueueError.NextOutOfRange;
                break;
            }
            if (!TRing.TryReadDescriptor(queue, memory, table, next, out d))
            {
                error = indirect ? QueueError.IndirectTableOutsideMemory : QueueError.DescTableOutsideMemory;
                break;
            }
        }
        StoreCounts(element, used, outCount, bytes, outBytes);
        return false;
    }

    /// <summary>Checks an INDIRECT head (VIRTIO 1.2 §2.7.5.3.1: no NEXT, a whole number of descriptors, at most
    /// <see cref="QueueLimits.IndirectDescriptorsMax"/>, the table in guest memory) and reads its first
    /// descriptor.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static QueueError EnterIndirect(
        GuestMemory memory,
        Descriptor head,
        out GuestAddress table,
        out int tableSize,
        out Descriptor first
    )
    {
        table = default;
        tableSize = 0;
        first = default;
        if (head.HasNext)
            return QueueError.IndirectWithNext;
        if (head.Len == 0 || head.Len % VirtioSpec.DescSize != 0)
            return QueueError.IndirectBadLength;
        uint count = head.Len / VirtioSpec.DescSize;
        if (count > QueueLimits.IndirectDescriptorsMax)
            return QueueError.IndirectTooLarge;
        if (!memory.IsValidRange(head.Addr, head.Len))
            return QueueError.IndirectTableOutsideMemory;
        table = head.Addr;
        tableSize = Narrow.AsInt32Bits(count); // at most IndirectDescriptorsMax
        if (!TryReadDescriptor(memory, table, 0, out first))
            return QueueError.IndirectTableOutsideMemory;
        return QueueError.None;
    }

    /// <summary>A buffer that is not inside one region: it must not wrap and every byte must be backed (QEMU
    /// virtqueue_map_desc maps it piece by piece).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static QueueError CheckAcrossRegions(GuestMemory memory, GuestAddress addr, uint len)
    {
        if (!addr.TryAdd(len, out _))
            return QueueError.BufferAddressOverflow;
        if (!GuestRanges.IsBacked(memory, addr, len))
            return QueueError.BufferOutsideMemory;
        return QueueError.None;
    }

    /// <summary>Stores a walk's compact counts in the element as out/in counts and byte totals.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreCounts(QueueElement element, int used, int outCount, ulong bytes, ulong outBytes)
    {
        if (outCount < 0)
        {
            outCount = used;
            outBytes = bytes;
        }
        // unchecked: outCount <= used and outBytes <= bytes (snapshots taken when the first writable buffer came).
        element.SetCounts(outCount, unchecked(used - outCount), outBytes, unchecked(bytes - outBytes));
    }

    /// <summary>The ring accesses of a pop, as static members of two structs so that the JIT compiles one body of
    /// <see cref="TryPop(GuestMemory, QueueElement, out QueueError)"/> for each, with no per-access test of
    /// which.</summary>
    private interface IRingAccess
    {
        /// <summary>avail.idx.</summary>
        static abstract ushort ReadAvailIdx(SplitQueue queue, GuestMemory memory);

        /// <summary>avail.ring[<paramref name="slot"/>], slot &lt; size.</summary>
        static abstract ushort ReadAvailEntry(SplitQueue queue, GuestMemory memory, int slot);

        /// <summary>Stores avail_event (§2.7.10).</summary>
        static abstract void WriteAvailEvent(SplitQueue queue, GuestMemory memory, ushort value);

        /// <summary>Descriptor <paramref name="index"/> (&lt; the table's size) of <paramref name="table"/>;
        /// <paramref name="queue"/> is null for an indirect table.</summary>
        static abstract bool TryReadDescriptor(
            SplitQueue? queue,
            GuestMemory memory,
            GuestAddress table,
            int index,
            out Descriptor descriptor
        );
    }

    /// <summary>Ring accesses through the memory's accessors (what an observer sees).</summary>
    private readonly struct MemoryRing : IRingAccess
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ushort ReadAvailIdx(SplitQueue queue, GuestMemory memory) => queue.ReadAvailIdx(memory).Value;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ushort ReadAvailEntry(SplitQueue queue, GuestMemory memory, int slot) =>
            ReadU16(
                memory,
                new GuestAddress(queue._availRingAddr.Value + (Narrow.AsUInt64Bits(slot) * VirtioSpec.AvailElemSize))
            );

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void WriteAvailEvent(SplitQueue queue, GuestMemory memory, ushort value) =>
            queue.WriteAvailEvent(memory, new RingIndex(value));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool TryReadDescriptor(
            SplitQueue? queue,
            GuestMemory memory,
            GuestAddress table,
            int index,
            out Descriptor descriptor
        ) => SplitQueue.TryReadDescriptor(memory, table, index, out descriptor);
    }

    /// <summary>Reads descriptor <paramref name="index"/> of a table as one 16-byte guest read, decoded in
    /// place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryReadDescriptor(GuestMemory memory, GuestAddress table, int index, out Descriptor descriptor)
    {
        // unchecked: 0 <= index < the table's size, and the whole table was checked to lie in one region (the main
        // table at enable, an indirect one in EnterIndirect), so table + 16 * index cannot wrap.
        if (
            !memory.TryReadInPlace(
                new GuestAddress(unchecked(table.Value + (Narrow.AsUInt64Bits(index) * VirtioSpec.DescSize))),
                VirtioSpec.DescSize,
                out ReadOnlySpan<byte> raw
            )
        )
        {
            descriptor = default;
            return false;
        }
        descriptor = new Descriptor(
            new GuestAddress(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(raw)),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(raw[VirtioSpec.DescLenOffset..]),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescFlagsOffset..]),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescNextOffset..])
        );
        return true;
    }

    /// <summary>QEMU virtqueue_unpop: gives back the most recently popped element so the next pop returns it
    /// again.</summary>
    public void Unpop()
    {
        if (InUse == 0)
            throw new InvalidOperationException("Unpop with no element in use");
        NextAvail = NextAvail.Previous;
        InUse--;
        AssertIndexInvariants();
    }

    /// <summary>QEMU virtqueue_rewind: un-pops the last <paramref name="count"/> elements; false (and no change)
    /// when fewer are in use.</summary>
    public bool Rewind(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > InUse)
            return false;
        NextAvail = NextAvail.Subtract(count);
        InUse -= count;
        AssertIndexInvariants();
        return true;
    }

    /// <summary>QEMU virtqueue_detach_element: the device drops an element without completing it (it will never
    /// appear in the used ring; the driver learns of it only by reset).</summary>
    public void Detach()
    {
        if (InUse == 0)
            throw new InvalidOperationException("Detach with no element in use");
        InUse--;
        AssertIndexInvariants();
    }

    // ---------------------------------------------------------------- device → driver

    /// <summary>QEMU virtqueue_fill: writes used entry {id = <paramref name="head"/>, len = <paramref name="len"/>}
    /// at used_idx + <paramref name="idx"/>, not yet visible (see <see cref="Flush"/>). <paramref name="len"/> is
    /// the number of bytes the device wrote to the chain's writable buffers (VIRTIO 1.2 §2.7.8.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Fill(GuestMemory memory, ushort head, uint len, int idx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ThrowIfNotReady();
        if (head >= _size)
            throw new ArgumentOutOfRangeException(nameof(head), head, "head is not a descriptor index of this queue");
        if (Narrow.AsUInt32Bits(idx) >= Narrow.AsUInt32Bits(InUse))
            throw new ArgumentOutOfRangeException(nameof(idx), idx, "fill index beyond the elements in use");
        int slot = UsedIdx.Add(idx).Slot(_size);
        // id (le32) + len (le32) as one little-endian 8-byte store.
        ulong entry = head | ((ulong)len << 32);
        if (Direct(memory))
            // unchecked: slot < size
            _usedWindow.WriteUInt64(unchecked(VirtioSpec.UsedRingOffset + (slot * VirtioSpec.UsedElemSize)), entry);
        else
            WriteUsedEntry(memory, slot, entry);
    }

    /// <summary>
    /// <see cref="Fill"/> repeated for <paramref name="elements"/>[k] with used.len <paramref name="lens"/>[k] at
    /// used_idx + <paramref name="idx"/> + k (Linux vhost_add_used_n: an array of used elements written in one go,
    /// split where it wraps past the ring's end). The same checks and the same entries as the sequential fills; with
    /// an observer watching it is exactly that loop (the same accesses, so the same trace), and unobserved the entries
    /// are stored through a span over the used ring's window and their pages marked dirty once per contiguous run.
    /// </summary>
    public void FillBatch(GuestMemory memory, ReadOnlySpan<QueueElement> elements, ReadOnlySpan<uint> lens, int idx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (lens.Length < elements.Length)
            throw new ArgumentException("one used.len per element", nameof(lens));
        int n = elements.Length;
        if (!Direct(memory))
        {
            for (int k = 0; k < n; k++)
                Fill(memory, elements[k].Head, lens[k], checked(idx + k));
            return;
        }
        FillBatchDirect(elements, lens, idx);
    }

    /// <summary>The accessor path of <see cref="Fill"/>'s used-entry store, out of line (Fill is inlined into
    /// devices).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteUsedEntry(GuestMemory memory, int slot, ulong entry)
    {
        bool ok = memory.TryWriteUInt64(
            new GuestAddress(_usedRingAddr.Value + (Narrow.AsUInt64Bits(slot) * VirtioSpec.UsedElemSize)),
            entry
        );
        Assert(ok, "used ring validated at enable is not writable");
    }

    /// <summary>QEMU virtqueue_split_flush: publishes <paramref name="count"/> filled entries by advancing used.idx
    /// (after the entries: the write barrier of §2.7.8.2 is program order here), and invalidates signalled_used if
    /// the new window overtook it.</summary>
    public void Flush(GuestMemory memory, int count)
    {
        ArgumentNullException.ThrowIfNull(memory);
        FlushCore(memory, count, Direct(memory));
    }

    /// <summary><see cref="Flush"/> after its argument check, the window choice made by the caller.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void FlushCore(GuestMemory memory, int count, bool direct)
    {
        ThrowIfNotReady();
        if (Narrow.AsUInt32Bits(count) > Narrow.AsUInt32Bits(InUse))
            throw new ArgumentOutOfRangeException(nameof(count), count, "flushing more elements than are in use");
        AssertIndexInvariants();
        RingIndex old = UsedIdx;
        RingIndex updated = old.Add(count);
        if (direct)
        {
            _usedWindow.WriteUInt16(VirtioSpec.UsedIdxOffset, updated.Value);
        }
        else
        {
            bool ok = memory.TryWriteUInt16(_usedIdxAddr, updated.Value);
            Assert(ok, "used ring validated at enable is not writable");
        }
        UsedIdx = updated;
        InUse -= count;
        if (RingIndex.MarkOvertaken(SignalledUsed, updated, old))
            SignalledUsedValid = false;
        AssertIndexInvariants();
    }

    /// <summary>QEMU virtqueue_push: <see cref="Fill"/> at 0 then <see cref="Flush"/> of 1.</summary>
    public void Push(GuestMemory memory, ushort head, uint len)
    {
        Fill(memory, head, len, 0);
        Flush(memory, 1);
    }

    /// <summary>
    /// QEMU virtio_split_should_notify (VIRTIO 1.2 §2.7.7.2, §2.7.10): whether the device must interrupt the driver
    /// now. With NOTIFY_ON_EMPTY, always when nothing is in use and the queue is empty. Without EVENT_IDX: unless the
    /// driver set VIRTQ_AVAIL_F_NO_INTERRUPT. With EVENT_IDX: when used.idx moved past used_event since the last
    /// decision (vring_need_event), or unconditionally when that last decision is not valid.
    /// Records the decision point (signalled_used) as QEMU does, so call it once per notification opportunity.
    /// </summary>
    public bool ShouldNotify(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return ShouldNotifyCore(memory, Direct(memory));
    }

    /// <summary><see cref="ShouldNotify"/> after its argument check, the window choice made by the caller.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ShouldNotifyCore(GuestMemory memory, bool direct)
    {
        ThrowIfNotReady();
        if (NotifyOnEmpty && InUse == 0 && IsEmpty(memory))
            return true;
        if (!EventIdx)
        {
            ushort flags = direct ? _availWindow.ReadUInt16(VirtioSpec.AvailFlagsOffset) : ReadU16(memory, _availRing);
            return (flags & VirtioSpec.AvailFNoInterrupt) == 0;
        }
        bool valid = SignalledUsedValid;
        SignalledUsedValid = true;
        RingIndex old = SignalledUsed;
        SignalledUsed = UsedIdx;
        RingIndex usedEvent = new(direct ? _availWindow.ReadUInt16(_usedEventOffset) : ReadU16(memory, _usedEventAddr));
        return !valid || RingIndex.NeedEvent(usedEvent, UsedIdx, old);
    }

    /// <summary>
    /// The completion of a kick in one call, as Linux vhost_add_used_and_signal_n: <see cref="FillBatch"/> of
    /// <paramref name="elements"/> at used_idx + 0.. with used.len <paramref name="lens"/>, <see cref="Flush"/> of
    /// them all, then <see cref="ShouldNotify"/>, whose answer it returns (QEMU's batching devices: virtqueue_fill
    /// each, virtqueue_flush, virtio_notify). Exactly those three calls (an observer sees their accesses); the
    /// argument checks and the window choice are made once (SplitQueue.Fast.cs names the reference and its test).
    /// </summary>
    public bool AddUsedAndSignal(GuestMemory memory, ReadOnlySpan<QueueElement> elements, ReadOnlySpan<uint> lens)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!Direct(memory))
        {
            FillBatch(memory, elements, lens, 0);
            Flush(memory, elements.Length);
            return ShouldNotify(memory);
        }
        return AddUsedAndSignalDirect(memory, elements, lens);
    }

    /// <summary>
    /// QEMU virtio_queue_set_notification: asks the driver to kick (enable) or not (disable). Without EVENT_IDX it
    /// sets or clears VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX, enabling writes avail_event = the current avail.idx and
    /// disabling writes nothing but stops <see cref="TryPop"/> from advancing avail_event (vring_set_avail_event
    /// returns early while notification is off). After enabling, the device must re-check <see cref="IsEmpty"/> to
    /// close the race with a driver that published just before (§2.7.10).
    /// </summary>
    public void SetNotification(GuestMemory memory, bool enable)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ThrowIfNotReady();
        NotificationEnabled = enable;
        if (EventIdx)
        {
            RingIndex avail = ReadAvailIdx(memory);
            if (RingIndex.Distance(NextAvail, avail) <= _size)
                ShadowAvail = avail;
            if (enable)
                WriteAvailEvent(memory, avail);
            return;
        }
        ushort flags = ReadU16(memory, _usedRing);
        flags = enable
            ? Narrow.LowUInt16(flags & ~VirtioSpec.UsedFNoNotify)
            : Narrow.LowUInt16(flags | VirtioSpec.UsedFNoNotify);
        bool ok = memory.TryWriteUInt16(_usedRing, flags);
        Assert(ok, "used ring validated at enable is not writable");
    }

    // ---------------------------------------------------------------- checks

    /// <summary>Always-on host-side invariants (STYLE item 11). Guest data cannot break these; a failure is a bug
    /// in the device or in this class.</summary>
    public void AssertInvariants()
    {
        Assert(VirtioSpec.IsValidQueueSize(_size), "size is a power of two up to 32768");
        Assert(_size <= MaxSize, "size within the device maximum");
        AssertIndexInvariants();
    }

    /// <summary>The invariants the hot operations (pop, fill, flush, unpop) can break: two compares, no loop. The
    /// size invariants are checked where the size changes (<see cref="Reset"/>, <see cref="TrySetSize"/>,
    /// <see cref="TryEnable"/>, <see cref="TryRestore"/>), the only places that assign it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AssertIndexInvariants()
    {
        Assert(Narrow.AsUInt32Bits(InUse) <= Narrow.AsUInt32Bits(_size), "in-use count within 0 .. queue size");
        Assert(
            RingIndex.Distance(NextAvail, ShadowAvail) <= _size,
            "shadow avail idx within one queue of last_avail_idx"
        );
    }

    // ---------------------------------------------------------------- ring access

    /// <summary>True when ring accesses may go through the windows: <paramref name="memory"/> is the memory the
    /// queue was enabled on and no observer watches it (an observer must see every ring access as before).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Direct(GuestMemory memory) => ReferenceEquals(memory, _windowMemory) && !memory.IsObserved;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private RingIndex ReadAvailIdx(GuestMemory memory) => new(ReadU16(memory, _availIdxAddr));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ushort ReadAvailEntry(GuestMemory memory, RingIndex index) =>
        ReadU16(
            memory,
            new GuestAddress(_availRingAddr.Value + (Narrow.AsUInt64Bits(index.Slot(_size)) * VirtioSpec.AvailElemSize))
        );

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteAvailEvent(GuestMemory memory, RingIndex value)
    {
        bool ok = memory.TryWriteUInt16(_availEventAddr, value.Value);
        Assert(ok, "used ring validated at enable is not writable");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort ReadU16(GuestMemory memory, GuestAddress address)
    {
        bool ok = memory.TryReadUInt16(address, out ushort value);
        Assert(ok, "ring validated at enable is not readable");
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Assert(bool condition, string what)
    {
        if (!condition)
            Fail(what);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Fail(string what) => throw new InvalidOperationException("SplitQueue invariant: " + what);

    private void ThrowIfReady()
    {
        if (Ready)
            throw new InvalidOperationException("the queue is ready: disable or reset it before reconfiguring");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ThrowIfNotReady()
    {
        if (!Ready)
            ThrowNotReady();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNotReady() => throw new InvalidOperationException("the queue is not ready");
}
