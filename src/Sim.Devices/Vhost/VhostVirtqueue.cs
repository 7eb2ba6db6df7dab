using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Spec.Virtio;

namespace Sim.Devices.Vhost;

/// <summary>
/// struct vhost_virtqueue with the split-ring data path of Linux drivers/vhost/vhost.c (5.x / 6.x):
/// vhost_get_vq_desc, vhost_add_used(_n), vhost_signal / vhost_notify, vhost_enable_notify / vhost_disable_notify,
/// vhost_exceeds_weight. The rings are reached through the VMM's address space (<see cref="VmmAddressSpace"/>,
/// userspace addresses set by VHOST_SET_VRING_ADDR), buffers through the device's memory table
/// (<see cref="VhostIotlb"/>). Guest data never throws: a violation is a vq_err (<see cref="VqErrorCode"/>, a trace
/// event, the error eventfd) and a negative errno return, after which the vring keeps working.
/// <para>Differences from main's QEMU-semantics <see cref="SplitQueue"/> (which stays as it is):</para>
/// <list type="bullet">
/// <item>Zero-length descriptors are accepted (translate_desc makes no iovec); QEMU: "zero sized buffers are not
/// allowed" and the device breaks.</item>
/// <item>last_avail_idx advances only when a whole chain is good; QEMU advances past the head before walking it. So
/// a bad chain is met again on every later kick, and nothing is "broken" (no NEEDS_RESET).</item>
/// <item>"Guest moved used index": Linux stores the bogus avail idx in its cache before the check, so the next call
/// skips the check and reads heads from the ring; QEMU keeps its shadow and fails the same way again.</item>
/// <item>Loop detection counts every descriptor of the direct chain (an INDIRECT one included) against num, and
/// separately the entries of an indirect table against the table size; an indirect table is read sequentially —
/// its <c>next</c> fields are ignored (only F_NEXT matters) — so a chain that runs past the table end is "Loop
/// detected". A zero-length indirect table is a loop too (count 0). QEMU follows <c>next</c> and rejects len 0 as
/// "Invalid size for indirect buffer table".</item>
/// <item>INDIRECT is honoured anywhere in a direct chain, with NEXT followed after the table, and whether or not
/// VIRTIO_F_INDIRECT_DESC was acked; the main <see cref="SplitQueue"/> walk rejects INDIRECT after the head and
/// INDIRECT with NEXT.</item>
/// <item>No in-use count ("Virtqueue size exceeded" does not exist); no avail_event update while popping
/// (vhost assumes notifications are disabled while it pops: the BUG_ON in vhost_get_vq_desc).</item>
/// <item>signalled_used is invalidated when <c>(u16)(new - signalled_used) &lt; (u16)(new - old)</c> (unsigned);
/// QEMU compares <c>(int16_t)</c>.</item>
/// <item>The descriptor table's alignment is not checked (SET_VRING_ADDR checks avail 2 and used 4 only).</item>
/// </list>
/// </summary>
public sealed class VhostVirtqueue
{
    private readonly UserIovec[] _iov = new UserIovec[VhostLimits.IovecsMax];
    private readonly UserIovec[] _indirect = new UserIovec[VhostLimits.IovecsMax];

    internal VhostVirtqueue(VhostDevice device, int index)
    {
        Device = device;
        Index = index;
        Poll = new VhostPoll(this);
        Reset();
    }

    /// <summary>The device the vring belongs to.</summary>
    public VhostDevice Device { get; }

    /// <summary>The vring's index in the device.</summary>
    public int Index { get; }

    /// <summary>vq-&gt;poll on the kick eventfd.</summary>
    public VhostPoll Poll { get; }

    /// <summary>vq-&gt;poll.work, or null when the vring has no handle_kick.</summary>
    public VhostWork? Work { get; private set; }

    /// <summary>vq-&gt;num (1 after reset).</summary>
    public uint Num { get; private set; }

    /// <summary>vq-&gt;desc, vq-&gt;avail, vq-&gt;used: userspace addresses (0 = NULL).</summary>
    public ulong Desc { get; private set; }

    /// <summary>vq-&gt;avail (userspace address, 0 = NULL).</summary>
    public ulong Avail { get; private set; }

