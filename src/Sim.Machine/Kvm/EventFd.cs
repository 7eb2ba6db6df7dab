using Sim.Engine.Trace;

namespace Sim.Machine.Kvm;

// Scoped inside the namespace: from Sim.Machine.*, a file-level using would lose to the sibling namespace Simulation.
using Sim.Machine.Simulation;

/// <summary>
/// A Linux eventfd(2): a 64-bit counter. <see cref="Signal"/> adds to it (write(2)) and wakes the
/// listeners; <see cref="TryRead"/> returns it and zeroes it (read(2)), or in semaphore mode
/// (EFD_SEMAPHORE) returns 1 and decrements. Several signals before one read coalesce into one
/// read of their sum: this is why a vhost worker or irqfd can miss no kick yet run once for many.
/// Created by <see cref="Simulation.CreateEventFd"/>, which numbers them in creation order.
/// </summary>
public sealed class EventFd
{
    /// <summary>Largest value the counter can hold: eventfd_write refuses (blocks, or EAGAIN when
    /// non-blocking) a write that would reach 0xffff_ffff_ffff_ffff.</summary>
    public const ulong CounterMax = 0xffff_ffff_ffff_fffe;

    /// <summary>Most listeners one eventfd wakes (an irqfd, a vhost poll, a test probe).</summary>
    public const int ListenersMax = 4;

    private readonly Simulation _simulation;
    private readonly IEventFdListener?[] _listeners = new IEventFdListener?[ListenersMax];
    private int _listenerCount;

    internal EventFd(Simulation simulation, uint id, bool semaphore, string name)
    {
        _simulation = simulation;
        Id = id;
        Semaphore = semaphore;
        Name = name;
    }

    /// <summary>Creation-order number; the trace's Source for this eventfd's events.</summary>
    public uint Id { get; }

    /// <summary>EFD_SEMAPHORE: each read returns 1 and decrements.</summary>
    public bool Semaphore { get; }

    /// <summary>What the eventfd is for (e.g. "kick q0"), shown in traces and errors.</summary>
    public string Name { get; }

    /// <summary>The current counter value.</summary>
    public ulong Counter { get; private set; }

    /// <summary>Successful signals of this eventfd.</summary>
    public long Signals { get; private set; }

    /// <summary>Successful reads of this eventfd.</summary>
    public long Reads { get; private set; }

    /// <summary>True when a read would succeed (poll's EPOLLIN).</summary>
    public bool IsReadable => Counter != 0;

    /// <summary>Adds <paramref name="amount"/> to the counter and wakes every listener, as write(2)
    /// does (writing 0 wakes them too). Fails, changing nothing, for 0xffff_ffff_ffff_ffff (EINVAL) or
    /// when the sum would exceed <see cref="CounterMax"/> (the write would block: EAGAIN).</summary>
    public bool Signal(ulong amount = 1)
    {
        if (amount == ulong.MaxValue)
            return false;
        if (CounterMax - Counter < amount)
            return false;
        Counter += amount;
        Signals++;
        _simulation.Counters.EventFdSignals++;
        _simulation.Emit(TraceEventKind.EventFdSignal, Id, 0, amount, default);
        // Listeners may add or remove listeners; iterate over a bounded snapshot of the slots.
        for (int i = 0; i < ListenersMax; i++)
        {
            _listeners[i]?.OnSignalled(this);
        }
        return true;
    }

    /// <summary>Consumes the counter as read(2) does: the whole value (then zero), or 1 in semaphore
    /// mode. Fails when the counter is 0 (EAGAIN on a non-blocking eventfd).</summary>
    public bool TryRead(out ulong value)
    {
        if (Counter == 0)
        {
            value = 0;
            return false;
        }
        if (Semaphore)
        {
            value = 1;
            Counter--;
        }
        else
        {
            value = Counter;
            Counter = 0;
        }
        Reads++;
        _simulation.Counters.EventFdReads++;
        _simulation.Emit(TraceEventKind.EventFdRead, Id, 0, value, default);
        return true;
    }

    /// <summary>Adds a listener woken on every signal. Throws when <see cref="ListenersMax"/> are
    /// attached or the listener is already attached (host wiring bugs).</summary>
    public void AddListener(IEventFdListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        int free = -1;
        for (int i = 0; i < ListenersMax; i++)
        {
            if (ReferenceEquals(_listeners[i], listener))
                throw new InvalidOperationException($"listener already attached to eventfd {Id}");
            if (_listeners[i] is null && free < 0)
                free = i;
        }
        if (free < 0)
            throw new InvalidOperationException($"eventfd {Id} already has {ListenersMax} listeners");
        _listeners[free] = listener;
        _listenerCount++;
    }

    /// <summary>Detaches a listener. False if it was not attached.</summary>
    public bool RemoveListener(IEventFdListener listener)
    {
        for (int i = 0; i < ListenersMax; i++)
        {
            if (ReferenceEquals(_listeners[i], listener))
            {
                _listeners[i] = null;
                _listenerCount--;
                return true;
            }
        }
        return false;
    }

    /// <summary>How many listeners are attached (a poller, an irqfd, a vhost worker).</summary>
    public int ListenerCount => _listenerCount;

    /// <summary>For diagnostics: id, name and counter.</summary>
    public override string ToString() => $"eventfd {Id} ({Name}) counter={Counter}";
}
