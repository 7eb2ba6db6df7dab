using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Sim.Engine;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Oracles 3 and 4 for one split virtqueue, as an <see cref="IMemoryObserver"/> outside device code (STYLE item 12):
/// it sees only the device's guest-memory accesses (<see cref="MemoryActor.Device"/>) and judges them.
/// <list type="bullet">
/// <item><b>permission</b>: the device reads only the rings, the readable buffers and indirect tables of chains it has
/// fetched and not yet completed, and writes only the used ring (incl. avail_event) and the writable buffers of those
/// chains (VIRTIO 1.2 §2.7.4: "device-writable" vs "device-readable"; §2.7.8 the used ring is the device's). Nothing
/// of a chain is touched once its id is in the used ring (§2.7.8.2: the buffer belongs to the driver again).</item>
/// <item><b>used-ring</b>: every used id was a fetched head still in flight; each completes once per fetch; used.len
/// does not exceed the bytes the device wrote to that chain's writable buffers (§2.7.8.2 "The device MUST write at
/// least len bytes to descriptor"); used.idx only moves forward, by at most the chains in flight.</item>
/// </list>
/// A head counts as fetched when the device reads its available-ring entry. The checker then walks the chain itself,
/// permissively (the union of what QEMU virtqueue_split_pop and Linux vhost_get_vq_desc would use: NEXT on an indirect
/// head is followed, an indirect table is walked both by next and in order, a nested indirect descriptor is both a
/// buffer and a table), so only accesses no backend could justify are reported. It allocates only while growing its
/// range arrays and when reporting.
/// </summary>
internal sealed class VirtqueueChecker : IMemoryObserver
{
    /// <summary>Oracle name for access-permission violations.</summary>
    public const string PermissionOracle = "permission";

    /// <summary>Oracle name for used-ring invariant violations.</summary>
    public const string UsedRingOracle = "used-ring";

    /// <summary>Most descriptors the checker walks in one table (bounds its own loop over guest data).</summary>
    public const int TableDescriptorsMax = 65536;

    private const int DescSize = 16;
    private const ushort FlagNext = 1;
    private const ushort FlagWrite = 2;
    private const ushort FlagIndirect = 4;

    private readonly int _sizeMax;
    private readonly int[] _fetched; // per head: fetches not yet completed
    private readonly ulong[] _written; // per head: bytes the device wrote into its writable buffers
    private readonly ulong[] _offered; // per head: most writable bytes one walk of its chain sums, repeats counted

    // Per used-ring slot: the id and len the device last stored there (bit 0 / bit 1 of _usedKnown) since the slot was
    // last published. A guest store over the slot between the device's fill and its used.idx store (an interleaving
    // point, or rings that overlap) is the guest's doing: publication is judged on the device's values.
    private readonly uint[] _usedId;
    private readonly uint[] _usedLen;
    private readonly byte[] _usedKnown;
    private readonly Chain[] _chains;
    private readonly int[] _live; // heads with _fetched > 0

    // Available-ring positions (free-running, as last_avail_idx), for the resume rule (see Resume): per head the
    // position of its fetch (known only when the head is in flight once, or again at the same position), per slot
    // the position of the last chain the device completed from it (valid when _doneGen[slot] == _posGen).
    private readonly ushort[] _headPos;
    private readonly bool[] _headPosKnown;
    private readonly ushort[] _donePos;
    private readonly int[] _doneGen;
    private int _posGen;
    private bool _positionsReliable;
    private bool _resumed;
    private ushort _nextPos; // where the device's next fetch is expected (one past the last fetch)
    private ushort _availIdxRead; // the avail.idx the device read last
    private bool _availIdxKnown;
    private int _liveCount;
    private int _inFlight;
    private int _walkStamp; // one per walk (and per indirect pass), for RangeList.Add's repeat check

    private GuestMemory? _memory;
    private int _size;
    private GuestRange _descTable;
    private GuestRange _availRing;
    private GuestRange _usedRing;
    private ulong _usedIdxAddr;
    private ushort _usedIdx;