    /// <summary>vq-&gt;used (userspace address, 0 = NULL).</summary>
    public ulong Used { get; private set; }

    /// <summary>vq-&gt;last_avail_idx: the next available-ring index to fetch.</summary>
    public ushort LastAvailIdx { get; private set; }

    /// <summary>vq-&gt;avail_idx: the avail idx last read from the guest (a cache).</summary>
    public ushort AvailIdx { get; private set; }

    /// <summary>vq-&gt;last_used_idx: the used idx vhost last published.</summary>
    public ushort LastUsedIdx { get; private set; }

    /// <summary>vq-&gt;signalled_used: the used idx at the last interrupt (vhost_notify with EVENT_IDX).</summary>
    public ushort SignalledUsed { get; private set; }

    /// <summary>vq-&gt;signalled_used_valid: whether <see cref="SignalledUsed"/> may be trusted.</summary>
    public bool SignalledUsedValid { get; private set; }

    /// <summary>vq-&gt;used_flags: VRING_USED_F_NO_NOTIFY while notifications are disabled.</summary>
    public ushort UsedFlags { get; private set; }

    /// <summary>vq-&gt;acked_features.</summary>
    public ulong AckedFeatures { get; internal set; }

    /// <summary>vq-&gt;private_data != NULL: a backend is attached (the vring is running).</summary>
    public bool HasBackend { get; internal set; }

    /// <summary>vq-&gt;kick, vq-&gt;call_ctx, vq-&gt;error_ctx.</summary>
    public EventFd? Kick { get; internal set; }

    /// <summary>vq-&gt;call_ctx: signalled by vhost_signal.</summary>
    public EventFd? Call { get; internal set; }

    /// <summary>vq-&gt;error_ctx: signalled by vq_err.</summary>
    public EventFd? Err { get; internal set; }

    /// <summary>True while a handler holds vq-&gt;mutex.</summary>
    public bool MutexHeld { get; private set; }

    /// <summary>The iovecs the last successful <see cref="GetVqDesc"/> built: out ones first, then in ones.</summary>
    public ReadOnlySpan<UserIovec> Iov => _iov;

    // ---- counters

    /// <summary>Chains returned by <see cref="GetVqDesc"/>.</summary>
    public long HeadsFetched { get; private set; }

    /// <summary>Bytes of the chain <see cref="GetVqDesc"/> returned last (iov_length over all its iovecs,
    /// saturating).</summary>
    public ulong LastChainBytes { get; private set; }

    /// <summary>Sum of <see cref="LastChainBytes"/> over every fetched chain (saturating): with
    /// <see cref="HeadsFetched"/>, what an observer outside the handler needs to judge vhost_exceeds_weight.</summary>
    public ulong ChainBytesFetched { get; private set; }

    /// <summary>Used entries published.</summary>
    public long UsedAdded { get; private set; }

    /// <summary>Call eventfd signals.</summary>
    public long CallSignals { get; private set; }

    /// <summary>vq_err calls.</summary>
    public long VqErrors { get; private set; }

    /// <summary>The most recent vq_err reason.</summary>
    public VqErrorCode LastError { get; private set; }

    /// <summary>Heads fetched plus used entries added: the worker's progress measure.</summary>
    public long Progress => HeadsFetched + UsedAdded;

    /// <summary>Whether VIRTIO_RING_F_EVENT_IDX is acked (vhost_has_feature).</summary>
    public bool EventIdx => VhostFeatures.Has(AckedFeatures, VirtioSpec.FEventIdx);

    private VmmAddressSpace Vmm => Device.Vmm;

    internal void SetHandler(IVhostKickHandler handler) => Work = new VhostWork(this, handler);

    /// <summary>vhost_vq_reset.</summary>
    internal void Reset()
    {
        Num = 1;
        Desc = 0;
        Avail = 0;
        Used = 0;
        LastAvailIdx = 0;
        AvailIdx = 0;
        LastUsedIdx = 0;
        SignalledUsed = 0;
        SignalledUsedValid = false;
        UsedFlags = 0;
        HasBackend = false;
        AckedFeatures = 0;
        Err = null;
        Kick = null;
        Call = null;
    }

    internal void SetNum(uint num) => Num = num;

