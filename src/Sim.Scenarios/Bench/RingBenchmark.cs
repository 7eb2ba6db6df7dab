using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;

namespace Sim.Scenarios.Bench;

/// <summary>
/// <c>virtsim bench ring</c>: pushes requests through the driver-side (<see cref="DriverQueue"/>) and device-side
/// (<see cref="SplitQueue"/>) split-ring code in one thread. Each request is a 2-descriptor chain: an 8-byte
/// readable request and an 8-byte writable response. The driver adds <c>batch</c> chains and kicks (when
/// <see cref="DriverQueue.NeedsNotify"/> says so), the device pops each chain, reads the request, writes the
/// 8-byte response and pushes it, decides on an interrupt, and the driver reaps every used entry and checks the
/// response bytes and used.len. Simulation code cannot read a clock, so the caller passes one in.
/// </summary>
public sealed class RingBenchmark
{
    /// <summary>Requests run before timing starts, so the JIT reaches its optimised tier.</summary>
    public const long WarmupRequests = 200_000;

    /// <summary>Most requests one run may do (bounded work).</summary>
    public const long RequestsMax = 1L << 40;

    private const ulong ResponseMagic = 0x5a5a_0000_0000_0001UL;
    private const ulong RingBase = 0x1000;
    private const ulong BufferBase = 0x10_0000;
    private const ulong MemoryBytes = 0x20_0000;

    private readonly GuestMemory _memory;
    private readonly DriverQueue _driver;
    private readonly SplitQueue _device;
    private readonly QueueElement[] _elements;
    private readonly GuestBuffer[] _requests; // slot k and k + slots: request buffer of slot k (wrapping slices)
    private readonly GuestBuffer[] _responses;
    private readonly ushort[] _heads;
    private readonly ushort[] _usedIds;
    private readonly uint[] _usedLens;
    private readonly uint[] _servedLens; // the device's used.len per popped chain, for its FillBatch
    private readonly int _slots;
    private readonly ushort[] _slotOfHead;
    private readonly GuestWindow _buffers; // every slot's request and response, for the driver's check
    private readonly GuestPageMark _buffersPage; // its page's dirty bit when it lies inside one page, else none
    private long _sequence;
    private long _kicks;
    private long _notifications;
    private long _mismatches;

    private RingBenchmark(int queueSize, bool eventIdx)
    {
        _memory = GuestMemory.CreateFlat(MemoryBytes);
        SplitRingLayout layout = SplitRingLayout.Modern(new GuestAddress(RingBase), queueSize);
        _driver = new DriverQueue(layout, eventIdx);
        using (_memory.AsGuest())
            _driver.Initialize(_memory);
        _device = new SplitQueue(queueSize)
        {
            DescTable = layout.DescTable,
            AvailRing = layout.AvailRing,
            UsedRing = layout.UsedRing,
            EventIdx = eventIdx,
        };
        if (!_device.TryEnable(_memory, out QueueConfigError error))
            throw new InvalidOperationException($"benchmark ring refused: {error}");
        _slots = queueSize / 2;
        _slotOfHead = new ushort[queueSize];
        if (!_memory.TryGetWindow(new GuestAddress(BufferBase), _slots * 16, out _buffers))
            throw new InvalidOperationException("buffer area outside memory");
        if (_buffers.PageSkew + _buffers.Length <= GuestMemory.PageSize)
            _buffersPage = _buffers.FirstPageMark;
        _elements = new QueueElement[_slots];
        for (int i = 0; i < _slots; i++)
            _elements[i] = new QueueElement();
        _requests = new GuestBuffer[2 * _slots];
        _responses = new GuestBuffer[2 * _slots];
        for (int i = 0; i < 2 * _slots; i++)
        {
            ulong at = BufferBase + (unchecked((ulong)(i & (_slots - 1))) * 16);
            _requests[i] = new GuestBuffer(new GuestAddress(at), 8);
            _responses[i] = new GuestBuffer(new GuestAddress(at + 8), 8);
        }
        _heads = new ushort[_slots];
        _usedIds = new ushort[_slots];
        _usedLens = new uint[_slots];
        _servedLens = new uint[_slots];
    }

