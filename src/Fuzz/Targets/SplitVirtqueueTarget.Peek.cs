using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The split-virtqueue target's calls that change no ring contents: <see cref="SplitQueue.GetAvailBytes"/> (QEMU
/// virtqueue_get_avail_bytes, before only reached by rng and net and judged by nothing) against the ring model's walk
/// (<see cref="AvailBytesReference"/>), and <see cref="SplitQueue.TryRestore"/> (snapshots and the vhost frontend's
/// hand-back, before reached by no fuzz target) of the live queue's captured state into a second queue, which then
/// carries on in its place, and of perturbed states, whose answers are judged against the restore rules.
/// </summary>
internal sealed partial class SplitVirtqueueTarget
{
    /// <summary>Oracle name of the restore judgements.</summary>
    public const string RestoreOracle = "restore";

    /// <summary>The queue a restore op moves the live state into (then the two swap). Reset per execution, so nothing
    /// of the previous execution reaches this one.</summary>
    private SplitQueue _spare = new(RingInput.SizeMax);

    /// <summary>Which executions may write long indirect tables (<see cref="GuestActor.LongTables"/>): one in
    /// <c>LongTablePeriod</c>, chosen by a hash of the input (bits other than the fast-path twin's), 0 none. An input
    /// holding a long table writes and walks ~500 descriptors; sampled, its descendants mostly do not, so the corpus
    /// cannot fill with them (docs/fuzzing-oracles.md "Long indirect tables").</summary>
    public int LongTablePeriod { get; init; } = DefaultLongTablePeriod;

    /// <summary>The default <see cref="LongTablePeriod"/>.</summary>
    public const int DefaultLongTablePeriod = 8;

    /// <summary>Calls to <see cref="SplitQueue.GetAvailBytes"/> the reference judged, for tests.</summary>
    public long AvailBytesJudged { get; private set; }

    /// <summary>Restores the oracle judged (accepted or not), for tests.</summary>
    public long RestoresJudged { get; private set; }

    /// <summary>True when <paramref name="input"/> both writes long tables and runs its fast-path twin under the
    /// default periods: a seed that must reach a long table's bound in the observed and the unobserved lane is padded
    /// until this holds (<see cref="RingSeeds"/>).</summary>
    internal static bool LongTablesAndTwinByDefault(ReadOnlySpan<byte> input)
    {
        ulong hash = InputHash(input);
        return (hash >> 32) % DefaultLongTablePeriod == 0 && hash % DefaultFastPathPeriod == 0;
    }

    private void ChooseLongTables(ulong hash) =>
        _guest.LongTables = LongTablePeriod > 0 && (hash >> 32) % (ulong)LongTablePeriod == 0;

    /// <summary>virtqueue_get_avail_bytes with a bound from the op (everything, a few bytes, or raw), under the host's
    /// actor as <c>VirtioDevice.TryGetAvailBytes</c> calls it (a peek, not a pop); an error breaks the device as
    /// QEMU's virtio_error does. Observed, the answer must be the reference walk's.</summary>
    private void AvailBytes(uint raw, ushort how, FuzzContext context)
    {
        if (_broken)
            return;
        uint inBytesMax = (how & 3) switch
        {
            0 => uint.MaxValue,
            1 => raw % 256,
            2 => raw % 4096,
            _ => raw,
        };
        QueueError error;
        uint inBytes;
        uint outBytes;
        using (_memory.As(MemoryActor.Host))
            error = _queue.GetAvailBytes(_memory, inBytesMax, out inBytes, out outBytes);
        _diff.Add(((ulong)inBytes << 32) | outBytes);
        _diff.Add((ulong)error);
        if (error != QueueError.None)
            _broken = true;
        if (!_observed)
            return;
        AvailBytesJudged++;
        QueueError want = AvailBytesReference.Walk(
            _memory,
            _queue.Size,
            _queue.DescTable.Value,
            _queue.AvailRing.Value,
            _queue.NextAvail.Value,
            inBytesMax,
            out uint wantIn,
            out uint wantOut
        );
        if (error != want)
            context.Report(
                AvailBytesReference.Oracle,
                "avail-bytes/error-differs",
                $"GetAvailBytes from {_queue.NextAvail.Value} (bound {inBytesMax}) answered {error}; "
                    + $"the model says {want}"
            );
        else if (inBytes != wantIn || outBytes != wantOut)
            context.Report(
                AvailBytesReference.Oracle,
                "avail-bytes/sums-differ",
                $"GetAvailBytes from {_queue.NextAvail.Value} (bound {inBytesMax}) summed in {inBytes} out {outBytes}; "
                    + $"the model walk sums in {wantIn} out {wantOut}"
            );
    }