    internal void SetAddr(ulong desc, ulong avail, ulong used)
    {
        Desc = desc;
        Avail = avail;
        Used = used;
    }

    /// <summary>VHOST_SET_VRING_BASE: last_avail_idx and the cache ("Forget the cached index value").</summary>
    internal void SetBase(ushort num)
    {
        LastAvailIdx = num;
        AvailIdx = num;
    }

    /// <summary>mutex_lock(&amp;vq-&gt;mutex). The simulation is single-threaded: a second lock is a host
    /// bug.</summary>
    public void Lock()
    {
        if (MutexHeld)
            throw new InvalidOperationException($"vq {Index} mutex already held");
        MutexHeld = true;
    }

    /// <summary>mutex_unlock(&amp;vq-&gt;mutex).</summary>
    public void Unlock()
    {
        if (!MutexHeld)
            throw new InvalidOperationException($"vq {Index} mutex not held");
        MutexHeld = false;
    }

    // ---------------------------------------------------------------- sizes and access checks

    private ulong AvailSize(uint num) => VhostRings.AvailSize(num, EventIdx);

    private ulong UsedSize(uint num) => VhostRings.UsedSize(num, EventIdx);

    /// <summary>vq_access_ok (no IOTLB): the three rings pass access_ok for <paramref name="num"/>.</summary>
    internal bool RingsAccessOk(uint num, ulong desc, ulong avail, ulong used) =>
        VhostLimits.AccessOk(desc, (ulong)num * VirtioSpec.DescSize)
        && VhostLimits.AccessOk(avail, AvailSize(num))
        && VhostLimits.AccessOk(used, UsedSize(num));

    /// <summary>vhost_vq_access_ok: a memory table is set and its userspace ranges pass access_ok
    /// (vq_memory_access_ok), and the rings pass vq_access_ok.</summary>
    public bool AccessOk() => Device.Umem is { } umem && umem.UserRangesOk() && RingsAccessOk(Num, Desc, Avail, Used);

    /// <summary>vhost_vq_init_access, when a backend is attached: writes used-&gt;flags, invalidates signalled_used and
    /// reads last_used_idx from used-&gt;idx. EFAULT when the used ring is not accessible.</summary>
    public VhostResult InitAccess()
    {
        if (!HasBackend)
            return VhostResult.Ok;
        if (!Vmm.TryWriteUInt16(At(Used, VirtioSpec.UsedFlagsOffset), UsedFlags))
            return VhostResult.Fault;
        SignalledUsedValid = false;
        if (!VhostLimits.AccessOk(At(Used, VirtioSpec.UsedIdxOffset), 2))
            return VhostResult.Fault;
        if (!Vmm.TryReadUInt16(At(Used, VirtioSpec.UsedIdxOffset), out ushort usedIdx))
        {
            VqErr(VqErrorCode.UsedIdxRead, Used);
            return VhostResult.Fault;
        }
        LastUsedIdx = usedIdx;
        return VhostResult.Ok;
    }

    // ---------------------------------------------------------------- vhost_get_vq_desc

    /// <summary>
    /// vhost_get_vq_desc with Linux's return convention, so device code reads like its C original: the head index of
    /// the next available chain (its iovecs in <see cref="Iov"/>: <paramref name="outCount"/> device-readable ones,
    /// then <paramref name="inCount"/> device-writable ones), <see cref="Num"/> when nothing is available, or a
    /// negative <see cref="VhostResult"/> (-errno) after a vq_err. On success last_avail_idx advances by one.
    /// </summary>
    public int GetVqDesc(out int outCount, out int inCount)
    {
        PopObserver.BeforePop(this);
        int result = FetchVqDesc(out outCount, out inCount);
        PopObserver.AfterPop(this, result, outCount, inCount);
        return result;
    }

    /// <summary>Told around every <see cref="GetVqDesc"/> and of every vq_err (a fuzz target's chain oracle);
    /// <see cref="IVhostPopObserver.None"/> in production.</summary>
    public IVhostPopObserver PopObserver { get; set; } = IVhostPopObserver.None;

