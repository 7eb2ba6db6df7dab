using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The driver side of a split virtqueue (<see cref="DriverQueue"/>, Linux virtio_ring.c semantics) fuzzed as a
/// differential between its fast paths and their references (issue 12 item 1, STYLE item 19). Every input runs on two
/// lanes, each a driver queue on its own copy of guest memory:
/// <list type="bullet">
/// <item>the fast lane, unobserved: the batch and fused calls (<see cref="DriverQueue.TryAddBatch"/>,
/// <see cref="DriverQueue.TryAddBatchAndNotify"/>, <see cref="DriverQueue.TryGetUsedBatch"/>,
/// <see cref="DriverQueue.ReapAll"/>: the window bodies <c>ReapDirect</c>, <c>KickPrepareDirect</c>) and the window
/// paths of every single call;</item>
/// <item>the reference lane, observed: the one-at-a-time calls each batch call stands for (a loop of the two-buffer
/// <c>TryAdd</c>, then <c>NeedsNotify</c>; a loop of <c>TryGetUsed</c>; Linux's interrupt-handler loop of
/// DisableCallbacks, TryGetUsed, EnableCallbacks, or for an odd count ReapAll's own observed body) through the memory
/// accessors.</item>
/// </list>
/// Between the driver's operations a hostile device (<see cref="HostileUsedRing"/>) takes chains and returns them in
/// any order and count, with bad ids and lengths, used.idx jumps, overwritten used slots and suppression words, storing
/// alike into both memories. After every operation the oracle (<c>fast-path/driver-*</c>) compares what the lanes
/// returned (success, counts, heads, ids, lens, notify and re-check answers), the driver state (error, free count,
/// outstanding chains, avail and used indices, callbacks, each head's writable bytes) and the ring and indirect-table
/// bytes; the dirty pages at every clear and at the end. Input format v1: a header (queue size 1..256, EVENT_IDX, ring
/// placement), then operations, each <c>op:choice(21)</c> and its operands.
/// </summary>
internal sealed partial class DriverQueueTarget : IFuzzTarget
{
    /// <summary>The target's name.</summary>
    public const string TargetName = "driver-queue";

    /// <summary>Operations decoded per input.</summary>
    public const int OperationsMax = 256;

    /// <summary>The oracle's name (shared with the device-side differential).</summary>
    public const string Oracle = Oracles.FastPathDifferential.Oracle;

    private const ulong MemoryBytes = 0x1_0000;
    private const ulong RingBase = 0x1000;
    private const ulong TableBase = 0x8000;
    private const int TableSlots = 8;
    private const int TableStride = 0x200;
    private const int SizeChoices = 9; // 1..256
    private const int DriverOpCount = 15;
    private const int OpCount = DriverOpCount + HostileUsedRing.OpCount;

    /// <summary>The header flags byte that selects the large queue (<see cref="LargeSize"/>): one input in 256, as the
    /// long tables of split-virtqueue are sampled, since every operation on it compares 416 KiB of rings.</summary>
    private const byte LargeFlags = 0xff;

    /// <summary>The large queue's size: its descriptor table (256 KiB) with the 0x10 skew spans 65 pages, more than a
    /// window's page mask names (<see cref="GuestWindow.PageMaskPages"/>), so the batch add marks its descriptors one
    /// at a time (<c>MarkDescriptorsWritten</c>'s other path), which no queue of 256 reaches.</summary>
    private const int LargeSize = 16384;

    /// <summary>Where the large queue's rings start, above the indirect tables, in memories of their own.</summary>
    private const ulong LargeRingBase = 0x1_0000;

    private const ulong LargeMemoryBytes = 0x8_0000;

    /// <summary>Operations decoded per large-queue input (each costs a pass over the large rings, and a large input's
    /// descendants mostly keep its flags byte: with 8 the target ran 65 % slower).</summary>
    private const int LargeOperationsMax = 2;

    /// <summary>Where the descriptor table starts past <see cref="RingBase"/>: page-aligned, 16-aligned, across a
    /// page boundary, and not even 16-aligned (the dirty-page paths for a table that is and is not 16-aligned within
    /// its page).</summary>
    private static readonly ulong[] Skews = [0, 0x10, 0xff8, 0x6];

    private readonly GuestMemory[] _smallMemories =
    [
        GuestMemory.CreateFlat(MemoryBytes),
        GuestMemory.CreateFlat(MemoryBytes),
    ];
    private GuestMemory[]? _largeMemories;
    private GuestMemory _fastMemory = null!;
    private GuestMemory _refMemory = null!;
    private readonly NullObserver _observer = new();
    private readonly HostileUsedRing _device = new();
    private readonly Dictionary<int, (DriverQueue Fast, DriverQueue Reference)> _queues = [];
    private DriverQueue _fast = null!;
    private DriverQueue _ref = null!;
    private SplitRingLayout _layout;

    /// <inheritdoc/>
    public string Name => TargetName;

    /// <inheritdoc/>
    public string Description =>
        "DriverQueue batch and fused calls (unobserved) vs the one-at-a-time calls (observed) under a hostile device; "
        + "oracle fast-path/driver-* (results, driver state, ring bytes, dirty pages); driver-spec/* (what a single "
        + "add answers and writes, a direct chain and an indirect table, as the spec says)";

    /// <inheritdoc/>
    public int InputVersion => 1;

    /// <inheritdoc/>
    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Guest"];

    /// <inheritdoc/>
    public IMutator? StructureMutator => null;