    /// <summary>
    /// Runs <paramref name="requests"/> requests, <paramref name="batch"/> per kick, on a queue of
    /// <paramref name="queueSize"/> entries (at most queueSize / 2 chains are outstanding), after
    /// <see cref="WarmupRequests"/> untimed ones. <paramref name="readTimestamp"/> is called once before and once
    /// after the timed part; <paramref name="timestampFrequency"/> is its ticks per second.
    /// </summary>
    public static RingBenchmarkResult Run(
        long requests,
        int batch,
        Func<long> readTimestamp,
        long timestampFrequency,
        int queueSize = 256,
        bool eventIdx = false
    )
    {
        ArgumentNullException.ThrowIfNull(readTimestamp);
        ArgumentOutOfRangeException.ThrowIfNegative(requests);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(requests, RequestsMax);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        RingBenchmark bench = Create(queueSize, eventIdx);
        bench.Execute(WarmupRequests, batch);
        bench._kicks = 0;
        bench._notifications = 0;
        bench._mismatches = 0;

        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long start = readTimestamp();
        bench.Execute(requests, batch);
        long end = readTimestamp();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        return new RingBenchmarkResult(
            requests,
            batch,
            queueSize,
            bench._kicks,
            bench._notifications,
            end - start,
            timestampFrequency,
            allocated,
            bench._mismatches
        );
    }

    /// <summary>A reusable ring pair (for BenchmarkDotNet, which times <see cref="Execute"/> itself).</summary>
    public static RingBenchmark Create(int queueSize = 256, bool eventIdx = false)
    {
        if (queueSize < 2 || !Sim.Spec.Virtio.VirtioSpec.IsValidQueueSize(queueSize))
            throw new ArgumentOutOfRangeException(nameof(queueSize), queueSize, "a power of two from 2 to 32768");
        return new RingBenchmark(queueSize, eventIdx);
    }

    /// <summary>Kicks the driver made so far.</summary>
    public long Kicks => _kicks;

    /// <summary>Interrupts the device decided to raise so far.</summary>
    public long Notifications => _notifications;

    /// <summary>The guest memory holding the rings and buffers (for tests: its hash, an observer).</summary>
    public GuestMemory Memory => _memory;

    /// <summary>Responses (or used lengths) that did not match so far: always 0 unless the ring code is
    /// broken.</summary>
    public long Mismatches => _mismatches;

    /// <summary>Runs <paramref name="requests"/> more requests, <paramref name="batch"/> per kick. Allocates
    /// nothing.</summary>
    public void Execute(long requests, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(requests);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(requests, RequestsMax);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        Loop(requests, batch);
    }

    // Two actor switches per kick, not four: the guest's interrupt handler for one kick and its adds for the next run
    // back to back with no device step between them, so they share one switch to the guest (the accesses are
    // attributed exactly as with a switch around each). Set and restored without a using block, whose try/finally
    // would sit around every step of the loop; an exception here means broken ring code and ends the run.
    private void Loop(long requests, int batch)
    {
        GuestMemory memory = _memory;
        MemoryActor device = memory.Actor; // the device's steps run as the caller's actor, as before
        long done = 0;
        if (requests == 0)
            return;
        memory.Actor = MemoryActor.Guest;
        while (true)
        {
            long n = Math.Min(Math.Min(batch, requests - done), _slots);
            if (n == 1 ? AddRequest(memory) : AddRequests(memory, Narrow.LowInt32(n))) // one call per step
                _kicks++;
            memory.Actor = device;
            ServeKick(memory);
            memory.Actor = MemoryActor.Guest;
            done += Reap(memory);
            if (done >= requests)
                break;
        }
        memory.Actor = device;
    }