    public VirtqueueChecker(int sizeMax)
    {
        if (sizeMax <= 0 || sizeMax > 32768)
            throw new ArgumentOutOfRangeException(nameof(sizeMax), "queue size must be in 1..32768");
        _sizeMax = sizeMax;
        _fetched = new int[sizeMax];
        _written = new ulong[sizeMax];
        _offered = new ulong[sizeMax];
        _usedId = new uint[sizeMax];
        _usedLen = new uint[sizeMax];
        _usedKnown = new byte[sizeMax];
        _chains = new Chain[sizeMax];
        for (int i = 0; i < sizeMax; i++)
            _chains[i] = new Chain();
        _live = new int[sizeMax];
        _headPos = new ushort[sizeMax];
        _headPosKnown = new bool[sizeMax];
        _donePos = new ushort[sizeMax];
        _doneGen = new int[sizeMax];
    }

    /// <summary>Where violations are reported; null disables reporting (the state is still tracked).</summary>
    public FuzzContext? Context { get; set; }

    /// <summary>True between <see cref="Configure"/> and <see cref="Deactivate"/>.</summary>
    public bool Active { get; private set; }

    /// <summary>What bounds used.len (default: the bytes written, as the spec says).</summary>
    public UsedLenRule UsedLenRule { get; set; }

    /// <summary>Told of each used entry before its chain is forgotten (the response oracle); null: nobody.</summary>
    public ICompletionObserver? CompletionObserver { get; set; }

    /// <summary>The checker of another queue of the same device (virtio-net's transmitq1 beside receiveq1): an access
    /// that its rings or chains in flight allow is not a violation here (each checker judges its own queue; an access
    /// is reported only when no queue's state allows it).</summary>
    public VirtqueueChecker? Peer { get; set; }

    /// <summary>True when this queue's rings or readable buffers and tables in flight cover the read.</summary>
    public bool AllowsRead(ulong address, ulong length)
    {
        if (!Active)
            return false;
        if (
            _availRing.Contains(address, length)
            || _descTable.Contains(address, length)
            || _usedRing.Contains(address, length)
        )
            return true;
        for (int i = 0; i < _liveCount; i++)
        {
            Chain c = _chains[_live[i]];
            if (c.Readable.AnyContains(address, length) || c.Tables.AnyContains(address, length))
                return true;
        }
        return false;
    }

    /// <summary>True when this queue's used ring or writable buffers in flight cover the write.</summary>
    public bool AllowsWrite(ulong address, ulong length)
    {
        if (!Active)
            return false;
        if (_usedRing.Contains(address, length))
            return true;
        for (int i = 0; i < _liveCount; i++)
        {
            if (_chains[_live[i]].Writable.AnyContains(address, length))
                return true;
        }
        return false;
    }

    /// <summary>The used.idx the checker has seen the device publish.</summary>
    public ushort UsedIdx => _usedIdx;

    /// <summary>Chains fetched and not yet completed.</summary>
    public int InFlight => _inFlight;

    /// <summary>The head of the one chain in flight, fetched once; -1 when none or several are in flight (a device that
    /// broke on a chain left it there: QEMU virtqueue_detach_element never completes it).</summary>
    public int SoleInFlightHead()
    {
        if (!Active || _inFlight != 1)
            return -1;
        for (int i = 0; i < _liveCount; i++)
        {
            if (_fetched[_live[i]] == 1)
                return _live[i];
        }
        return -1;
    }

    /// <summary>Device reads of one descriptor's size (16 bytes) seen while active: a pop reads nothing else that wide,
    /// so the difference across a pop is the descriptors it read (<see cref="Oracles.PopOracle"/>'s bound).</summary>
    public long DescriptorSizedReads { get; private set; }

    /// <summary>Violations seen since <see cref="Configure"/> (also when <see cref="Context"/> is null).</summary>
    public int Violations { get; private set; }

    /// <summary>Starts checking a live queue (queue enable / DRIVER_OK): forgets every chain in flight.
    /// <paramref name="usedIdx"/> is the used.idx the device starts from (0 after reset, or a restored base).
    /// <paramref name="nextAvail"/>, when given, is the available-ring position the device starts from (its
    /// last_avail_idx): the checker then follows the positions the device consumes, for <see cref="Resume"/>.</summary>
    public void Configure(
        GuestMemory memory,
        ulong descTable,
        ulong availRing,
        ulong usedRing,
        int size,
        ushort usedIdx = 0,
        ushort? nextAvail = null
    )
    {
        Start(memory, descTable, availRing, usedRing, size, usedIdx);
        _posGen++;
        _resumed = false;
        _nextPos = nextAvail ?? 0;
        // Rings that overlap let the device's own stores move avail.idx and its entries, and its used-ring reads land
        // on avail.idx: which position a slot read names is then not known.
        _positionsReliable = nextAvail.HasValue && !RingsOverlap();
    }