    /// <summary>Restores the live queue's state (or, by the op's index, a perturbed one: a bad size, a bad inuse or
    /// shadow index, other rings, not ready) into the spare queue. An accepted state must read back as given, a
    /// rejected one must leave the spare as it was, for the reason the rules name; an accepted unperturbed restore
    /// swaps the queues, so the rest of the run (and the unobserved twin's window paths) goes on in the restored
    /// one.</summary>
    private void Restore(in RingInput.Op op, FuzzContext context)
    {
        SplitQueueState state = _queue.Capture();
        int how = op.Index % 8;
        SplitQueueState asked = how switch
        {
            3 => state with { Ready = false },
            4 => state with { Size = op.Next },
            5 => state with { InUse = op.Next - 32768 },
            6 => state with
            {
                ShadowAvail = new RingIndex(
                    Narrow.ToUInt16Wrapping(state.NextAvail.Value + (op.Next % ((2 * state.Size) + 2)))
                ),
            },
            7 => WithRings(state, op),
            _ => state,
        };
        SplitQueueState before = _spare.Capture();
        bool ok = _spare.TryRestore(_memory, asked, out QueueConfigError error);
        _diff.Add(((ulong)error << 1) | (ok ? 1UL : 0));
        if (_observed)
            JudgeRestore(asked, before, ok, error, context);
        if (ok && how < 3)
            (_queue, _spare) = (_spare, _queue);
    }

    private SplitQueueState WithRings(in SplitQueueState state, in RingInput.Op op)
    {
        (ulong desc, ulong avail, ulong used) = RingInput.Place(op.Next, state.Size, op.RawAddr);
        return state with
        {
            DescTable = new GuestAddress(desc),
            AvailRing = new GuestAddress(avail),
            UsedRing = new GuestAddress(used),
        };
    }

    private void JudgeRestore(
        in SplitQueueState asked,
        in SplitQueueState before,
        bool ok,
        QueueConfigError error,
        FuzzContext context
    )
    {
        RestoresJudged++;
        QueueConfigError want = RestoreVerdict(_memory, asked, _spare.MaxSize);
        // The error must be the verdict's, None included: the API's contract (an accepted restore that names an
        // error would mislead a caller that reports it).
        if (ok != (want == QueueConfigError.None) || error != want)
            context.Report(
                RestoreOracle,
                "restore/answer-differs",
                $"TryRestore of {asked} answered {(ok ? "accepted" : error.ToString())}; the rules say {want}"
            );
        else if (ok && _spare.Capture() != asked)
            context.Report(
                RestoreOracle,
                "restore/state-differs",
                $"TryRestore accepted {asked} but the queue captures {_spare.Capture()}"
            );
        else if (!ok && _spare.Capture() != before)
            context.Report(
                RestoreOracle,
                "restore/rejected-but-changed",
                $"TryRestore rejected {asked} ({error}) but changed the queue from {before} to {_spare.Capture()}"
            );
    }

    /// <summary>Oracle name of <see cref="JudgeBookkeeping"/>'s <c>queue-state/</c> sites.</summary>
    internal const string QueueStateOracle = "queue-state";

    /// <summary>After each op of the observed lane: the queue's inuse is the harness's count of elements popped and
    /// not yet completed, detached, unpopped or rewound (QEMU vq-&gt;inuse: virtqueue_pop adds one, virtqueue_flush,
    /// virtqueue_detach_element, virtqueue_unpop and virtqueue_rewind take them off), and every used.idx the queue
    /// says it published went through the memory observer (the device's store the checker saw), as the observed
    /// calls promise: an access that bypasses the observer escapes every memory oracle, the DMA gate and a
    /// recorded trace.</summary>
    private void JudgeBookkeeping(FuzzContext context)
    {
        if (!_queue.Ready || !_checker.Active || context.Finding is not null)
            return;
        if (_queue.InUse != _held)
        {
            context.Report(
                QueueStateOracle,
                "queue-state/inuse-differs",
                $"the queue counts {_queue.InUse} elements in use; the harness holds {_held} popped and not yet "
                    + "completed, detached or given back"
            );
            return;
        }
        if (_checker.UsedIdx != _queue.UsedIdx.Value)
            context.Report(
                VirtqueueChecker.UsedRingOracle,
                "used-ring/publication-unobserved",
                $"the queue says it published used.idx {_queue.UsedIdx.Value}; the memory observer saw the device "
                    + $"store {_checker.UsedIdx}"
            );
    }