    /// <summary>Writes <paramref name="n"/> (at most the slot count) requests, adds their chains and decides on the
    /// kick with one call (<see cref="DriverQueue.TryAddBatchAndNotify"/>: Linux virtio-blk's queue_rq then
    /// virtqueue_kick_prepare); returns whether the driver kicks.</summary>
    private bool AddRequests(GuestMemory memory, int n)
    {
        int slots = _slots;
        int start = unchecked((int)(_sequence & (slots - 1)));
        // The driver fills its request buffers with plain stores (through the window on them: the benchmark runs
        // unobserved) and reports the written bytes dirty once per contiguous run of slots.
        Span<byte> buffers = _buffers.WritableBytes;
        ulong sequence = Narrow.AsUInt64Bits(_sequence);
        for (int k = 0; k < n; k = unchecked(k + 1)) // unchecked: k < n <= slots
        {
            int slot = unchecked((start + k) & (slots - 1));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(
                buffers.Slice(slot * 16, 8),
                unchecked(sequence + (ulong)k)
            );
        }
        int run = Math.Min(n, slots - start);
        if (!_buffersPage.IsEmpty)
        {
            _buffersPage.Mark();
        }
        else
        {
            _buffers.MarkWritten(start * 16, (run * 16) - 8);
            if (n > run)
                _buffers.MarkWritten(0, ((n - run) * 16) - 8);
        }
        Span<ushort> heads = _heads.AsSpan(0, n);
        ReadOnlySpan<GuestBuffer> requests = _requests.AsSpan(start, n);
        ReadOnlySpan<GuestBuffer> responses = _responses.AsSpan(start, n);
        bool all = _driver.TryAddBatchAndNotify(memory, requests, responses, heads, out _, out bool kick);
        if (!all)
            ThrowRingFull();
        ushort[] slotOfHead = _slotOfHead;
        for (int k = 0; k < heads.Length; k = unchecked(k + 1))
            slotOfHead[heads[k]] = unchecked((ushort)((start + k) & (slots - 1))); // unchecked: k < n
        _sequence += n;
        return kick;
    }

