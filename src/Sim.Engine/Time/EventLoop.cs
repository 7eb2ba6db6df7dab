using System.Runtime.CompilerServices;

namespace Sim.Engine.Time;

/// <summary>
/// The discrete-event loop: a virtual clock in nanoseconds and a 4-ary min-heap ordered by (time, sequence).
/// <c>PriorityQueue</c> alone does not keep FIFO order for equal priorities (STYLE.md item 9); the sequence
/// number does, and since it is unique the order is total, so the pop order does not depend on the heap shape.
/// The heap holds only the (time, sequence, slot) keys; each <see cref="ScheduledEvent"/> stays in its slot
/// while pending. Sifting then moves small keys with no object reference (no GC write barrier), and the 4-ary
/// heap is half as deep as a binary one.
/// Single-threaded and allocation-free per event once the heap has grown.
/// </summary>
public sealed class EventLoop
{
    /// <summary>Most events that may be pending at once (bounds the heap).</summary>
    public const int PendingMax = 1 << 20;

    /// <summary>Default most events one <see cref="Run"/> may execute.</summary>
    public const long EventsMaxDefault = 100_000_000;

    private const int InitialCapacity = 64;

    /// <summary>Heap entry: when the event in <see cref="Slot"/> fires.</summary>
    private struct Key
    {
        public long Time;
        public ulong Sequence;
        public int Slot;
    }

    private Key[] _keys = new Key[InitialCapacity];
    private ScheduledEvent[] _events = new ScheduledEvent[InitialCapacity]; // by slot
    private int[] _freeSlots = new int[InitialCapacity]; // stack of unused slots
    private int _freeCount;
    private int _count;
    private ulong _nextSequence;
    private bool _stopRequested;

    /// <summary>An empty loop at time 0.</summary>
    public EventLoop() => ResetSlots();

    /// <summary>Current virtual time in nanoseconds.</summary>
    public long Now { get; private set; }

    /// <summary>Events executed since creation.</summary>
    public long EventsExecuted { get; private set; }

    /// <summary>Events waiting to run.</summary>
    public int Pending => _count;

    /// <summary>Most events a single <see cref="Run"/> call executes before returning
    /// <see cref="StopReason.EventLimit"/>.</summary>
    public long EventsMax { get; set; } = EventsMaxDefault;

    /// <summary>Schedules <paramref name="handler"/> <paramref name="delay"/> ns from now.</summary>
    public void Schedule(long delay, IEventHandler handler, int kind = 0, long argument = 0)
    {
        if (delay < 0)
            throw new ArgumentOutOfRangeException(nameof(delay), "cannot schedule in the past");
        ScheduleAt(checked(Now + delay), handler, kind, argument);
    }

    /// <summary>Schedules <paramref name="handler"/> at absolute time <paramref name="time"/> (not before
    /// now).</summary>
    public void ScheduleAt(long time, IEventHandler handler, int kind = 0, long argument = 0)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (time < Now)
            throw new ArgumentOutOfRangeException(nameof(time), $"cannot schedule at {time} ns, before now ({Now} ns)");
        if (_count == _keys.Length)
            Grow();
        ulong sequence = _nextSequence++;
        int slot = _freeSlots[--_freeCount];
        _events[slot] = new ScheduledEvent(time, sequence, handler, kind, argument);
        SiftUp(
            _count++,
            new Key
            {
                Time = time,
                Sequence = sequence,
                Slot = slot,
            }
        );
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow()
    {
        int old = _keys.Length;
        if (old >= PendingMax)
            throw new InvalidOperationException($"more than {PendingMax} events pending: a runaway actor");
        int size = Math.Min(old * 2, PendingMax);
        Array.Resize(ref _keys, size);
        Array.Resize(ref _events, size);
        Array.Resize(ref _freeSlots, size);
        // Every slot below old is in use (the heap is full); the new ones are free, lowest on top.
        for (int s = size - 1; s >= old; s--)
            _freeSlots[_freeCount++] = s;
    }

