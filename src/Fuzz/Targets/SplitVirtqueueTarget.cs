using Fuzz.Checkers;
using Fuzz.Input;
using Fuzz.Mutation;
using Fuzz.Targets.Rings;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;

namespace Fuzz.Targets;

/// <summary>
/// The split-virtqueue core on its own (<see cref="SplitQueue"/>, QEMU hw/virtio/virtio.c semantics) under arbitrary
/// ring contents and indices. The input (<see cref="RingInput"/> v1) interleaves a hostile guest (raw descriptors,
/// indirect tables, publishes, wild avail.idx jumps, suppression flags, stray stores) with an honest device driving the
/// queue: pop, complete one or a batch (fill + flush), notification decisions, enable/disable kicks,
/// unpop/rewind/detach, reset with a feature change while elements are in flight. At the end the device drains.
/// Oracles: <see cref="VirtqueueChecker"/> (permission, used-ring) on every device access; popped iovecs must lie in
/// the chain the checker walked (model); <see cref="NotificationChecker"/> (notify); liveness: after the drain every
/// available chain is consumed unless the queue reported an error (QEMU's broken state); exceptions and assertions.
/// </summary>
public sealed class SplitVirtqueueTarget : IFuzzTarget
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
    private readonly SplitQueue _queue = new(RingInput.SizeMax);
    private readonly QueueElement[] _elements = new QueueElement[ElementsMax];
    private readonly GuestActor _guest = new();
    private readonly VirtqueueChecker _checker = new(RingInput.SizeMax);
    private readonly NotificationChecker _notify = new();
    private readonly byte[] _data = new byte[128];
    private int _held;
    private int _detached;
    private bool _broken;
    private bool _canGiveBack;

    public SplitVirtqueueTarget()
    {
        MemoryLayout layout = RingSimulation.Layout;
        if (!GuestMemory.TryCreate(layout, out GuestMemory? memory, out string? error)) throw new InvalidOperationException(error);
        _memory = memory;
        for (int i = 0; i < _elements.Length; i++) _elements[i] = new QueueElement();
        for (int i = 0; i < _data.Length; i++) _data[i] = (byte)(0xA0 + i);
    }

    public string Name => "split-virtqueue";

    public string Description => "SplitQueue pop/fill/flush/push/notify under hostile rings; oracles permission, used-ring, model, notify, liveness";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = Rings.RingInputMinimizer.Create(OperationsMax);

    public IEnumerable<byte[]> SeedCorpus() => RingSeeds.SplitVirtqueue();

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        _checker.Context = context;
        _notify.Context = context;
        _memory.Clear();
        _memory.Observer = context.Observe(_memory, _checker);
        if (!Configure(header.Size, header.EventIdx, header.NotifyOnEmpty, header.Placement)) return FuzzOutcome.Rejected;
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            bool gaveBackable = false;
            if (op.Code < 8) _guest.Apply(op);
            else if (_queue.Ready) gaveBackable = DeviceOp(op, context);
            _canGiveBack = gaveBackable;
        }
        if (context.Finding is null && _queue.Ready) Drain(context);
        return FuzzOutcome.Completed;
    }

    private bool Configure(int size, bool eventIdx, bool notifyOnEmpty, int placement)
    {
        _queue.Reset();
        _checker.Deactivate();
        _held = 0;
        _detached = 0;
        _broken = false;
        _canGiveBack = false;
        (ulong desc, ulong avail, ulong used) = RingInput.Place(placement, size, unchecked((ulong)placement * 0x9E37_79B9_7F4A_7C15));
        _queue.TrySetSize(size, out _);
        _queue.DescTable = new GuestAddress(desc);
        _queue.AvailRing = new GuestAddress(avail);
        _queue.UsedRing = new GuestAddress(used);
        _queue.EventIdx = eventIdx;
        _queue.NotifyOnEmpty = notifyOnEmpty;
        _guest.Reset(_memory, desc, avail, size);
        if (!_queue.TryEnable(_memory, out _)) return false;
        _checker.Configure(_memory, desc, avail, used, size);
        _notify.Configure(_memory, avail, size, eventIdx);
        return true;
    }

    /// <summary>Runs device operation <paramref name="op"/>; returns true when it popped (so a give-back may follow).</summary>
    private bool DeviceOp(in RingInput.Op op, FuzzContext context)
    {
        switch (op.Code)
        {
            case OpPop:
                return Pop(context);
            case OpComplete:
                if (_held > 0) CompleteOne(op.Index % _held, op.RawLen);
                break;
            case OpCompleteBatch:
                if (_held > 0) CompleteBatch(1 + (op.Index % _held), op.RawLen);
                break;
            case OpShouldNotify:
                _notify.OnDecision(_queue.UsedIdx.Value, _queue.ShouldNotify(_memory));
                break;
            case OpSetNotification:
                _queue.SetNotification(_memory, (op.Flags & 1) != 0);
                break;
            case OpGiveBack:
                GiveBack(op.Index % 3, op.Index % Math.Max(1, _held));
                break;
            case OpReset:
                // Device reset with a feature change while elements are in flight (VIRTIO 1.2 §2.1.2, §3.3).
                Configure(1 << (op.Index % (RingInput.SizeLogMax + 1)), (op.Flags & 1) != 0, (op.Flags & 2) != 0, op.Next);
                break;
            default:
                if (_held > 0 && (op.Flags & 1) != 0) _elements[op.Index % _held].ReadOut(_memory, op.RawLen % 16, _data.AsSpan(0, 16));
                else _queue.IsEmpty(_memory);
                break;
        }
        return false;
    }

    private bool Pop(FuzzContext context)
    {
        if (_broken || _held == ElementsMax) return false;
        QueueElement element = _elements[_held];
        if (!_queue.TryPop(_memory, element, out QueueError error))
        {
            // QEMU virtio_error: the device is broken until reset and pops nothing more.
            if (error != QueueError.None) _broken = true;
            return false;
        }
        _held++;
        CheckElement(element, context);
        return true;
    }

    /// <summary>Model: every iovec of the popped element lies in one buffer of the chain, with its direction.</summary>
    private void CheckElement(QueueElement element, FuzzContext context)
    {
        foreach (Iovec v in element.Out)
        {
            if (!_checker.Covers(element.Head, v.Addr.Value, v.Len, writable: false)) ReportIovec(context, element.Head, v, "readable");
        }
        foreach (Iovec v in element.In)
        {
            if (!_checker.Covers(element.Head, v.Addr.Value, v.Len, writable: true)) ReportIovec(context, element.Head, v, "writable");
        }
    }

    private static void ReportIovec(FuzzContext context, ushort head, Iovec v, string what) =>
        context.Report("model", "split-virtqueue/iovec-outside-chain", $"popped element {head} has a {what} iovec [0x{v.Addr.Value:x}, +{v.Len}) that is not inside a {what} descriptor of its chain (QEMU virtqueue_map_desc)");

    /// <summary>An honest device: writes up to <paramref name="want"/> bytes into the element's writable buffers and
    /// completes it with used.len = bytes written (push).</summary>
    private void CompleteOne(int k, uint want)
    {
        QueueElement e = _elements[k];
        uint written = Write(e, want);
        _queue.Push(_memory, e.Head, written);
        Remove(k);
    }

    private void CompleteBatch(int count, uint want)
    {
        for (int i = 0; i < count; i++)
        {
            QueueElement e = _elements[i];
            _queue.Fill(_memory, e.Head, Write(e, want + (uint)i), i);
        }
        _queue.Flush(_memory, count);
        for (int i = 0; i < count; i++) Remove(0);
    }

    private uint Write(QueueElement e, uint want)
    {
        int n = (int)Math.Min(want % (uint)(_data.Length + 1), e.InBytes);
        return (uint)e.WriteIn(_memory, 0, _data.AsSpan(0, n));
    }

    private void GiveBack(int how, int k)
    {
        if (_held == 0) return;
        if (how == 2)
        {
            // virtqueue_detach_element: the element never reaches the used ring.
            _queue.Detach();
            _detached++;
            Remove(k);
            return;
        }
        // Unpop / rewind apply to the most recent pop only.
        if (!_canGiveBack) return;
        if (how == 0) _queue.Unpop();
        else if (!_queue.Rewind(1)) return;
        // The head will be fetched again; the checker then counts it twice (it cannot tell a re-fetch from a second
        // publication), which only makes it more permissive.
        _held--;
    }

    /// <summary>Drops held element <paramref name="k"/>, keeping the others in pop order (its object goes to the free end).</summary>
    private void Remove(int k)
    {
        QueueElement e = _elements[k];
        for (int j = k; j < _held - 1; j++) _elements[j] = _elements[j + 1];
        _elements[_held - 1] = e;
        _held--;
    }

    /// <summary>Liveness (oracle 5): the guest stops; the device pops and completes until the ring is empty or it broke.
    /// Every available chain must then be consumed and every fetched chain completed (except detached ones).</summary>
    private void Drain(FuzzContext context)
    {
        // Completing can change what the device sees next (rings that overlap), so pop again until a pop finds
        // nothing with nothing held. Bounded: each round pops or ends.
        for (int i = 0; i < (4 * RingInput.SizeMax) + ElementsMax && context.Finding is null && !_broken; i++)
        {
            context.Step();
            if (_held == ElementsMax) CompleteOne(0, 64);
            if (Pop(context)) continue;
            if (_held == 0) break;
            while (_held > 0) CompleteOne(0, 64);
        }
        if (context.Finding is not null || _broken) return;
        _memory.TryGetSpan(new GuestAddress(_queue.AvailRing.Value + 2), 2, out Span<byte> raw);
        ushort avail = (ushort)(raw[0] | (raw[1] << 8));
        if (_queue.NextAvail.Value != avail)
        {
            context.Report("liveness", "liveness/available-chain-not-consumed", $"after the drain avail.idx is {avail} but the device stopped at {_queue.NextAvail.Value} without reporting an error");
            return;
        }
        _notify.OnDecision(_queue.UsedIdx.Value, _queue.ShouldNotify(_memory), "notify/missed-interrupt-after-drain");
    }
}
