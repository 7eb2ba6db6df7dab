using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The split-virtqueue core on its own (<see cref="SplitQueue"/>, QEMU hw/virtio/virtio.c semantics) under arbitrary
/// ring contents and indices. The input (<see cref="RingInput"/> v1) interleaves a hostile guest (raw descriptors,
/// indirect tables, publishes, wild avail.idx jumps, suppression flags, stray stores) with an honest device driving the
/// queue: pop, complete one or a batch (fill + flush), notification decisions, enable/disable kicks,
/// unpop/rewind/detach, reset with a feature change while elements are in flight. At the end the device drains.
/// Oracles: <see cref="VirtqueueChecker"/> (permission, used-ring) on every device access; popped iovecs must lie in
/// the chain the checker walked (model); <see cref="NotificationChecker"/> (notify); liveness: after the drain every
/// available chain is consumed unless the queue reported an error (QEMU's broken state); exceptions and assertions;
/// chain (<see cref="PopOracle"/>): every observed pop's answer, error kind, element and descriptor reads match the
/// ring model's walk (<see cref="ChainReference"/>); fast path (<see cref="FastPathDifferential"/>): each input that
/// ran clean runs again with no observer on the memory, so the queue takes its window paths (<c>TryWalkDirectFast</c>,
/// <c>TryPopBatchDirect</c>, the window paths of <c>FillBatch</c> and <c>AddUsedAndSignal</c>, the fused kick of
/// <c>PopServeAndSignal</c> for a complete-batch op with flag bit 2), and everything the
/// guest can see must equal the observed run's.
/// </summary>
internal sealed partial class SplitVirtqueueTarget : IFuzzTarget
{
    /// <summary>Operations decoded per input.</summary>
    public const int OperationsMax = 256;

    /// <summary>Elements the harness device holds at once (pops stop when full).</summary>
    public const int ElementsMax = 8;

    // Device operations (8..15).
    private const int OpPop = 8;
    private const int OpComplete = 9;
    private const int OpCompleteBatch = 10;
    private const int OpShouldNotify = 11;
    private const int OpSetNotification = 12;
    private const int OpGiveBack = 13;
    private const int OpReset = 14;
    private const int OpPoll = 15;

    private readonly GuestMemory _memory;
    private SplitQueue _queue = new(RingInput.SizeMax);
    private readonly QueueElement[] _elements = new QueueElement[ElementsMax];
    private readonly GuestActor _guest = new();
    private readonly VirtqueueChecker _checker = new(RingInput.SizeMax);
    private readonly NotificationChecker _notify = new();
    private readonly byte[] _data = new byte[128];
    private readonly uint[] _lens = new uint[ElementsMax];
    private readonly ServedChain[] _served = new ServedChain[ElementsMax]; // a direct kick's chains, in serve order
    private readonly FastPathDifferential _diff = new((int)RingInput.MemorySize);
    private readonly PopOracle _popOracle = new();
    private int _held;
    private bool _observed;
    private int _pops;
    private int _detached;
    private bool _broken;
    private bool _notLiveJudged; // JudgeNotLive ran in this run
    private bool _canGiveBack;

    public SplitVirtqueueTarget()
    {
        MemoryLayout layout = RingSimulation.Layout;
        if (!GuestMemory.TryCreate(layout, out GuestMemory? memory, out string? error))
            throw new InvalidOperationException(error);
        _memory = memory;
        for (int i = 0; i < _elements.Length; i++)
            _elements[i] = new QueueElement();
        FillData();
    }

    /// <summary>The bytes the honest device writes: a fixed pattern at the start of every run (reads overwrite
    /// it).</summary>
    private void FillData()
    {
        for (int i = 0; i < _data.Length; i++)
            _data[i] = (byte)(0xA0 + i);
    }

    public string Name => "split-virtqueue";

    public string Description =>
        "SplitQueue pop/fill/flush/push/notify under hostile rings; oracles permission, used-ring, model, chain, "
        + "notify, liveness, fast-path";

