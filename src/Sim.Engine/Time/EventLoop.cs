using System.Runtime.CompilerServices;

namespace Sim.Engine.Time;

/// <summary>
/// The discrete-event loop: a virtual clock in nanoseconds and a binary min-heap of
/// <see cref="ScheduledEvent"/> structs ordered by (time, sequence). <c>PriorityQueue</c> alone does
/// not keep FIFO order for equal priorities (STYLE.md item 9); the sequence number does.
/// Single-threaded and allocation-free per event once the heap has grown.
/// </summary>
public sealed class EventLoop
{
    /// <summary>Most events that may be pending at once (bounds the heap).</summary>
    public const int PendingMax = 1 << 20;

    /// <summary>Default most events one <see cref="Run"/> may execute.</summary>
    public const long EventsMaxDefault = 100_000_000;

    private ScheduledEvent[] _heap = new ScheduledEvent[64];
    private int _count;
    private ulong _nextSequence;
    private bool _stopRequested;

    /// <summary>Current virtual time in nanoseconds.</summary>
    public long Now { get; private set; }

    /// <summary>Events executed since creation.</summary>
    public long EventsExecuted { get; private set; }

    /// <summary>Events waiting to run.</summary>
    public int Pending => _count;

    /// <summary>Most events a single <see cref="Run"/> call executes before returning <see cref="StopReason.EventLimit"/>.</summary>
    public long EventsMax { get; set; } = EventsMaxDefault;

    /// <summary>Schedules <paramref name="handler"/> <paramref name="delay"/> ns from now.</summary>
    public void Schedule(long delay, IEventHandler handler, int kind = 0, long argument = 0)
    {
        if (delay < 0) throw new ArgumentOutOfRangeException(nameof(delay), "cannot schedule in the past");
        ScheduleAt(checked(Now + delay), handler, kind, argument);
    }

    /// <summary>Schedules <paramref name="handler"/> at absolute time <paramref name="time"/> (not before now).</summary>
    public void ScheduleAt(long time, IEventHandler handler, int kind = 0, long argument = 0)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (time < Now) throw new ArgumentOutOfRangeException(nameof(time), $"cannot schedule at {time} ns, before now ({Now} ns)");
        if (_count == _heap.Length) Grow();
        var ev = new ScheduledEvent(time, _nextSequence++, handler, kind, argument);
        SiftUp(_count++, ev);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow()
    {
        if (_heap.Length >= PendingMax) throw new InvalidOperationException($"more than {PendingMax} events pending: a runaway actor");
        Array.Resize(ref _heap, Math.Min(_heap.Length * 2, PendingMax));
    }

    /// <summary>Asks the loop to return after the current event.</summary>
    public void Stop() => _stopRequested = true;

    /// <summary>The time of the next pending event, if any.</summary>
    public bool TryPeekTime(out long time)
    {
        if (_count == 0) { time = 0; return false; }
        time = _heap[0].Time;
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
            if (_heap[0].Time > timeLimit) { Now = Math.Max(Now, timeLimit); return StopReason.TimeLimit; }
            if (executed >= EventsMax) return StopReason.EventLimit;
            ScheduledEvent ev = PopMin();
            Now = ev.Time;
            executed++;
            EventsExecuted++;
            ev.Handler.Handle(this, in ev);
            if (_stopRequested) return StopReason.Stopped;
        }
        return StopReason.Idle;
    }

    /// <summary>Runs exactly the next event, if any. Returns false when the queue is empty.</summary>
    public bool Step()
    {
        if (_count == 0) return false;
        ScheduledEvent ev = PopMin();
        Now = ev.Time;
        EventsExecuted++;
        ev.Handler.Handle(this, in ev);
        return true;
    }

    /// <summary>Drops every pending event (the clock stays where it is).</summary>
    public void Clear()
    {
        Array.Clear(_heap, 0, _count);
        _count = 0;
    }

    private ScheduledEvent PopMin()
    {
        ScheduledEvent min = _heap[0];
        int last = --_count;
        if (last > 0) SiftDown(0, _heap[last]);
        _heap[last] = default;
        return min;
    }

    private void SiftUp(int index, ScheduledEvent ev)
    {
        ScheduledEvent[] heap = _heap;
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            if (!ev.Precedes(in heap[parent])) break;
            heap[index] = heap[parent];
            index = parent;
        }
        heap[index] = ev;
    }

    private void SiftDown(int index, ScheduledEvent ev)
    {
        ScheduledEvent[] heap = _heap;
        int count = _count;
        while (true)
        {
            int child = (index << 1) + 1;
            if (child >= count) break;
            if (child + 1 < count && heap[child + 1].Precedes(in heap[child])) child++;
            if (!heap[child].Precedes(in ev)) break;
            heap[index] = heap[child];
            index = child;
        }
        heap[index] = ev;
    }
}