    /// <summary>Starts checking again after the device stopped without a reset (DRIVER_OK cleared and set again:
    /// QEMU vhost_dev_stop / vhost_dev_start, or a VM stop and continue), on the same rings: as
    /// <see cref="Configure"/>, but it keeps the available-ring positions the device completed chains from and
    /// reports, from now on, a head taken again from such a position (<c>used-ring/completed-chain-refetched</c>).
    /// QEMU vhost_virtqueue_stop stores VHOST_GET_VRING_BASE with virtio_queue_set_last_avail_idx and
    /// vhost_virtqueue_start hands virtio_queue_get_last_avail_idx back with VHOST_SET_VRING_BASE, so the device
    /// resumes where it stopped; a chain it already returned in the used ring belongs to the driver again (VIRTIO 1.2
    /// §2.7.8) and is not available until the driver's avail.idx passes its slot once more. Judged only when the
    /// positions were followed since the last <see cref="Configure"/> with a start position (rings that do not overlap,
    /// no avail.idx read outside the window the device may use, no chain buffer over the available ring); a reset or a
    /// ring change calls <see cref="Configure"/> instead.</summary>
    public void Resume(GuestMemory memory, ulong descTable, ulong availRing, ulong usedRing, int size, ushort usedIdx)
    {
        bool same =
            ReferenceEquals(memory, _memory)
            && size == _size
            && descTable == _descTable.Start
            && availRing == _availRing.Start
            && usedRing == _usedRing.Start;
        bool keep = same && _positionsReliable;
        Start(memory, descTable, availRing, usedRing, size, usedIdx);
        _resumed = keep;
        _positionsReliable = keep;
    }

    private void Start(GuestMemory memory, ulong descTable, ulong availRing, ulong usedRing, int size, ushort usedIdx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (size <= 0 || size > _sizeMax || (size & (size - 1)) != 0)
            throw new ArgumentOutOfRangeException(
                nameof(size),
                "queue size must be a power of two within the checker's maximum"
            );
        Clear();
        _memory = memory;
        _size = size;
        _descTable = new GuestRange(descTable, (ulong)size * DescSize);
        _availRing = new GuestRange(availRing, 6 + (2UL * (ulong)size));
        _usedRing = new GuestRange(usedRing, 6 + (8UL * (ulong)size));
        _usedIdxAddr = usedRing + 2;
        _usedIdx = usedIdx;
        _availIdxKnown = false;
        Violations = 0;
        Active = true;
    }

    private bool RingsOverlap() =>
        _descTable.Overlap(_availRing.Start, _availRing.Length) > 0
        || _descTable.Overlap(_usedRing.Start, _usedRing.Length) > 0
        || _availRing.Overlap(_usedRing.Start, _usedRing.Length) > 0;

    /// <summary>The device (re)started the queue and took used.idx from guest memory: its next publication continues
    /// from the value now stored there, which the guest may have changed meanwhile (a direct store, or — with the used
    /// ring on top of the available ring — its own avail.idx stores). Linux vhost_vq_init_access sets last_used_idx
    /// from used-&gt;idx whenever a backend is attached (VHOST_SET_VRING_BASE restores only last_avail_idx); QEMU
    /// virtio_queue_update_used_idx / virtio_load do the same. Chains in flight stay in flight.</summary>
    public void RebaseUsedIdx()
    {
        if (!Active || !_memory!.TryGetSpan(new GuestAddress(_usedIdxAddr), 2, out Span<byte> raw))
            return;
        _usedIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
    }

    /// <summary>Stops checking (device reset, queue disabled): accesses are ignored until the next
    /// <see cref="Configure"/>.</summary>
    public void Deactivate()
    {
        Active = false;
        Clear();
    }