    /// <summary>Which clean executions run a second time unobserved (<see cref="FastPathDifferential"/>): one in
    /// <c>FastPathPeriod</c>, chosen by a hash of the input so that a reproduction decides the same; 1 means every one,
    /// 0 none. The default 4 keeps the twin's cost near a third of an execution (it costs about 1.2 observed runs)
    /// while a broken fast path is still caught within seconds (docs/fuzzing-oracles.md).</summary>
    public int FastPathPeriod { get; init; } = DefaultFastPathPeriod;

    /// <summary>Chains the chain oracle judged (<see cref="PopOracle.Judged"/>), for tests.</summary>
    public long ChainsJudged => _popOracle.Judged;

    /// <summary>The default <see cref="FastPathPeriod"/>.</summary>
    public const int DefaultFastPathPeriod = 4;

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = Rings.RingInputMinimizer.Create(OperationsMax);

    public IEnumerable<byte[]> SeedCorpus() => RingSeeds.SplitVirtqueue();

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        // Decided before the observed run, which records its lane only when the twin will follow.
        ulong hash = InputHash(input);
        bool twin = FastPathPeriod == 1 || (FastPathPeriod > 1 && hash % (ulong)FastPathPeriod == 0);
        ChooseLongTables(hash);
        _diff.Enabled = twin;
        FuzzOutcome outcome = Run(input, context, observed: true);
        if (!twin || outcome == FuzzOutcome.Rejected || context.Finding is not null)
            return outcome;
        // The twin: the same input with nobody watching the memory, so every queue call takes its window path.
        Run(input, context, observed: false);
        if (context.Finding is null)
            _diff.Compare(context);
        return outcome;
    }

    /// <summary>The hash that samples an input's fast-path twin (low bits) and long tables (high bits).</summary>
    internal static ulong InputHash(ReadOnlySpan<byte> input) => StableHash64.Of(input);

    private FuzzOutcome Run(ReadOnlySpan<byte> input, FuzzContext context, bool observed)
    {
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        _observed = observed;
        _pops = 0;
        _notLiveJudged = false;
        FillData();
        _diff.Begin(observed ? 0 : 1);
        _checker.Context = context;
        _notify.Context = context;
        _memory.Observer = null;
        _spare.Reset();
        _memory.Clear();
        _memory.ClearDirty();
        if (observed)
            _memory.Observer = context.Observe(_memory, _checker);
        if (!Configure(header.Size, header.EventIdx, header.NotifyOnEmpty, header.Placement))
            return FuzzOutcome.Rejected;
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            bool gaveBackable = false;
            _diff.Step(StepLabels[op.Code]);
            if (op.Code < 8)
                _guest.Apply(op);
            else if (_queue.Ready)
                gaveBackable = DeviceOp(op, context);
            else if (_observed)
                JudgeNotLive(op.Code, context);
            _canGiveBack = gaveBackable;
            RecordState();
            if (_observed)
                JudgeBookkeeping(context);
        }
        if (context.Finding is null && _queue.Ready)
            Drain(context);
        _diff.Finish(_memory);
        _memory.Observer = null;
        return FuzzOutcome.Completed;
    }

    /// <summary>Differential step names, per op code (constants: they become finding sites).</summary>
    private static readonly string[] StepLabels =
    [
        "guest-desc",
        "guest-indirect-desc",
        "guest-add-chain",
        "guest-publish",
        "guest-avail-idx",
        "guest-suppression",
        "guest-store",
        "guest-idle",
        "pop",
        "complete",
        "complete-batch",
        "should-notify",
        "set-notification",
        "give-back",
        "reset",
        "poll",
    ];

    /// <summary>What the guest and the device can see of the queue after a step (its indices and the harness's
    /// view).</summary>
    private void RecordState()
    {
        if (!_diff.Enabled)
            return;
        SplitQueueState q = _queue.Capture();
        _diff.Add(
            ((ulong)q.NextAvail.Value << 48)
                | ((ulong)q.ShadowAvail.Value << 32)
                | ((ulong)q.UsedIdx.Value << 16)
                | q.SignalledUsed.Value
        );
        _diff.Add(
            ((ulong)(uint)q.InUse << 32)
                | ((ulong)(uint)_held << 8)
                | (q.SignalledUsedValid ? 4UL : 0)
                | (q.NotificationEnabled ? 2UL : 0)
                | (_broken ? 1UL : 0)
        );
    }

    /// <summary>A popped element as the device sees it: head, shape and every iovec.</summary>
    private void RecordElement(QueueElement e)
    {
        if (!_diff.Enabled)
            return;
        _diff.Add(((ulong)e.Head << 48) | ((ulong)(uint)e.OutCount << 24) | (uint)e.InCount);
        _diff.Add(e.OutBytes);
        _diff.Add(e.InBytes);
        // The chain's descriptor count and indirect flag: public facts of the element (PopOracle judges them in the
        // observed lane) that the fast walk stores in one QueueElement.Set.
        _diff.Add(((ulong)(uint)e.DescriptorCount << 1) | (e.Indirect ? 1UL : 0));
        foreach (Iovec v in e.Out)
        {
            _diff.Add(v.Addr.Value);
            _diff.Add(v.Len);
        }
        foreach (Iovec v in e.In)
        {
            _diff.Add(v.Addr.Value);
            _diff.Add(v.Len);
        }
    }

    private bool Configure(int size, bool eventIdx, bool notifyOnEmpty, int placement)
    {
        _queue.Reset();
        _checker.Deactivate();
        _held = 0;
        _detached = 0;
        _broken = false;
        _canGiveBack = false;
        (ulong desc, ulong avail, ulong used) = RingInput.Place(
            placement,
            size,
            unchecked((ulong)placement * 0x9E37_79B9_7F4A_7C15)
        );
        bool sized = _queue.TrySetSize(size, out QueueConfigError sizeError);
        _queue.DescTable = new GuestAddress(desc);
        _queue.AvailRing = new GuestAddress(avail);
        _queue.UsedRing = new GuestAddress(used);
        _queue.EventIdx = eventIdx;
        _queue.NotifyOnEmpty = notifyOnEmpty;
        _guest.Reset(_memory, desc, avail, size);
        bool enabled = _queue.TryEnable(_memory, out QueueConfigError error);
        if (_observed)
            JudgeConfig(new(sized, sizeError), new(enabled, error), size, desc, avail, used);
        if (!enabled)
            return false;
        _checker.Configure(_memory, desc, avail, used, size);
        _notify.Configure(_memory, avail, size, eventIdx);
        return true;
    }

    /// <summary>A configuration call's answer and the error it gave with it.</summary>
    private readonly record struct ConfigAnswer(bool Ok, QueueConfigError Error);

    /// <summary>queue_enable's answer against the ring model's (<see cref="QueueConfigReference"/>): a valid layout
    /// rejected, an invalid one accepted, or the wrong reason (the observed lane only: the twin configures
    /// alike). Each call's error must agree with its answer: <c>None</c> exactly when it succeeded (the API's
    /// contract; a caller that logs or forwards the error would otherwise report a failure that did not
    /// happen).</summary>
    private void JudgeConfig(ConfigAnswer sized, ConfigAnswer enabled, int size, ulong desc, ulong avail, ulong used)
    {
        if (_checker.Context is not { } context)
            return;
        bool sizeValid = size is >= 1 and <= QueueConfigReference.SizeMax && (size & (size - 1)) == 0;
        bool sizeWanted = sizeValid && size <= _queue.MaxSize;
        QueueConfigError sizeWant = sizeWanted ? QueueConfigError.None : QueueConfigError.BadSize;
        if (
            !context.Check(
                sized.Ok == sizeWanted && sized.Error == sizeWant,
                QueueConfigReference.Oracle,
                "queue-config/size",
                $"TrySetSize({size}) answered {sized.Ok} ({sized.Error}; maximum {_queue.MaxSize}); the model says "
                    + $"{sizeWant}"
            )
            || !context.Check(
                enabled.Ok == (enabled.Error == QueueConfigError.None),
                QueueConfigReference.Oracle,
                "queue-config/error-contradicts-answer",
                $"TryEnable answered {enabled.Ok} with error {enabled.Error}"
            )
        )
            return;
        QueueConfigError got = enabled.Error;
        QueueConfigError want = QueueConfigReference.Classify(
            _memory,
            sized.Ok ? size : _queue.Size,
            desc,
            avail,
            used
        );
        if (got == want)
            return;
        string site =
            want == QueueConfigError.None ? "queue-config/valid-rejected"
            : got == QueueConfigError.None ? "queue-config/invalid-accepted"
            : "queue-config/wrong-error-kind";
        context.Report(
            QueueConfigReference.Oracle,
            site,
            $"queue_enable of size {size}, desc 0x{desc:x}, avail "
                + $"0x{avail:x}, used 0x{used:x} answered {got}; the model says {want}"
        );
    }

    /// <summary>Runs device operation <paramref name="op"/>; returns true when it popped (so a give-back may
    /// follow).</summary>
    private bool DeviceOp(in RingInput.Op op, FuzzContext context)
    {
        switch (op.Code)
        {
            case OpPop:
                return Pop(context);
            case OpComplete:
                if (_held > 0)
                    CompleteOne(op.Index % _held, op.RawLen);
                break;
            case OpCompleteBatch:
                if ((op.Flags & 4) != 0)
                    Kick(op.RawLen, direct: (op.Flags & 8) != 0, context);
                else if (_held > 0)
                    CompleteBatch(1 + (op.Index % _held), op.RawLen, signal: (op.Flags & 1) != 0);
                break;
            case OpShouldNotify:
            {
                bool notify = _queue.ShouldNotify(_memory);
                _diff.Add(notify ? 1UL : 0);
                if (_observed)
                    _notify.OnDecision(_queue.UsedIdx.Value, notify);
                break;
            }
            case OpSetNotification:
                SetNotification((op.Flags & 1) != 0, context);
                break;
            case OpGiveBack:
                GiveBack(op.Index % 3, op.Index % Math.Max(1, _held));
                break;
            case OpReset:
                // Device reset with a feature change while elements are in flight (VIRTIO 1.2 §2.1.2, §3.3).
                Configure(
                    1 << (op.Index % (RingInput.SizeLogMax + 1)),
                    (op.Flags & 1) != 0,
                    (op.Flags & 2) != 0,
                    op.Next
                );
                break;
            default:
                if (_held > 0 && (op.Flags & 1) != 0)
                {
                    // Read into the data the harness writes later (as before the twin); each lane starts from the same
                    // data (FillData), so bytes a short read leaves are equal in both.
                    Span<byte> got = _data.AsSpan(0, 16);
                    int n = _elements[op.Index % _held].ReadOut(_memory, op.RawLen % 16, got);
                    _diff.Add((ulong)n);
                    _diff.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(got));
                    _diff.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(got[8..]));
                }
                else if ((op.Flags & 2) != 0)
                {
                    AvailBytes(op.RawLen, op.Next, context);
                }
                else if ((op.Flags & 4) != 0)
                {
                    Restore(op, context);
                }
                else
                {
                    _diff.Add(IsEmptyJudged(context) ? 1UL : 0);
                }
                break;
        }
        return false;
    }

    /// <summary>QEMU virtio_queue_split_set_notification, judged (observed lane): with EVENT_IDX, enabling publishes
    /// avail_event = the avail.idx it reads (vring_set_avail_event(vq, vring_avail_idx(vq))), so a guest that publishes
    /// after it kicks (VIRTIO 1.2 §2.7.10); without it, used.flags' NO_NOTIFY is cleared or set and nothing else
    /// changes (§2.7.7.1). A stale avail_event or flag is a lost wakeup the drain (which pops without kicks) never
    /// shows.</summary>
    private void SetNotification(bool enable, FuzzContext context)
    {
        ulong used = _queue.UsedRing.Value;
        ulong availEventAt = used + 4 + (8UL * (ulong)_queue.Size);
        ushort availIdx = ReadGuestU16(_queue.AvailRing.Value + 2);
        ushort flagsBefore = ReadGuestU16(used);
        bool eventIdx = _queue.EventIdx;
        _queue.SetNotification(_memory, enable);
        if (!_observed)
            return;
        if (eventIdx)
        {
            if (enable && ReadGuestU16(availEventAt) != availIdx)
                context.Report(
                    "notify",
                    "notify/suppression-not-published",
                    $"notifications enabled with EVENT_IDX but avail_event is {ReadGuestU16(availEventAt)}, not the "
                        + $"avail.idx {availIdx} the device read (QEMU vring_set_avail_event)"
                );
            return;
        }
        ushort want = enable ? (ushort)(flagsBefore & ~1) : (ushort)(flagsBefore | 1);
        ushort flags = ReadGuestU16(used);
        if (flags != want)
            context.Report(
                "notify",
                "notify/suppression-not-published",
                $"notifications {(enable ? "enabled" : "disabled")} but used.flags is 0x{flags:x}, expected 0x{want:x} "
                    + $"(VRING_USED_F_NO_NOTIFY {(enable ? "cleared" : "set")}, QEMU vring_used_flags_(un)set_bit)"
            );
    }

    private ushort ReadGuestU16(ulong at) =>
        _memory.TryGetSpan(new GuestAddress(at), 2, out Span<byte> raw) ? (ushort)(raw[0] | (raw[1] << 8)) : (ushort)0;

    private bool Pop(FuzzContext context)
    {
        if (_broken || _held == ElementsMax)
            return false;
        QueueElement element = _elements[_held];
        // Unobserved, every other pop goes through the batch call (TryPopBatchDirect); observed both are TryPop.
        bool popped;
        QueueError error;
        if (!_observed && (_pops++ & 1) != 0)
        {
            _queue.TryPopBatch(_memory, _elements.AsSpan(_held, 1), out int count, out error);
            popped = count == 1;
        }
        else if (_observed)
        {
            // Chain oracle (issue 12 item 5): the answer, its error kind and the descriptors read, against the ring
            // model.
            _popOracle.Before(_queue, _memory);
            long reads = _checker.DescriptorSizedReads;
            popped = _queue.TryPop(_memory, element, out error);
            _popOracle.After(_memory, popped, error, element, _checker.DescriptorSizedReads - reads, context);
            if (context.Finding is not null)
                return false;
        }
        else
        {
            popped = _queue.TryPop(_memory, element, out error);
        }
        _diff.Add(((ulong)error << 1) | (popped ? 1UL : 0));
        if (!popped)
        {
            // QEMU virtio_error: the device is broken until reset and pops nothing more.
            if (error != QueueError.None)
                _broken = true;
            return false;
        }
        _held++;
        RecordElement(element);
        if (_observed)
            CheckElement(element, context);
        return true;
    }

    /// <summary>Pops until the harness holds <see cref="ElementsMax"/>, the queue is empty or it broke; returns how
    /// many. Unobserved it is one <see cref="SplitQueue.TryPopBatch"/> (the batch body keeps its indices in locals
    /// across elements); observed, TryPopBatch is the TryPop loop it must equal.</summary>
    private int PopMany(FuzzContext context)
    {
        if (_broken || _held == ElementsMax)
            return 0;
        if (_observed)
        {
            int n = 0;
            while (Pop(context))
                n++;
            return n;
        }
        _queue.TryPopBatch(_memory, _elements.AsSpan(_held, ElementsMax - _held), out int count, out QueueError error);
        for (int i = 0; i < count; i++)
        {
            _diff.Add(1);
            RecordElement(_elements[_held + i]);
        }
        _held += count;
        if (_held < ElementsMax || error != QueueError.None)
            _diff.Add((ulong)error << 1);
        if (error != QueueError.None)
            _broken = true;
        return count;
    }

    /// <summary>Model: every iovec of the popped element lies in one buffer of the chain, with its direction.</summary>
    private void CheckElement(QueueElement element, FuzzContext context)
    {
        foreach (Iovec v in element.Out)
        {
            if (!_checker.Covers(element.Head, v.Addr.Value, v.Len, writable: false))
                ReportIovec(context, element.Head, v, "readable");
        }
        foreach (Iovec v in element.In)
        {
            if (!_checker.Covers(element.Head, v.Addr.Value, v.Len, writable: true))
                ReportIovec(context, element.Head, v, "writable");
        }
    }

    private static void ReportIovec(FuzzContext context, ushort head, Iovec v, string what) =>
        context.Report(
            "model",
            "split-virtqueue/iovec-outside-chain",
            $"popped element {head} has a {what} iovec [0x{v.Addr.Value:x}, +{v.Len}) that is not inside a {what} "
                + "descriptor of its chain (QEMU virtqueue_map_desc)"
        );

    /// <summary>An honest device: writes up to <paramref name="want"/> bytes into the element's writable buffers and
    /// completes it with used.len = bytes written (push).</summary>
    private void CompleteOne(int k, uint want)
    {
        QueueElement e = _elements[k];
        uint written = Write(e, want);
        _queue.Push(_memory, e.Head, written);
        Remove(k);
    }

    /// <summary>Writes each of the first <paramref name="count"/> held elements, then fills them in one
    /// <see cref="SplitQueue.FillBatch"/> (observed: the Fill loop; unobserved: the used ring's window) and flushes;
    /// with <paramref name="signal"/>, all three in one <see cref="SplitQueue.AddUsedAndSignal"/> (observed: FillBatch,
    /// Flush and ShouldNotify; unobserved: its window body), whose decision is judged as ShouldNotify's.</summary>
    private void CompleteBatch(int count, uint want, bool signal)
    {
        for (int i = 0; i < count; i++)
            _lens[i] = Write(_elements[i], want + (uint)i);
        if (signal)
        {
            bool notify = _queue.AddUsedAndSignal(_memory, _elements.AsSpan(0, count), _lens.AsSpan(0, count));
            _diff.Add(notify ? 1UL : 0);
            if (_observed)
                _notify.OnDecision(_queue.UsedIdx.Value, notify);
        }
        else
        {
            _queue.FillBatch(_memory, _elements.AsSpan(0, count), _lens.AsSpan(0, count), 0);
            _queue.Flush(_memory, count);
        }
        for (int i = 0; i < count; i++)
            Remove(0);
    }

    /// <summary>A kick handled in one go (flag bit 2 of a complete-batch op): pops until the harness holds
    /// <see cref="ElementsMax"/>, the queue is empty or it broke, writes each popped element as
    /// <see cref="CompleteBatch"/> does and completes them with one interrupt decision. Unobserved it is one
    /// <see cref="SplitQueue.PopServeAndSignal{TServer}"/> (its fused body, SplitQueue.Kick.cs); observed, the
    /// reference it must equal: the pops (each judged by the chain oracle), the writes, then
    /// <see cref="SplitQueue.AddUsedAndSignal"/>, whose decision the notification checker judges.</summary>
    /// <remarks>With <paramref name="direct"/> (flag bit 3) the unobserved kick's server serves element-free
    /// (<see cref="DirectHarnessServer"/>: the same writes through <see cref="DirectChain"/>), so the fast-path oracle
    /// holds the direct kick to the same reference.</remarks>
    private void Kick(uint want, bool direct, FuzzContext context)
    {
        if (_broken || _held == ElementsMax)
            return;
        int start = _held;
        int count;
        bool notify;
        if (_observed)
        {
            count = 0;
            while (Pop(context))
                count++;
            if (context.Finding is not null)
                return;
            for (int i = 0; i < count; i++)
                _lens[i] = Write(_elements[start + i], want + (uint)i);
            notify =
                count != 0 && _queue.AddUsedAndSignal(_memory, _elements.AsSpan(start, count), _lens.AsSpan(0, count));
        }
        else
        {
            int room = ElementsMax - start;
            QueueError error;
            notify = direct
                ? ServeKick(new DirectHarnessServer(this, want), start, room, out count, out error)
                : ServeKick(new HarnessServer(this, want), start, room, out count, out error);
            // What the observed lane's pops record (PopMany's record of a batch pop); a chain served directly left its
            // element as it was, and is recorded from what its server saw.
            for (int i = 0; i < count; i++)
            {
                _diff.Add(1);
                if (direct && _served[i].Direct)
                    RecordDirect(_served[i]);
                else
                    RecordElement(_elements[start + i]);
            }
            if (start + count < ElementsMax || error != QueueError.None)
                _diff.Add((ulong)error << 1);
            if (error != QueueError.None)
                _broken = true;
            _held += count;
        }
        if (count == 0)
            return;
        _diff.Add(notify ? 1UL : 0);
        if (_observed)
            _notify.OnDecision(_queue.UsedIdx.Value, notify);
        _held -= count; // the kick's elements were the last held: completed, their objects stay at the free end
    }

    /// <summary>The unobserved kick with <paramref name="server"/> over the harness's free elements from
    /// <paramref name="start"/> (<see cref="SplitQueue.PopServeAndSignal{TServer}"/>).</summary>
    private bool ServeKick<TServer>(TServer server, int start, int room, out int count, out QueueError error)
        where TServer : struct, IChainServer =>
        _queue.PopServeAndSignal(
            _memory,
            _elements.AsSpan(start, room),
            _lens.AsSpan(0, room),
            ref server,
            out count,
            out error
        );

    /// <summary>The harness device as <see cref="SplitQueue.PopServeAndSignal{TServer}"/>'s server: element i of the
    /// kick gets <see cref="Write"/> of want + i, as <see cref="CompleteBatch"/> writes.</summary>
    private struct HarnessServer(SplitVirtqueueTarget target, uint want) : IChainServer
    {
        private uint _next;

        public uint Serve(GuestMemory memory, QueueElement element) => target.Write(element, want + _next++);
    }

    /// <summary>The harness device as a direct server (<see cref="IChainServer.ServesDirect"/>): chain i of the kick
    /// gets <see cref="Write"/> of want + i through the <see cref="DirectChain"/> (or its element, for a chain of
    /// another shape), and what it saw of the chain is kept in <see cref="_served"/> for the record.</summary>
    private struct DirectHarnessServer(SplitVirtqueueTarget target, uint want) : IChainServer
    {
        private int _next;

        public static bool ServesDirect => true;

        public uint Serve(GuestMemory memory, QueueElement element)
        {
            target._served[_next] = default;
            return target.Write(element, want + (uint)_next++);
        }

        public uint ServeDirect(DirectChain chain)
        {
            target._served[_next] = new ServedChain(
                true,
                chain.Head,
                chain.OutCount != 0 ? chain.Out : default,
                chain.InCount != 0 ? chain.In : default
            );
            uint n = (uint)Math.Min((want + (uint)_next++) % (uint)(target._data.Length + 1), chain.InBytes);
            return (uint)chain.WriteIn(target._data.AsSpan(0, (int)n));
        }
    }

    /// <summary>What <see cref="DirectHarnessServer"/> saw of one chain of a kick: served directly, its head and its
    /// buffers (a zero-length iovec: none).</summary>
    private readonly record struct ServedChain(bool Direct, ushort Head, Iovec Out, Iovec In);

    /// <summary><see cref="RecordElement"/> of the element the chain <paramref name="c"/> would have filled (a direct
    /// chain: at most one out and one in iovec, one descriptor each, not indirect).</summary>
    private void RecordDirect(in ServedChain c)
    {
        if (!_diff.Enabled)
            return;
        ulong outCount = c.Out.Len != 0 ? 1UL : 0;
        ulong inCount = c.In.Len != 0 ? 1UL : 0;
        _diff.Add(((ulong)c.Head << 48) | (outCount << 24) | inCount);
        _diff.Add(c.Out.Len);
        _diff.Add(c.In.Len);
        _diff.Add((outCount + inCount) << 1);
        if (outCount != 0)
        {
            _diff.Add(c.Out.Addr.Value);
            _diff.Add(c.Out.Len);
        }
        if (inCount != 0)
        {
            _diff.Add(c.In.Addr.Value);
            _diff.Add(c.In.Len);
        }
    }

    private uint Write(QueueElement e, uint want)
    {
        int n = (int)Math.Min(want % (uint)(_data.Length + 1), e.InBytes);
        return (uint)e.WriteIn(_memory, 0, _data.AsSpan(0, n));
    }

    private void GiveBack(int how, int k)
    {
        if (_held == 0)
            return;
        if (how == 2)
        {
            // virtqueue_detach_element: the element never reaches the used ring.
            _queue.Detach();
            _detached++;
            Remove(k);
            return;
        }
        // Unpop / rewind apply to the most recent pop only.
        if (!_canGiveBack)
            return;
        if (how == 0)
            _queue.Unpop();
        else if (!_queue.Rewind(1))
            return;
        // The head will be fetched again; the checker then counts it twice (it cannot tell a re-fetch from a second
        // publication), which only makes it more permissive.
        _held--;
    }

    /// <summary>Drops held element <paramref name="k"/>, keeping the others in pop order (its object goes to the free
    /// end).</summary>
    private void Remove(int k)
    {
        QueueElement e = _elements[k];
        for (int j = k; j < _held - 1; j++)
            _elements[j] = _elements[j + 1];
        _elements[_held - 1] = e;
        _held--;
    }

    /// <summary>Liveness (oracle 5): the guest stops; the device pops and completes until the ring is empty or it
    /// broke. Every available chain must then be consumed and every fetched chain completed (except detached
    /// ones).</summary>
    private void Drain(FuzzContext context)
    {
        // Completing can change what the device sees next (rings that overlap), so pop again until a pop finds
        // nothing with nothing held. Bounded: each round pops or ends.
        for (int i = 0; i < (4 * RingInput.SizeMax) + ElementsMax && context.Finding is null && !_broken; i++)
        {
            context.Step();
            _diff.Step("drain");
            if (_held == ElementsMax)
                CompleteOne(0, 64);
            int popped = PopMany(context);
            RecordState();
            if (popped > 0)
                continue;
            if (_held == 0)
                break;
            while (_held > 0)
                CompleteOne(0, 64);
        }
        if (context.Finding is not null || _broken)
            return;
        _memory.TryGetSpan(new GuestAddress(_queue.AvailRing.Value + 2), 2, out Span<byte> raw);
        ushort avail = (ushort)(raw[0] | (raw[1] << 8));
        bool notify = _queue.ShouldNotify(_memory);
        _diff.Step("drain-end");
        _diff.Add(((ulong)avail << 1) | (notify ? 1UL : 0));
        RecordState();
        if (!_observed)
            return;
        if (_queue.NextAvail.Value != avail)
        {
            context.Report(
                "liveness",
                "liveness/available-chain-not-consumed",
                $"after the drain avail.idx is {avail} but the device stopped at {_queue.NextAvail.Value} without "
                    + "reporting an error"
            );
            return;
        }
        _notify.OnDecision(_queue.UsedIdx.Value, notify, "notify/missed-interrupt-after-drain");
    }
}