    /// <summary><see cref="AddRequests"/> of one request (a latency-bound guest's kick): the same writes, chain and
    /// kick decision, through one-element spans (no slicing of the batch arrays), with the request buffer's dirty
    /// mark located once when the buffers lie inside one page (as C's ring.c keeps its state in globals).</summary>
    private bool AddRequest(GuestMemory memory)
    {
        int slot = Narrow.LowInt32(_sequence & (_slots - 1));
        int at = slot * 16;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(
            _buffers.WritableBytes.Slice(at, 8),
            Narrow.AsUInt64Bits(_sequence)
        );
        if (_buffersPage.IsEmpty)
            _buffers.MarkWritten(at, 8);
        else
            _buffersPage.Mark();
        ushort head = 0;
        bool added = _driver.TryAddBatchAndNotify(
            memory,
            new ReadOnlySpan<GuestBuffer>(in _requests[slot]),
            new ReadOnlySpan<GuestBuffer>(in _responses[slot]),
            new Span<ushort>(ref head),
            out _,
            out bool kick
        );
        if (!added)
            ThrowRingFull();
        _slotOfHead[head] = Narrow.LowUInt16(slot);
        _sequence++;
        return kick;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void ThrowRingFull() => throw new InvalidOperationException("ring full");

    /// <summary>The device's kick handler in one call (<see cref="SplitQueue.PopServeAndSignal{TServer}"/>: pop
    /// every chain until the queue is empty, as QEMU's handlers' virtqueue_pop loops and vhost's get_vq_desc loops do;
    /// read each 8-byte request and write its 8-byte response (<see cref="ResponseServer"/>, inlined); then the used
    /// entries, one used.idx flush and one interrupt decision, as Linux vhost_add_used_and_signal_n).</summary>
    private void ServeKick(GuestMemory memory)
    {
        var server = default(ResponseServer);
        bool notify = _device.PopServeAndSignal(
            memory,
            _elements,
            _servedLens,
            ref server,
            out _,
            out QueueError error
        );
        if (error != QueueError.None)
            ThrowDeviceError(error);
        if (notify)
            _notifications++;
    }

    // The throws live out of line: an interpolated message built inline gives the kick's callers a larger frame to
    // zero on every call (issue 13 section 5).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void ThrowDeviceError(QueueError error) =>
        throw new InvalidOperationException($"device queue error: {error}");

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void ThrowDriverBroken(DriverQueueError error) =>
        throw new InvalidOperationException($"driver queue broke: {error}");

    /// <summary>One request: read the 8-byte request, write the response; the used.len is the bytes written. Serves
    /// element-free (<see cref="IChainServer.ServeDirect"/>): the kick hands it each request / response pair as a
    /// <see cref="DirectChain"/> over the table region's window, the same work through the same-named members as
    /// <see cref="Serve"/>, which takes every chain of another shape and every observed kick.</summary>
    private readonly struct ResponseServer : IChainServer
    {
        public static bool ServesDirect => true;

        [System.Runtime.CompilerServices.MethodImpl(
            System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining
        )]
        public uint Serve(GuestMemory memory, QueueElement element) =>
            Narrow.AsUInt32Bits(
                element.TryReadOutUInt64(memory, out ulong request)
                    ? element.WriteInUInt64(memory, request ^ ResponseMagic)
                    : 0
            );

        [System.Runtime.CompilerServices.MethodImpl(
            System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining
        )]
        public uint ServeDirect(DirectChain chain) =>
            Narrow.AsUInt32Bits(
                chain.TryReadOutUInt64(out ulong request) ? chain.WriteInUInt64(request ^ ResponseMagic) : 0
            );
    }

    /// <summary>The driver's interrupt handler, Linux style (virtio-blk / NAPI): <see cref="DriverQueue.ReapAll"/>
    /// turns callbacks off, reaps every used entry and turns them back on with the "more used since?"
    /// re-check (inlined here: the handler body is the one call). The entries are checked as C's ring.c checks
    /// them, the mismatches counted in a local and stored once per handler call.</summary>
    private int Reap(GuestMemory memory)
    {
        int reaped = 0;
        long mismatches = 0;
        bool done;
        ReadOnlySpan<byte> buffers = _buffers.Bytes; // taken once: the window is fixed for the run
        ushort[] slotOfHead = _slotOfHead;
        Span<ushort> usedIds = _usedIds;
        Span<uint> usedLens = _usedLens;
        do
        {
            done = _driver.ReapAll(memory, usedIds, usedLens, out int count);
            ReadOnlySpan<ushort> ids = usedIds[..count];
            ReadOnlySpan<uint> lens = usedLens[..count];
            for (int k = 0; k < ids.Length; k++)
                mismatches += Mismatch(buffers, slotOfHead[ids[k]], lens[k]);
            reaped += count;
            if (_driver.Broken)
                ThrowDriverBroken(_driver.Error);
        } while (!done); // not done: the ids filled up (callbacks still off)
        _mismatches += mismatches;
        return reaped;
    }

    /// <summary>Checks one used entry: 1 unless the response of its <paramref name="slot"/> holds the request of that
    /// slot (which the device only reads) xor the magic and its <paramref name="len"/> says 8 bytes. The driver reads
    /// its own buffers through a window on them (the benchmark runs unobserved).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static int Mismatch(ReadOnlySpan<byte> buffers, int slot, uint len)
    {
        ReadOnlySpan<byte> pair = buffers.Slice(slot * 16, 16);
        ulong request = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(pair);
        ulong response = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(pair[8..]);
        return ((response ^ request ^ ResponseMagic) | (len ^ 8)) != 0 ? 1 : 0;
    }
}