    private void Clear()
    {
        for (int i = 0; i < _liveCount; i++)
        {
            int h = _live[i];
            _fetched[h] = 0;
            _written[h] = 0;
            _offered[h] = 0;
            _chains[h].Clear();
        }
        _liveCount = 0;
        _inFlight = 0;
        Array.Clear(_usedKnown);
    }

    /// <summary>True when [address, address + length) lies inside one buffer of an in-flight chain headed by
    /// <paramref name="head"/> with the given direction (lets a target check a popped element against the
    /// chain).</summary>
    public bool Covers(int head, ulong address, ulong length, bool writable)
    {
        if ((uint)head >= (uint)_size || _fetched[head] == 0)
            return false;
        Chain c = _chains[head];
        return writable ? c.Writable.AnyContains(address, length) : c.Readable.AnyContains(address, length);
    }

    /// <summary>How many times <paramref name="head"/> is in flight.</summary>
    public int FetchCount(int head) => (uint)head < (uint)_size ? _fetched[head] : 0;

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor != MemoryActor.Device || !Active)
            return;
        ulong a = address.Value;
        ulong len = (ulong)data.Length;
        if (len == DescSize)
            DescriptorSizedReads++;
        if (_availRing.Contains(a, len))
        {
            // An available-ring entry read is the device taking a head (QEMU virtqueue_get_head, vhost get_user(head)).
            ulong off = a - _availRing.Start;
            if (len == 2 && off >= 4 && off < 4 + (2UL * (ulong)_size))
                Fetch(BinaryPrimitives.ReadUInt16LittleEndian(data), off);
            else if (_positionsReliable && off < 4 && off + len > 2)
                NoteAvailIdx(off, data);
            return;
        }
        if (_descTable.Contains(a, len) || _usedRing.Contains(a, len))
            return;
        for (int i = 0; i < _liveCount; i++)
        {
            Chain c = _chains[_live[i]];
            if (c.Readable.AnyContains(a, len) || c.Tables.AnyContains(a, len))
                return;
        }
        if (Peer is not null && Peer.AllowsRead(a, len))
            return;
        ReportRead(a, len);
    }

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor != MemoryActor.Device || !Active)
            return;
        ulong a = address.Value;
        ulong len = (ulong)data.Length;
        bool allowed = _usedRing.Contains(a, len);
        for (int i = 0; i < _liveCount; i++)
        {
            int h = _live[i];
            Chain c = _chains[h];
            if (c.Writable.AnyContains(a, len))
            {
                allowed = true;
                _written[h] = Math.Min(_written[h] + len, uint.MaxValue + 1UL);
            }
        }
        if (!allowed && !(Peer?.AllowsWrite(a, len) ?? false))
            ReportWrite(a, len);
        if (_usedRing.Overlap(a, len) > 0)
            NoteUsedEntries(a, data);
        // A device store into a descriptor table (rings that overlap) changes chains the device may walk next: the
        // walk it does after its own avail_event store must be judged on what it then reads, so walk again (union).
        if (_descTable.Overlap(a, len) > 0 || TablesOverlap(a, len))
            RewalkLive();
        // used.idx published: a le16 store to the field (QEMU virtqueue_split_flush, vhost's put_user(used->idx)). A
        // wider store over it is a writable buffer that overlaps the used ring: the guest's doing, not a publication.
        if (a == _usedIdxAddr && len == 2)
            Publish(BinaryPrimitives.ReadUInt16LittleEndian(data));
    }

    private bool TablesOverlap(ulong a, ulong len)
    {
        for (int i = 0; i < _liveCount; i++)
        {
            RangeList tables = _chains[_live[i]].Tables;
            for (int t = 0; t < tables.Count; t++)
            {
                if (tables[t].Overlap(a, len) > 0)
                    return true;
            }
        }
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RewalkLive()
    {
        for (int i = 0; i < _liveCount; i++)
        {
            Chain c = _chains[_live[i]];
            int before = c.Readable.Count + c.Writable.Count + c.Tables.Count;
            WalkChain(_live[i]);
            // The store changed the chain after the device took it: QEMU virtqueue_split_pop copied the descriptors
            // into the element at pop time, so the union now holds buffers that device never used (not plain).
            if (c.Readable.Count + c.Writable.Count + c.Tables.Count != before)
                c.RewrittenInFlight = true;
        }
    }

    private void Fetch(ushort head, ulong off)
    {
        if (_positionsReliable)
            NotePosition(head < _size ? head : -1, off);
        if (head >= _size)
            return; // the device will refuse it (QEMU "Guest says index %u is available")
        if (_fetched[head]++ == 0)
        {
            _live[_liveCount++] = head;
            _written[head] = 0;
            _offered[head] = 0;
            _chains[head].Clear();
        }
        // A head fetched again while in flight (re-published, or unpopped) may have been rewritten: keep the union.
        WalkChain(head);
        // A buffer or table over the available ring: the device's reads of it look like avail.idx and entry reads.
        if (_positionsReliable && OverlapsAvail(_chains[head]))
            _positionsReliable = false;
        _inFlight++;
        Context?.NoteRequest(_chains[head].Readable.TotalLength(), _chains[head].Writable.TotalLength());
    }

    private void Publish(ushort newIdx)
    {
        int distance = Narrow.ToUInt16Wrapping(newIdx - _usedIdx);
        if (distance == 0)
            return;
        if (distance > _inFlight)
        {
            Report(
                UsedRingOracle,
                "used-ring/idx-beyond-completions",
                $"used.idx moved from {_usedIdx} to {newIdx} ({distance} entries) with {_inFlight} chains in flight "
                    + "(VIRTIO 1.2 §2.7.8: used.idx advances by the entries added)"
            );
            _usedIdx = newIdx;
            return;
        }
        for (int k = 0; k < distance; k++)
        {
            int slot = unchecked((ushort)(_usedIdx + k)) & (_size - 1);
            if (
                !_memory!.TryGetSpan(
                    new GuestAddress(_usedRing.Start + 4 + (8UL * (ulong)slot)),
                    8,
                    out Span<byte> entry
                )
            )
                continue;
            byte known = _usedKnown[slot];
            _usedKnown[slot] = 0;
            uint id = (known & 1) != 0 ? _usedId[slot] : BinaryPrimitives.ReadUInt32LittleEndian(entry);
            uint len = (known & 2) != 0 ? _usedLen[slot] : BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]);
            if (id >= (uint)_size || _fetched[id] == 0)
            {
                Report(
                    UsedRingOracle,
                    "used-ring/id-not-in-flight",
                    $"used entry {unchecked((ushort)(_usedIdx + k))} has id {id}, which is not a head the device "
                        + "fetched and has not completed (VIRTIO 1.2 §2.7.8: id is the head of a used descriptor "
                        + "chain)"
                );
                continue;
            }
            if (UsedLenRule == UsedLenRule.Offered)
            {
                ulong offered = _offered[id];
                if (len > offered)
                    Report(
                        UsedRingOracle,
                        "used-ring/len-exceeds-offered",
                        $"used entry for head {id} says len {len} but its chain offers only {offered} writable bytes "
                            + "(VIRTIO 1.2 §2.7.8.2)"
                    );
            }
            else if (len > _written[id])
            {
                Report(
                    UsedRingOracle,
                    "used-ring/len-exceeds-written",
                    $"used entry for head {id} says len {len} but the device wrote {_written[id]} bytes into its "
                        + "writable buffers (VIRTIO 1.2 §2.7.8.2: the device MUST write at least len bytes)"
                );
            }
            CompletionObserver?.OnCompleted((int)id, len, _chains[id].Readable, _chains[id].Writable, IsPlain((int)id));
            Complete((int)id);
        }
        _usedIdx = newIdx;
    }

    /// <summary>Notes the used-entry fields a device store at <paramref name="a"/> sets whole (a field it covers in
    /// part is no longer known: the memory's value is judged).</summary>
    private void NoteUsedEntries(ulong a, ReadOnlySpan<byte> data)
    {
        ulong end = a + (ulong)data.Length;
        ulong first = _usedRing.Start + 4;
        ulong from = a > first ? (a - first) / 8 : 0;
        for (ulong s = from; s < (ulong)_size && first + (8 * s) < end; s++)
        {
            int slot = (int)s;
            NoteField(a, data, first + (8 * s), slot, 1, _usedId);
            NoteField(a, data, first + (8 * s) + 4, slot, 2, _usedLen);
        }
    }

    private void NoteField(ulong a, ReadOnlySpan<byte> data, ulong field, int slot, byte bit, uint[] values)
    {
        ulong end = a + (ulong)data.Length;
        if (field + 4 <= a || field >= end)
            return;
        if (a <= field && field + 4 <= end)
        {
            values[slot] = BinaryPrimitives.ReadUInt32LittleEndian(data[(int)(field - a)..]);
            _usedKnown[slot] |= bit;
        }
        else
        {
            _usedKnown[slot] &= (byte)~bit;
        }
    }

    /// <summary>See <see cref="ICompletionObserver"/>: fetched once, no indirect table, no buffer reached twice by
    /// one walk, not rewritten by a device store while in flight, no buffer over a ring.</summary>
    private bool IsPlain(int head)
    {
        Chain c = _chains[head];
        if (_fetched[head] != 1 || c.Tables.Count != 0 || c.RepeatsBuffer || c.RewrittenInFlight)
            return false;
        return !OverlapsRings(c.Readable) && !OverlapsRings(c.Writable);
    }

    private bool OverlapsRings(RangeList list)
    {
        for (int i = 0; i < list.Count; i++)
        {
            GuestRange r = list[i];
            if (
                _descTable.Overlap(r.Start, r.Length) > 0
                || _availRing.Overlap(r.Start, r.Length) > 0
                || _usedRing.Overlap(r.Start, r.Length) > 0
            )
                return true;
        }
        return false;
    }

    private void Complete(int head)
    {
        if (_positionsReliable && _headPosKnown[head])
        {
            int slot = _headPos[head] & (_size - 1);
            _donePos[slot] = _headPos[head];
            _doneGen[slot] = _posGen;
        }
        _inFlight--;
        if (--_fetched[head] > 0)
            return;
        _written[head] = 0;
        _offered[head] = 0;
        _chains[head].Clear();
        for (int i = 0; i < _liveCount; i++)
        {
            if (_live[i] != head)
                continue;
            _live[i] = _live[--_liveCount];
            break;
        }
    }

    /// <summary>A device read of avail.idx (at <paramref name="off"/> in the available ring). The device's next fetch
    /// is at the position after its last one or, after a chain it failed on and did not advance past (Linux
    /// vhost_get_vq_desc), at that one: both must lie in the window [idx - size, idx) for a slot to name one position.
    /// A value outside it (the guest moved avail.idx back, or more than a ring ahead) can leave the device reading
    /// slots against another window (Linux vhost keeps a value that failed its check in vq-&gt;avail_idx, and
    /// vhost_enable_notify stores its re-read unchecked), so positions are no longer followed; so neither after a read
    /// of part of the field.</summary>
    private void NoteAvailIdx(ulong off, ReadOnlySpan<byte> data)
    {
        if (off > 2 || off + (ulong)data.Length < 4)
        {
            _positionsReliable = false;
            return;
        }
        ushort idx = BinaryPrimitives.ReadUInt16LittleEndian(data[(int)(2 - off)..]);
        if (Narrow.ToUInt16Wrapping(idx - _nextPos) >= _size)
        {
            _positionsReliable = false;
            return;
        }
        _availIdxRead = idx;
        _availIdxKnown = true;
    }

    /// <summary>A fetch from the entry at <paramref name="off"/>: the position it names is the one in
    /// [avail.idx - size, avail.idx) of the avail.idx the device read last (QEMU and Linux vhost read an entry only
    /// below their copy of it). After <see cref="Resume"/>, a position whose chain the device completed is reported.
    /// <paramref name="head"/> is -1 when out of range.</summary>
    private void NotePosition(int head, ulong off)
    {
        if (!_availIdxKnown || (off & 1) != 0)
        {
            // A fetch with no avail.idx read since the start (a cached copy from before the checker looked), or not at
            // an entry's start: which position it is is not known.
            _positionsReliable = false;
            return;
        }
        int slot = (int)((off - 4) / 2);
        int low = _availIdxRead - _size;
        ushort pos = Narrow.ToUInt16Wrapping(low + ((slot - low) & (_size - 1)));
        if (_resumed && _doneGen[slot] == _posGen && _donePos[slot] == pos)
            ReportRefetch(head, pos);
        _nextPos = Narrow.ToUInt16Wrapping(pos + 1);
        if (head < 0)
            return;
        if (_fetched[head] == 0)
        {
            _headPos[head] = pos;
            _headPosKnown[head] = true;
        }
        else if (_headPos[head] != pos)
        {
            _headPosKnown[head] = false; // in flight from two positions: which one a completion ends is not known
        }
    }

    private bool OverlapsAvail(Chain c) =>
        OverlapsAvail(c.Readable) || OverlapsAvail(c.Writable) || OverlapsAvail(c.Tables);

    private bool OverlapsAvail(RangeList list)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (_availRing.Overlap(list[i].Start, list[i].Length) > 0)
                return true;
        }
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReportRefetch(int head, ushort pos) =>
        Report(
            UsedRingOracle,
            "used-ring/completed-chain-refetched",
            "after a stop that was not a reset, on the same rings, the device took "
                + (head < 0 ? "an entry" : $"head {head}")
                + $" again from available-ring position {pos}, whose chain it had already returned in the used "
                + "ring: it must resume where it stopped (QEMU vhost_virtqueue_stop / vhost_virtqueue_start hand "
                + "last_avail_idx back; VIRTIO 1.2 §2.7.8: a used buffer belongs to the driver again)"
        );

    /// <summary>Walks <paramref name="head"/>'s chain again (union of its buffers) and keeps the largest writable sum
    /// of any walk as the bound for <see cref="UsedLenRule.Offered"/>.</summary>
    private void WalkChain(int head) => _offered[head] = Math.Max(_offered[head], Walk(_chains[head], head));

    /// <summary>Walks the chain of <paramref name="head"/> in the descriptor table, and one level of indirect tables,
    /// recording readable buffers, writable buffers and indirect tables. Bounded by the table sizes. Returns the sum
    /// of the writable descriptors' lengths along the walk, a descriptor counted each time it is reached: QEMU
    /// virtio_blk_handle_request's req-&gt;in_len is iov_size of the element's in_sg, one entry per writable
    /// descriptor, so two descriptors over the same bytes count twice (the range lists keep each range once).</summary>
    private ulong Walk(Chain chain, int head)
    {
        int stamp = ++_walkStamp;
        ulong writable = 0;
        int i = head;
        for (int n = 0; n < _size && (uint)i < (uint)_size; n++)
        {
            if (
                !ReadDesc(
                    _descTable.Start + ((ulong)i * DescSize),
                    out ulong addr,
                    out uint len,
                    out ushort flags,
                    out ushort next
                )
            )
                return writable;
            if ((flags & FlagIndirect) != 0)
            {
                chain.Tables.Add(new GuestRange(addr, len));
                writable = SaturatingAdd(writable, WalkIndirect(chain, addr, len));
            }
            else
            {
                writable = SaturatingAdd(writable, AddBuffer(chain, addr, len, flags, stamp));
            }
            if ((flags & FlagNext) == 0)
                return writable;
            i = next;
        }
        return writable;
    }

    private static ulong SaturatingAdd(ulong a, ulong b) => b > ulong.MaxValue - a ? ulong.MaxValue : a + b;

    /// <summary>Walks an indirect table twice, for the union of what the backends use: following <c>next</c> (VIRTIO
    /// 1.2 §2.7.5.3.1 "chained by next"; QEMU virtqueue_split_pop's virtqueue_split_read_next_desc) and sequentially
    /// (Linux get_indirect reads the table in order through copy_from_iter and uses desc.next only to tell whether the
    /// chain goes on: a table whose entry 0 says NEXT → 0 still gives vhost entries 0, 1, 2, ...).
    /// Returns the larger of the two walks' writable sums: a backend takes one of them.</summary>
    private ulong WalkIndirect(Chain chain, ulong table, uint len)
    {
        int entries = (int)Math.Min(len / DescSize, (uint)TableDescriptorsMax);
        ulong byNext = WalkIndirect(chain, table, entries, sequential: false);
        return Math.Max(byNext, WalkIndirect(chain, table, entries, sequential: true));
    }

    private ulong WalkIndirect(Chain chain, ulong table, int entries, bool sequential)
    {
        int stamp = ++_walkStamp;
        ulong writable = 0;
        int i = 0;
        for (int n = 0; n < entries && i < entries; n++)
        {
            if (table > ulong.MaxValue - ((ulong)i * DescSize))
                return writable;
            if (
                !ReadDesc(
                    table + ((ulong)i * DescSize),
                    out ulong addr,
                    out uint blen,
                    out ushort flags,
                    out ushort next
                )
            )
                return writable;
            writable = SaturatingAdd(writable, AddBuffer(chain, addr, blen, flags, stamp));
            // Nested indirect (VIRTIO 1.2 §2.7.5.3.1 MUST NOT): QEMU maps it as a buffer, vhost refuses; allow reading
            // it.
            if ((flags & FlagIndirect) != 0)
                chain.Tables.Add(new GuestRange(addr, blen));
            if ((flags & FlagNext) == 0)
                return writable;
            i = sequential ? i + 1 : next;
        }
        return writable;
    }

    /// <summary>Records one buffer reached by the walk <paramref name="stamp"/>; returns its length when it is
    /// device-writable, else 0.</summary>
    private static ulong AddBuffer(Chain chain, ulong addr, uint len, ushort flags, int stamp)
    {
        bool writable = (flags & FlagWrite) != 0;
        RangeList list = writable ? chain.Writable : chain.Readable;
        if (!list.Add(new GuestRange(addr, len), stamp))
            chain.RepeatsBuffer = true;
        return writable ? len : 0;
    }

    private bool ReadDesc(ulong at, out ulong addr, out uint len, out ushort flags, out ushort next)
    {
        // Unobserved host read: the checker's own look must not count as a device access.
        if (!_memory!.TryGetSpan(new GuestAddress(at), DescSize, out Span<byte> raw))
        {
            addr = 0;
            len = 0;
            flags = 0;
            next = 0;
            return false;
        }
        addr = BinaryPrimitives.ReadUInt64LittleEndian(raw);
        len = BinaryPrimitives.ReadUInt32LittleEndian(raw[8..]);
        flags = BinaryPrimitives.ReadUInt16LittleEndian(raw[12..]);
        next = BinaryPrimitives.ReadUInt16LittleEndian(raw[14..]);
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReportRead(ulong a, ulong len)
    {
        bool writable = false;
        for (int i = 0; i < _liveCount; i++)
            writable |= _chains[_live[i]].Writable.AnyContains(a, len);
        if (writable)
            Report(
                PermissionOracle,
                "permission/read-of-writable-buffer",
                $"device read {len} bytes at 0x{a:x}, inside a device-writable buffer (VIRTIO 1.2 §2.7.4: write-only "
                    + "for the device)"
            );
        else
            Report(
                PermissionOracle,
                "permission/read-outside-chain",
                $"device read {len} bytes at 0x{a:x}, outside the rings and the readable buffers of every chain in "
                    + $"flight ({_inFlight})"
            );
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReportWrite(ulong a, ulong len) =>
        Report(
            PermissionOracle,
            "permission/write-outside-writable-buffers",
            $"device wrote {len} bytes at 0x{a:x}, outside the used ring and the writable buffers of every chain in "
                + $"flight ({_inFlight}) (VIRTIO 1.2 §2.7.4, §2.7.8.2)"
        );

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Report(string oracle, string site, string message)
    {
        Violations++;
        Context?.Report(oracle, site, message);
    }

    /// <summary>A chain's ranges, reused across fetches.</summary>
    private sealed class Chain
    {
        public RangeList Readable { get; } = new();

        public RangeList Writable { get; } = new();

        public RangeList Tables { get; } = new();

        /// <summary>A walk reached one buffer twice (two descriptors with the same address and length): the lists keep
        /// it once, so they are not the buffers in descriptor order.</summary>
        public bool RepeatsBuffer { get; set; }

        /// <summary>A device store into the descriptor table while the chain was in flight gave it new buffers: the
        /// lists are the union of two walks, not the chain the device popped.</summary>
        public bool RewrittenInFlight { get; set; }

        public void Clear()
        {
            Readable.Clear();
            Writable.Clear();
            Tables.Clear();
            RepeatsBuffer = false;
            RewrittenInFlight = false;
        }
    }
}