    private int FetchVqDesc(out int outCount, out int inCount)
    {
        outCount = 0;
        inCount = 0;
        int head = GetAvailHead();
        if (head < 0 || Narrow.AsUInt32Bits(head) == Num)
            return head;
        int outN = 0;
        int inN = 0;
        int r = WalkChain(Narrow.AsUInt32Bits(head), ref outN, ref inN);
        if (r < 0)
            return r;

        LastAvailIdx = Narrow.ToUInt16Wrapping(LastAvailIdx + 1);
        HeadsFetched++;
        LastChainBytes = IovLength(0, outN + inN);
        ChainBytesFetched = SaturatingAdd(ChainBytesFetched, LastChainBytes);
        outCount = outN;
        inCount = inN;
        return head;
    }

    /// <summary>vhost_get_vq_desc's first half (vhost_get_avail_idx, then vhost_get_avail_head): the head of the
    /// chain at last_avail_idx, <see cref="Num"/> when the ring holds nothing new, or a negative
    /// <see cref="VhostResult"/> after a vq_err. avail.idx is read again only when the cached copy says the ring is
    /// empty, as Linux does.</summary>
    private int GetAvailHead()
    {
        ushort lastAvail = LastAvailIdx;
        if (AvailIdx == LastAvailIdx)
        {
            if (!Vmm.TryReadUInt16(At(Avail, VirtioSpec.AvailIdxOffset), out ushort availIdx))
            {
                return Fail(VqErrorCode.AvailIdxAccess, Avail, VhostResult.Fault);
            }
            // Stored before the check, as Linux does: a later call then skips the check (see the class remarks).
            AvailIdx = availIdx;
            if (Narrow.AsUInt32Bits(RingIndex.Distance(new RingIndex(lastAvail), new RingIndex(availIdx))) > Num)
            {
                return Fail(VqErrorCode.GuestMovedUsedIndex, ((ulong)lastAvail << 16) | availIdx, VhostResult.Fault);
            }
            if (availIdx == lastAvail)
                return Narrow.AsInt32Bits(Num);
        }

        ulong slot = unchecked((ulong)(lastAvail & (Num - 1)));
        if (
            !Vmm.TryReadUInt16(
                At(Avail, VirtioSpec.AvailRingOffset + (slot * VirtioSpec.AvailElemSize)),
                out ushort head
            )
        )
        {
            return Fail(VqErrorCode.HeadRead, lastAvail, VhostResult.Fault);
        }
        if (head >= Num)
            return Fail(VqErrorCode.HeadOutOfRange, head, VhostResult.Invalid);
        return head;
    }

    /// <summary>vhost_get_vq_desc's descriptor loop from <paramref name="head"/>: each descriptor read from the
    /// table, an INDIRECT one walked by <see cref="GetIndirect"/>, any other translated into iovecs
    /// (<see cref="TranslateBuffer"/>), until one without NEXT. 0, or a negative <see cref="VhostResult"/> after a
    /// vq_err. Bounded by found &lt;= num (at most 32768 descriptors, each indirect table by its own count).</summary>
    private int WalkChain(uint head, ref int outN, ref int inN)
    {
        uint i = head;
        uint found = 0;
        Span<byte> raw = stackalloc byte[VirtioSpec.DescSize];
        while (true)
        {
            if (i >= Num)
                return Fail(VqErrorCode.DescIndexOutOfRange, ((ulong)i << 16) | head, VhostResult.Invalid);
            if (++found > Num)
                return Fail(VqErrorCode.LoopDetected, ((ulong)i << 16) | head, VhostResult.Invalid);
            if (Vmm.Read(At(Desc, (ulong)i * VirtioSpec.DescSize), raw) != VirtioSpec.DescSize)
            {
                return Fail(VqErrorCode.DescRead, i, VhostResult.Fault);
            }
            var desc = Decode(raw);
            if ((desc.Flags & VirtioSpec.DescFIndirect) != 0)
            {
                int r = GetIndirect(desc, ref outN, ref inN);
                if (r < 0)
                    return Fail(VqErrorCode.IndirectFailure, i, (VhostResult)(-r));
            }
            else
            {
                int r = TranslateBuffer(desc, i, ref outN, ref inN);
                if (r < 0)
                    return r;
            }
            if ((desc.Flags & VirtioSpec.DescFNext) == 0)
                return 0;
            i = desc.Next;
        }
    }