    /// <summary>IsEmpty on a ready queue answered against QEMU virtio_queue_split_empty: not empty while the shadow
    /// avail index is ahead of last_avail_idx (heads already seen and not yet popped), else empty exactly when the
    /// avail.idx the guest published equals last_avail_idx (vring_avail_idx(vq) == vq-&gt;last_avail_idx). A wrong
    /// "empty" makes a device stop serving published buffers (VIRTIO 1.2 §2.7.13.3: the driver has made them
    /// available) and NOTIFY_ON_EMPTY interrupt early; a wrong "not empty" makes it pop nothing.</summary>
    private bool IsEmptyJudged(FuzzContext context)
    {
        // The rule from the state before the call (judged in the observed lane: both lanes run the same IsEmpty, so
        // the differential cannot).
        bool want =
            _queue.ShadowAvail == _queue.NextAvail
            && ReadGuestU16(_queue.AvailRing.Value + 2) == _queue.NextAvail.Value;
        bool empty = _queue.IsEmpty(_memory);
        if (_observed)
            JudgeEmpty(empty, want, context);
        return empty;
    }

    private void JudgeEmpty(bool empty, bool want, FuzzContext context)
    {
        EmptyJudged++;
        if (empty == want)
            return;
        context.Report(
            QueueStateOracle,
            "queue-state/empty-differs",
            $"IsEmpty answered {(empty ? "empty" : "not empty")}; QEMU virtio_queue_split_empty's rule (shadow avail "
                + "index, then avail.idx against last_avail_idx) says the opposite"
        );
    }

    /// <summary>IsEmpty answers judged by <see cref="JudgeEmpty"/> since the target was made (tests: the check
    /// ran).</summary>
    internal int EmptyJudged { get; private set; }

    /// <summary>A completion or interrupt decision on a queue that is not live (a reset op whose configuration was
    /// refused leaves it so for the rest of the run), once per run: it must be refused with
    /// <see cref="InvalidOperationException"/>, never answered through the rings of an earlier configuration (a store
    /// of used.idx after reset). QEMU __virtio_queue_reset zeroes vring.desc / avail / used, so no ring of the
    /// earlier configuration is left to write; a device that completes after a reset is a bug the queue turns into an
    /// exception.</summary>
    private void JudgeNotLive(int code, FuzzContext context)
    {
        if (_notLiveJudged || code is not (OpComplete or OpShouldNotify) || context.Finding is not null)
            return;
        _notLiveJudged = true;
        string call = code == OpComplete ? "Flush(0)" : "ShouldNotify";
        try
        {
            if (code == OpComplete)
                _queue.Flush(_memory, 0);
            else
                _queue.ShouldNotify(_memory);
        }
        catch (InvalidOperationException)
        {
            return;
        }
        context.Report(
            QueueStateOracle,
            "queue-state/used-while-not-live",
            $"{call} on a queue that is not ready (reset, its new configuration refused) was answered instead of "
                + "refused"
        );
    }

    /// <summary>The restore rules: a valid queue size no larger than the queue's maximum (QEMU virtio_queue_set_num,
    /// VIRTIO 1.2 §2.7); inuse within 0..size and shadow_avail_idx at most a queue ahead of last_avail_idx (QEMU
    /// virtio_load's "VQ %d size 0x%x &lt; last_avail_idx 0x%x - used_idx 0x%x" consistency checks); a ready queue's
    /// rings valid as at queue_enable (<see cref="QueueConfigReference"/>).</summary>
    public static QueueConfigError RestoreVerdict(GuestMemory memory, in SplitQueueState state, int maxSize)
    {
        ArgumentNullException.ThrowIfNull(memory);
        int size = state.Size;
        if (size < 1 || size > maxSize || size > QueueConfigReference.SizeMax || (size & (size - 1)) != 0)
            return QueueConfigError.BadSize;
        if (
            state.InUse < 0
            || state.InUse > size
            || Narrow.ToUInt16Wrapping(state.ShadowAvail.Value - state.NextAvail.Value) > size
        )
            return QueueConfigError.BadState;
        if (!state.Ready)
            return QueueConfigError.None;
        return QueueConfigReference.Classify(
            memory,
            size,
            state.DescTable.Value,
            state.AvailRing.Value,
            state.UsedRing.Value
        );
    }
}
