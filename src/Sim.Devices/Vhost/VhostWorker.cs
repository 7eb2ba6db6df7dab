using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Engine.Trace;
using Sim.Machine.Simulation;

namespace Sim.Devices.Vhost;

/// <summary>
/// The vhost worker thread (vhost_worker / vhost_task, created by VHOST_SET_OWNER) as an actor on the event loop.
/// vhost_work_queue adds a work to the list unless already queued and wakes the thread; a sleeping worker starts
/// <see cref="Sim.Machine.Kvm.LatencyModel.WorkerWakeupNs"/> later (a context switch, counted and traced). Once
/// running it takes the whole list (llist_del_all, FIFO after llist_reverse_order), runs each work in order —
/// clearing VHOST_WORK_QUEUED first, so a work can requeue itself — one work per
/// <see cref="VhostOptions.WorkRunNs"/>, and takes the list again; it sleeps only when the list is empty. A work
/// that requeues itself unconditionally therefore keeps the worker running forever (seed vhost-demo): each run is an
/// event, so the simulation's EventsMax/TimeMax stops it, and the worker reports it as a livelock after
/// <see cref="VhostOptions.IdleRequeuesMax"/> runs without progress. <see cref="VhostOptions.HandlerRunsMax"/> bounds
/// the worker's life.
/// </summary>
public sealed class VhostWorker : IEventHandler
{
    private const int KindRun = 0;
    private const int KindWake = 1;

    private readonly VhostDevice _device;
    private readonly VhostWork?[] _list; // work_list, FIFO
    private readonly VhostWork?[] _batch; // the list taken by llist_del_all
    private int _listHead;
    private int _listCount;
    private int _batchPos;
    private int _batchCount;
    private bool _scheduled;
    private int _idleStreak;

    internal VhostWorker(VhostDevice device, int worksMax)
    {
        _device = device;
        _list = new VhostWork?[worksMax];
        _batch = new VhostWork?[worksMax];
    }

    /// <summary>False after the owner was reset (vhost_worker_free): queued events are ignored.</summary>
    public bool Alive { get; private set; } = true;

    /// <summary>True while the thread sleeps (no wake-up or run scheduled).</summary>
    public bool Sleeping => !_scheduled;

    /// <summary>Works waiting on the list (not counting the batch being run).</summary>
    public int Pending => _listCount;

    /// <summary>Handler runs so far.</summary>
    public long HandlerRuns { get; private set; }

    /// <summary>Wake-ups from sleep (each a context switch).</summary>
    public long Wakeups { get; private set; }

    /// <summary>Handler runs that requeued their own work while running.</summary>
    public long SelfRequeues { get; private set; }

    /// <summary>Self-requeueing runs that consumed and completed nothing.</summary>
    public long IdleSelfRequeues { get; private set; }

    /// <summary>Longest streak of consecutive idle self-requeueing runs.</summary>
    public int IdleSelfRequeueStreakMax { get; private set; }

    /// <summary>Livelock reports (<see cref="VhostTraceCode.LivelockSuspected"/>), one per streak.</summary>
    public long LivelocksDetected { get; private set; }

    /// <summary>True once <see cref="VhostOptions.HandlerRunsMax"/> runs happened; the worker runs nothing
    /// more.</summary>
    public bool BudgetExhausted { get; private set; }

    /// <summary>vhost_work_queue: adds <paramref name="work"/> unless already queued and wakes the worker. False when
    /// it was already queued (coalesced).</summary>
    internal bool Queue(VhostWork work)
    {
        if (!Alive)
            return false;
        if (work.Queued)
        {
            work.Coalesced++;
            return false;
        }
        if (_listCount >= _list.Length)
            throw new InvalidOperationException("VhostWorker invariant: more works queued than exist");
        work.Queued = true;
        work.QueuedCount++;
        _list[(_listHead + _listCount) % _list.Length] = work;
        _listCount++;
        if (!_scheduled && !BudgetExhausted)
        {
            // wake_up_process of a sleeping thread.
            _scheduled = true;
            _device.Simulation.Loop.Schedule(_device.Simulation.Kvm.Latency.WorkerWakeupNs, this, KindWake);
        }
        return true;
    }

    /// <summary>vhost_worker_free: drops pending works and stops. Linux flushes before freeing (running the works,
    /// which find no backend); the model drops them.</summary>
    internal void Stop()
    {
        Alive = false;
        for (int i = 0; i < _listCount; i++)
            _list[(_listHead + i) % _list.Length]!.Queued = false;
        for (int i = _batchPos; i < _batchCount; i++)
            _batch[i]!.Queued = false;
        Array.Clear(_list);
        Array.Clear(_batch);
        _listCount = 0;
        _batchCount = 0;
        _batchPos = 0;
    }

    void IEventHandler.Handle(EventLoop loop, in ScheduledEvent ev)
    {
        if (!Alive)
            return;
        Simulation sim = _device.Simulation;
        if (ev.Kind == KindWake)
        {
            Wakeups++;
            sim.RecordContextSwitch(_device.TraceId, 1);
        }
        if (_batchPos == _batchCount)
            TakeAll();
        if (_batchPos == _batchCount || BudgetExhausted)
        {
            _scheduled = false;
            return;
        }
        VhostWork work = _batch[_batchPos]!;
        _batch[_batchPos++] = null;
        RunOne(sim, work);
        if (!BudgetExhausted && (_batchPos < _batchCount || _listCount > 0))
        {
            loop.Schedule(_device.Options.WorkRunNs, this, KindRun);
        }
        else
        {
            _scheduled = false;
        }
    }

    private void TakeAll()
    {
        _batchPos = 0;
        _batchCount = _listCount;
        for (int i = 0; i < _listCount; i++)
        {
            int slot = (_listHead + i) % _list.Length;
            _batch[i] = _list[slot];
            _list[slot] = null;
        }
        _listHead = 0;
        _listCount = 0;
    }

    private void RunOne(Simulation sim, VhostWork work)
    {
        work.Queued = false;
        work.Runs++;
        HandlerRuns++;
        long before = work.Vq.Progress;
        uint savedSource = sim.MemoryTraceSource;
        sim.MemoryTraceSource = _device.TraceId;
        using (sim.Memory.As(MemoryActor.Device))
        {
            work.Handler.HandleKick(work.Vq);
        }
        sim.MemoryTraceSource = savedSource;

        if (work.Queued)
        {
            SelfRequeues++;
            if (work.Vq.Progress == before)
            {
                IdleSelfRequeues++;
                _idleStreak++;
                if (_idleStreak > IdleSelfRequeueStreakMax)
                    IdleSelfRequeueStreakMax = _idleStreak;
                if (_idleStreak == _device.Options.IdleRequeuesMax)
                {
                    LivelocksDetected++;
                    sim.Emit(
                        TraceEventKind.DeviceResult,
                        _device.TraceId,
                        VhostTraceCode.LivelockSuspected,
                        Narrow.AsUInt64Bits(HandlerRuns),
                        default
                    );
                }
            }
            else
            {
                _idleStreak = 0;
            }
        }
        else
        {
            _idleStreak = 0;
        }

        if (HandlerRuns >= _device.Options.HandlerRunsMax && !BudgetExhausted)
        {
            BudgetExhausted = true;
            sim.Emit(
                TraceEventKind.DeviceResult,
                _device.TraceId,
                VhostTraceCode.HandlerBudgetExhausted,
                Narrow.AsUInt64Bits(HandlerRuns),
                default
            );
        }
    }
}