    /// <inheritdoc/>
    public IInputMinimizer? Minimizer => null;

    /// <inheritdoc/>
    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var reader = new FuzzInputReader(input);
        int operations = Start(reader.ReadChoice(SizeChoices), reader.ReadByte(), context);
        for (int n = 0; n < operations && !reader.IsExhausted; n++)
        {
            context.Step();
            int op = reader.ReadChoice(OpCount);
            if (op >= DriverOpCount)
            {
                _device.Run(op - DriverOpCount, ref reader, _refMemory, _fastMemory);
                if (!SameMemory(context, "device"))
                    return FuzzOutcome.Completed;
                continue;
            }
            if (!RunDriverOp(op, ref reader, context))
                return FuzzOutcome.Completed;
        }
        SameDirtyPages(context, "end");
        return FuzzOutcome.Completed;
    }

    /// <summary>A fresh run: both memories zeroed and clean, the queues (cached per layout) initialised, the
    /// reference lane watched by an observer (so it takes the accessor paths) and the fast lane by none. Returns the
    /// operations to decode.</summary>
    private int Start(int sizeChoice, byte flags, FuzzContext context)
    {
        bool large = flags == LargeFlags;
        int size = large ? LargeSize : 1 << sizeChoice;
        bool eventIdx = (flags & 1) != 0;
        int skew = large ? 1 : (flags >> 1) & 3;
        int key = large ? -1 : (sizeChoice << 3) | (flags & 7);
        GuestMemory[] memories = large
            ? _largeMemories ??= [GuestMemory.CreateFlat(LargeMemoryBytes), GuestMemory.CreateFlat(LargeMemoryBytes)]
            : _smallMemories;
        _fastMemory = memories[0];
        _refMemory = memories[1];
        if (!_queues.TryGetValue(key, out (DriverQueue Fast, DriverQueue Reference) pair))
        {
            ulong desc = (large ? LargeRingBase : RingBase) + Skews[skew];
            ulong avail = desc + VirtioSpec.DescTableSize(size);
            ulong used = (avail + VirtioSpec.AvailRingSize(size) + 3) & ~3UL;
            var layout = new SplitRingLayout(
                new GuestAddress(desc),
                new GuestAddress(avail),
                new GuestAddress(used),
                size
            );
            pair = (new DriverQueue(layout, eventIdx), new DriverQueue(layout, eventIdx));
            _queues[key] = pair;
        }
        (_fast, _ref) = pair;
        _layout = _fast.Layout;
        _refMemory.Observer = null;
        foreach (GuestMemory m in (ReadOnlySpan<GuestMemory>)[_fastMemory, _refMemory])
        {
            m.Clear();
            using (m.AsGuest())
                (ReferenceEquals(m, _fastMemory) ? _fast : _ref).Initialize(m);
            m.ClearDirty();
        }
        _refMemory.Observer = context.Observe(_refMemory, _observer);
        _device.Reset(_layout);
        return large ? LargeOperationsMax : OperationsMax;
    }

    /// <summary>Reports when the two lanes' ring parts or indirect tables differ.</summary>
    private bool SameMemory(FuzzContext context, string step)
    {
        ulong ringBytes = _layout.End.Value - _layout.DescTable.Value;
        if (!SameRange(_layout.DescTable, ringBytes, out int at))
        {
            ulong address = _layout.DescTable.Value + (ulong)at;
            return Fail(context, step, $"the ring bytes differ at 0x{address:x} after '{step}'");
        }
        if (!SameRange(new GuestAddress(TableBase), TableSlots * TableStride, out at))
        {
            return Fail(context, step, $"the indirect tables differ at 0x{TableBase + (ulong)at:x} after '{step}'");
        }
        return true;
    }

    private bool SameRange(GuestAddress start, ulong length, out int at)
    {
        bool a = _fastMemory.TryGetSpan(start, length, out Span<byte> fast);
        bool b = _refMemory.TryGetSpan(start, length, out Span<byte> reference);
        if (!a || !b)
            throw new InvalidOperationException("driver-queue: ring area outside the target's memory");
        at = fast.CommonPrefixLength(reference);
        return at == fast.Length;
    }

    /// <summary>Reports when the lanes dirtied different pages (a window store that was not marked, or marked the
    /// wrong page).</summary>
    private bool SameDirtyPages(FuzzContext context, string step)
    {
        using IEnumerator<GuestAddress> a = _fastMemory.DirtyPages().GetEnumerator();
        using IEnumerator<GuestAddress> b = _refMemory.DirtyPages().GetEnumerator();
        while (true)
        {
            bool more = a.MoveNext();
            if (more != b.MoveNext() || (more && a.Current != b.Current))
            {
                string where = more ? a.Current.ToString() : "the end";
                return Fail(
                    context,
                    "dirty-pages",
                    $"the fast lane dirtied other pages than the reference lane by "
                        + $"'{step}' (first difference at {where})"
                );
            }
            if (!more)
                return true;
        }
    }

    private static bool Fail(FuzzContext context, string step, string message)
    {
        context.Report(Oracle, "fast-path/driver-" + step, message);
        return false;
    }

    /// <inheritdoc/>
    public IEnumerable<byte[]> SeedCorpus() => DriverQueueSeeds.All();

    /// <summary>Watches the reference lane's memory so its driver takes the accessor paths; records nothing.</summary>
    private sealed class NullObserver : IMemoryObserver
    {
        public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }

        public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }
    }
}