    /// <summary>A direct descriptor of vhost_get_vq_desc's loop: translate_desc maps the buffer into iovecs after the
    /// ones so far, which count as readable (out) or writable (in); a readable buffer after a writable one is
    /// refused ("Descriptor has out after in", VIRTIO 1.2 §2.7.4.2). 0, or a negative <see cref="VhostResult"/> after
    /// a vq_err.</summary>
    private int TranslateBuffer(in RawDesc desc, uint i, ref int outN, ref int inN)
    {
        bool writable = (desc.Flags & VirtioSpec.DescFWrite) != 0;
        int iovCount = outN + inN;
        if (!Device.Translate(desc.Addr, desc.Len, _iov.AsSpan(iovCount), out int n, out VhostResult terr))
        {
            return Fail(VqErrorCode.Translation, (Narrow.AsUInt64Bits((int)terr) << 32) | i, terr);
        }
        if (writable)
        {
            inN += n;
        }
        else
        {
            if (inN != 0)
                return Fail(VqErrorCode.OutAfterIn, i, VhostResult.Invalid);
            outN += n;
        }
        return 0;
    }

    /// <summary>get_indirect: walks the table <paramref name="indirect"/> points at, appending its buffers'
    /// iovecs.</summary>
    private int GetIndirect(in RawDesc indirect, ref int outN, ref int inN)
    {
        uint len = indirect.Len;
        if (len % VirtioSpec.DescSize != 0)
        {
            VqErr(VqErrorCode.IndirectBadLength, len);
            return FailIndirect();
        }
        if (!Device.Translate(indirect.Addr, len, _indirect, out int tableIovs, out VhostResult terr))
        {
            VqErr(VqErrorCode.IndirectTranslation, Narrow.AsUInt64Bits((int)terr));
            return FailIndirect(terr);
        }
        uint count = len / VirtioSpec.DescSize;
        if (count > VhostLimits.IndirectDescriptorsMax)
        {
            VqErr(VqErrorCode.IndirectTooBig, len);
            return FailIndirect(VhostResult.TooBig);
        }

        var cursor = new IovCursor(tableIovs);
        Span<byte> raw = stackalloc byte[VirtioSpec.DescSize];
        uint i = 0;
        uint found = 0;
        // Bounded by found <= count <= 65536.
        while (true)
        {
            if (++found > count)
            {
                VqErr(VqErrorCode.IndirectLoopDetected, ((ulong)i << 32) | count);
                return FailIndirect();
            }
            if (!CopyFullFromIndirect(ref cursor, raw))
            {
                VqErr(VqErrorCode.IndirectDescRead, i);
                return FailIndirect();
            }
            var desc = Decode(raw);
            if ((desc.Flags & VirtioSpec.DescFIndirect) != 0)
            {
                VqErr(VqErrorCode.NestedIndirect, i);
                return FailIndirect();
            }
            bool writable = (desc.Flags & VirtioSpec.DescFWrite) != 0;
            int iovCount = outN + inN;
            if (!Device.Translate(desc.Addr, desc.Len, _iov.AsSpan(iovCount), out int n, out VhostResult berr))
            {
                VqErr(VqErrorCode.IndirectBufferTranslation, (Narrow.AsUInt64Bits((int)berr) << 32) | i);
                return FailIndirect(berr);
            }
            if (writable)
            {
                inN += n;
            }
            else
            {
                if (inN != 0)
                {
                    VqErr(VqErrorCode.IndirectOutAfterIn, i);
                    return FailIndirect();
                }
                outN += n;
            }
            if ((desc.Flags & VirtioSpec.DescFNext) == 0)
                return 0;
            // next_desc: the value only ends up in messages; the table is read sequentially.
            i = desc.Next;
        }
    }

    /// <summary>get_indirect's failure return (-errno); vhost_get_vq_desc then adds its own vq_err
    /// (<see cref="VqErrorCode.IndirectFailure"/>), so the error eventfd is signalled twice, as on Linux.</summary>
    private static int FailIndirect(VhostResult result = VhostResult.Invalid) => -(int)result;

    private struct IovCursor(int count)
    {
        public readonly int Count = count;
        public int Index;
        public ulong Offset;
    }