    private void ResetSlots()
    {
        _freeCount = 0;
        for (int s = _freeSlots.Length - 1; s >= 0; s--)
            _freeSlots[_freeCount++] = s;
    }

    /// <summary>Asks the loop to return after the current event.</summary>
    public void Stop() => _stopRequested = true;

    /// <summary>The time of the next pending event, if any.</summary>
    public bool TryPeekTime(out long time)
    {
        if (_count == 0)
        {
            time = 0;
            return false;
        }
        time = _keys[0].Time;
        return true;
    }

    /// <summary>Runs events in order until none is left, the next lies after
    /// <paramref name="timeLimit"/>, <see cref="EventsMax"/> have run, or a handler calls <see cref="Stop"/>.</summary>
    public StopReason Run(long timeLimit = long.MaxValue)
    {
        _stopRequested = false;
        long executed = 0;
        while (_count > 0)
        {
            if (_keys[0].Time > timeLimit)
            {
                Now = Math.Max(Now, timeLimit);
                return StopReason.TimeLimit;
            }
            if (executed >= EventsMax)
                return StopReason.EventLimit;
            ScheduledEvent ev = PopMin();
            Now = ev.Time;
            executed++;
            EventsExecuted++;
            ev.Handler.Handle(this, in ev);
            if (_stopRequested)
                return StopReason.Stopped;
        }
        return StopReason.Idle;
    }

    /// <summary>Runs every event due at or before <paramref name="time"/> (as <see cref="Run"/>), then moves the
    /// clock to <paramref name="time"/> when the run reached it (idle or past the limit). The externally driven
    /// machine (KVM recorder, KVM-trace replay) calls it with the host time of each guest input.</summary>
    public StopReason RunUntil(long time)
    {
        StopReason reason = Run(time);
        if (reason is StopReason.Idle or StopReason.TimeLimit && Now < time)
            Now = time;
        return reason;
    }

    /// <summary>Runs exactly the next event, if any. Returns false when the queue is empty.</summary>
    public bool Step()
    {
        if (_count == 0)
            return false;
        ScheduledEvent ev = PopMin();
        Now = ev.Time;
        EventsExecuted++;
        ev.Handler.Handle(this, in ev);
        return true;
    }

    /// <summary>Drops every pending event (the clock stays where it is).</summary>
    public void Clear()
    {
        Array.Clear(_keys, 0, _count);
        Array.Clear(_events);
        _count = 0;
        ResetSlots();
    }

    private ScheduledEvent PopMin()
    {
        int slot = _keys[0].Slot;
        int last = --_count;
        if (last > 0)
            SiftDown(_keys[last]);
        ScheduledEvent ev = _events[slot];
        _events[slot] = default; // drop the handler reference
        _freeSlots[_freeCount++] = slot;
        return ev;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Precedes(in Key a, in Key b) =>
        a.Time < b.Time || (a.Time == b.Time && a.Sequence < b.Sequence);

    private void SiftUp(int index, Key key)
    {
        Key[] keys = _keys;
        while (index > 0)
        {
            int parent = (index - 1) >> 2;
            if (!Precedes(in key, in keys[parent]))
                break;
            keys[index] = keys[parent];
            index = parent;
        }
        keys[index] = key;
    }

    /// <summary>Puts <paramref name="key"/> (the former last entry) at the root and sifts it down.</summary>
    private void SiftDown(Key key)
    {
        Key[] keys = _keys;
        int count = _count;
        int index = 0;
        while (true)
        {
            // index < count <= PendingMax (2^20): 4 * index + 4 cannot overflow.
            int first = (index << 2) + 1;
            if (first >= count)
                break;
            int best = first;
            int end = Math.Min(first + 4, count);
            for (int c = first + 1; c < end; c++)
            {
                if (Precedes(in keys[c], in keys[best]))
                    best = c;
            }
            if (!Precedes(in keys[best], in key))
                break;
            keys[index] = keys[best];
            index = best;
        }
        keys[index] = key;
    }
}