    /// <summary>copy_from_iter_full of 16 bytes from the indirect table's iovecs.</summary>
    private bool CopyFullFromIndirect(ref IovCursor cursor, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length && cursor.Index < cursor.Count)
        {
            UserIovec v = _indirect[cursor.Index];
            ulong left = v.Len - cursor.Offset;
            int chunk = unchecked((int)Math.Min(left, (ulong)(destination.Length - done)));
            if (!TryUserAdd(v.Base, cursor.Offset, out ulong at))
                return false;
            if (Vmm.Read(at, destination.Slice(done, chunk)) != chunk)
                return false;
            done += chunk;
            cursor.Offset += Narrow.AsUInt64Bits(chunk);
            if (cursor.Offset == v.Len)
            {
                cursor.Index++;
                cursor.Offset = 0;
            }
        }
        return done == destination.Length;
    }

    private readonly record struct RawDesc(ulong Addr, uint Len, ushort Flags, ushort Next);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static RawDesc Decode(ReadOnlySpan<byte> raw) =>
        new(
            BinaryPrimitives.ReadUInt64LittleEndian(raw),
            BinaryPrimitives.ReadUInt32LittleEndian(raw[VirtioSpec.DescLenOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescFlagsOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(raw[VirtioSpec.DescNextOffset..])
        );

    /// <summary>vhost_discard_vq_desc: gives back the last <paramref name="n"/> fetched chains.</summary>
    public void DiscardVqDesc(int n) => LastAvailIdx = unchecked((ushort)(LastAvailIdx - n));

    // ---------------------------------------------------------------- iovec helpers (iov_length, copy_*_iter)

    /// <summary>iov_length over <see cref="Iov"/>[start .. start+count).</summary>
    public ulong IovLength(int start, int count)
    {
        CheckIovRange(start, count);
        ulong total = 0;
        for (int k = start; k < start + count; k++)
            total = SaturatingAdd(total, _iov[k].Len);
        return total;
    }

    /// <summary>copy_from_iter over <see cref="Iov"/>[start .. start+count): copies up to destination.Length bytes,
    /// stopping early when the iovecs end or a userspace address faults; returns the bytes copied.</summary>
    public int CopyFromIov(int start, int count, Span<byte> destination)
    {
        CheckIovRange(start, count);
        int done = 0;
        for (int k = start; k < start + count && done < destination.Length; k++)
        {
            UserIovec v = _iov[k];
            int chunk = unchecked((int)Math.Min(v.Len, (ulong)(destination.Length - done)));
            int got = Vmm.Read(v.Base, destination.Slice(done, chunk));
            done += got;
            if (got != chunk)
                break;
        }
        return done;
    }

    /// <summary>copy_to_iter into <see cref="Iov"/>[start .. start+count): returns the bytes written.</summary>
    public int CopyToIov(int start, int count, ReadOnlySpan<byte> source)
    {
        CheckIovRange(start, count);
        int done = 0;
        for (int k = start; k < start + count && done < source.Length; k++)
        {
            UserIovec v = _iov[k];
            int chunk = unchecked((int)Math.Min(v.Len, (ulong)(source.Length - done)));
            int put = Vmm.Write(v.Base, source.Slice(done, chunk));
            done += put;
            if (put != chunk)
                break;
        }
        return done;
    }

    private static void CheckIovRange(int start, int count)
    {
        if (start < 0 || count < 0 || start > VhostLimits.IovecsMax - count)
            throw new ArgumentOutOfRangeException(nameof(count), "iovec range outside vq->iov");
    }

    // ---------------------------------------------------------------- used ring

    /// <summary>vhost_add_used: one used entry {head, len} at last_used_idx, then used-&gt;idx. 0, or -EFAULT after a
    /// vq_err. Linux vhost_add_used_n also takes a batch and writes it in two parts when it wraps the ring; every
    /// handler here completes one chain at a time (vhost_add_used, as vhost-test and vhost-vsock do), and a single
    /// entry never wraps within itself, so the batch form is not modelled: a batching handler (vhost-net's
    /// vhost_add_used_and_signal_n) would bring it back with a caller the fuzzer reaches.</summary>
    public int AddUsed(uint head, int len)
    {
        int r = AddUsedEntry(head, Narrow.AsUInt32Bits(len));
        Interleaving?.At(HandlerPoint.BetweenFillAndFlush);
        // Linux writes used->idx even when the entry's write failed (last_used_idx then stays where it was).
        if (!Vmm.TryWriteUInt16(At(Used, VirtioSpec.UsedIdxOffset), LastUsedIdx))
        {
            return Fail(VqErrorCode.UsedIdxWrite, Used, VhostResult.Fault);
        }
        return r;
    }

    private int AddUsedEntry(uint id, uint len)
    {
        int start = LastUsedIdx & unchecked((int)(Num - 1));
        Span<byte> entry = stackalloc byte[VirtioSpec.UsedElemSize];
        ulong at = At(Used, VirtioSpec.UsedRingOffset + (Narrow.AsUInt64Bits(start) * VirtioSpec.UsedElemSize));
        BinaryPrimitives.WriteUInt32LittleEndian(entry, id);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[VirtioSpec.UsedElemLenOffset..], len);
        // vhost_copy_to_user of the entry: a fault anywhere fails it (bytes before the fault stay written).
        if (Vmm.Write(at, entry) != VirtioSpec.UsedElemSize)
        {
            return Fail(VqErrorCode.UsedWrite, Used, VhostResult.Fault);
        }
        ushort old = LastUsedIdx;
        ushort updated = unchecked((ushort)(old + 1));
        LastUsedIdx = updated;
        UsedAdded += 1;
        // Linux compares unsigned; QEMU's virtqueue_split_flush uses (int16_t).
        if (Narrow.ToUInt16Wrapping(updated - SignalledUsed) < Narrow.ToUInt16Wrapping(updated - old))
            SignalledUsedValid = false;
        return 0;
    }

    /// <summary>vhost_notify: whether the guest wants an interrupt now (VIRTIO 1.2 §2.7.7, §2.7.10).</summary>
    private bool Notify()
    {
        if (VhostFeatures.Has(AckedFeatures, VirtioSpec.FNotifyOnEmpty) && AvailIdx == LastAvailIdx)
            return true;
        if (!EventIdx)
        {
            if (!Vmm.TryReadUInt16(At(Avail, VirtioSpec.AvailFlagsOffset), out ushort flags))
            {
                VqErr(VqErrorCode.AvailFlagsRead, Avail);
                return true;
            }
            return (flags & VirtioSpec.AvailFNoInterrupt) == 0;
        }
        ushort old = SignalledUsed;
        bool valid = SignalledUsedValid;
        ushort updated = LastUsedIdx;
        SignalledUsed = updated;
        SignalledUsedValid = true;
        if (!valid)
            return true;
        if (!Vmm.TryReadUInt16(At(Avail, VhostRings.UsedEventOffset(Num)), out ushort usedEvent))
        {
            VqErr(VqErrorCode.UsedEventRead, Avail);
            return true;
        }
        return RingIndex.NeedEvent(new RingIndex(usedEvent), new RingIndex(updated), new RingIndex(old));
    }

    /// <summary>vhost_signal: signals the call eventfd when one is set and <c>vhost_notify</c> says so.</summary>
    public void Signal()
    {
        Interleaving?.At(HandlerPoint.BeforeInterruptDecision);
        if (Call is { } call && Notify())
        {
            CallSignals++;
            call.Signal();
        }
    }

    /// <summary>Told at the points inside this vring's handler where the guest may act (a fuzz target's scheduler);
    /// null: nobody.</summary>
    public IHandlerInterleaving? Interleaving { get; set; }

    /// <summary>vhost_add_used_and_signal.</summary>
    public void AddUsedAndSignal(uint head, int len)
    {
        AddUsed(head, len);
        Signal();
    }

    // ---------------------------------------------------------------- notification suppression

    /// <summary>vhost_disable_notify: sets VRING_USED_F_NO_NOTIFY; writes used-&gt;flags only without EVENT_IDX (with
    /// it, suppression is the stale avail_event).</summary>
    public void DisableNotify()
    {
        PopObserver.BeforeDisableNotify(this);
        DisableNotifyCore();
        PopObserver.AfterNotifyChange(this);
    }

    private void DisableNotifyCore()
    {
        if ((UsedFlags & VirtioSpec.UsedFNoNotify) != 0)
            return;
        UsedFlags |= VirtioSpec.UsedFNoNotify;
        if (!EventIdx && !Vmm.TryWriteUInt16(At(Used, VirtioSpec.UsedFlagsOffset), UsedFlags))
        {
            VqErr(VqErrorCode.UsedFlagsWrite, Used);
        }
    }

    /// <summary>
    /// vhost_enable_notify: clears NO_NOTIFY (writes used-&gt;flags, or avail_event = the cached avail idx with
    /// EVENT_IDX), then re-reads avail-&gt;idx to close the race with a guest that published meanwhile (VIRTIO 1.2
    /// §2.7.10). Returns true when more buffers are available: the caller disables notification and polls again.
    /// </summary>
    public bool EnableNotify()
    {
        PopObserver.BeforeEnableNotify(this);
        bool more = EnableNotifyCore();
        PopObserver.AfterNotifyChange(this);
        return more;
    }

    private bool EnableNotifyCore()
    {
        if ((UsedFlags & VirtioSpec.UsedFNoNotify) == 0)
            return false;
        Interleaving?.At(HandlerPoint.BeforeEnableNotify);
        UsedFlags = Narrow.LowUInt16(UsedFlags & ~VirtioSpec.UsedFNoNotify);
        if (!EventIdx)
        {
            if (!Vmm.TryWriteUInt16(At(Used, VirtioSpec.UsedFlagsOffset), UsedFlags))
            {
                VqErr(VqErrorCode.UsedFlagsWrite, Used);
                return false;
            }
        }
        else if (!Vmm.TryWriteUInt16(At(Used, VhostRings.AvailEventOffset(Num)), AvailIdx))
        {
            VqErr(VqErrorCode.AvailEventWrite, Used);
            return false;
        }
        if (!Vmm.TryReadUInt16(At(Avail, VirtioSpec.AvailIdxOffset), out ushort availIdx))
        {
            VqErr(VqErrorCode.AvailIdxRecheck, Avail);
            return false;
        }
        AvailIdx = availIdx;
        return AvailIdx != LastAvailIdx;
    }

    // ---------------------------------------------------------------- work

    /// <summary>
    /// vhost_exceeds_weight(vq, pkts, total_len): true, after requeueing the vring's work, when
    /// <paramref name="totalLen"/> reached the byte weight (if any) or <paramref name="pkts"/> the packet weight.
    /// Both are C ints: a caller that passes a truncated size_t gets C's behaviour.
    /// </summary>
    public bool ExceedsWeight(int pkts, int totalLen)
    {
        VhostOptions o = Device.Options;
        if ((o.ByteWeight != 0 && totalLen >= o.ByteWeight) || pkts >= o.PacketWeight)
        {
            PollQueue();
            return true;
        }
        return false;
    }

    /// <summary>vhost_poll_queue: queues this vring's work on the device's worker (dropped when there is no worker,
    /// i.e. no owner, or no handler).</summary>
    public void PollQueue()
    {
        if (Work is { } work)
            Device.Worker?.Queue(work);
    }

    // ---------------------------------------------------------------- errors

    /// <summary>vq_err: logs (a DeviceResult trace event) and signals the error eventfd.</summary>
    internal void VqErr(VqErrorCode code, ulong detail)
    {
        VqErrors++;
        LastError = code;
        PopObserver.VqError(this, code);
        Device.Simulation.Emit(
            TraceEventKind.DeviceResult,
            Device.TraceId,
            Narrow.AsUInt64Bits((int)code),
            detail,
            default
        );
        Err?.Signal();
    }

    private int Fail(VqErrorCode code, ulong detail, VhostResult result)
    {
        VqErr(code, detail);
        return -(int)result;
    }

    /// <summary>User pointer arithmetic: wraps as in C; a wrapped address lands below the mappings and
    /// faults.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong At(ulong userAddress, ulong offset) => unchecked(userAddress + offset);

    private static bool TryUserAdd(ulong a, ulong b, out ulong sum)
    {
        if (b > ulong.MaxValue - a)
        {
            sum = 0;
            return false;
        }
        sum = a + b;
        return true;
    }

    private static ulong SaturatingAdd(ulong a, ulong b) => a > ulong.MaxValue - b ? ulong.MaxValue : a + b;
}
