using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Scenarios.Ping;

/// <summary>
/// The ping scenario's host worker, shaped like a vhost worker: the doorbell eventfd's wake-up
/// queues it (<see cref="LatencyModel.WorkerWakeupNs"/> later, once however many kicks arrive
/// meanwhile); when it runs it reads the eventfd once (coalesced kicks read as one count), completes
/// every posted request in guest memory and signals the irqfd once.
/// </summary>
internal sealed class PingBackend : IEventFdListener, IEventHandler
{
    private readonly Simulation _simulation;
    private readonly EventFd _doorbell;
    private readonly EventFd _call;
    private bool _wakeScheduled;

    public PingBackend(Simulation simulation, EventFd doorbell, EventFd call)
    {
        _simulation = simulation;
        _doorbell = doorbell;
        _call = call;
    }

    /// <summary>Times the worker ran.</summary>
    public long Wakeups { get; private set; }

    /// <summary>Runs whose eventfd read returned more than 1 (kicks merged).</summary>
    public long CoalescedWakeups { get; private set; }

    /// <summary>Sum of the eventfd counts read.</summary>
    public ulong KicksRead { get; private set; }

    public uint Completed { get; private set; }

    public void OnSignalled(EventFd fd)
    {
        if (_wakeScheduled)
            return; // vhost_work_queue: already queued
        _wakeScheduled = true;
        _simulation.Loop.Schedule(_simulation.Kvm.Latency.WorkerWakeupNs, this);
    }

    public void Handle(EventLoop loop, in ScheduledEvent ev)
    {
        _wakeScheduled = false;
        Wakeups++;
        _simulation.RecordContextSwitch(PingLayout.BackendActor, 1);
        if (!_doorbell.TryRead(out ulong kicks))
            return;
        KicksRead += kicks;
        if (kicks > 1)
            CoalescedWakeups++;
        GuestMemory memory = _simulation.Memory;
        using (memory.As(MemoryActor.Device))
        {
            _simulation.MemoryTraceSource = PingLayout.BackendActor;
            // Guest memory is hostile: a failed read leaves nothing to do, and the count of requests
            // completed per run is bounded by the response ring.
            if (memory.TryReadUInt32(new GuestAddress(PingLayout.PostedAddress), out uint posted))
            {
                for (uint n = 0; n < PingLayout.ResponseSlots && Completed != posted; n++)
                {
                    uint request = unchecked(Completed + 1);
                    ulong slot = PingLayout.ResponsesAddress + (4UL * (request % PingLayout.ResponseSlots));
                    memory.TryWriteUInt32(new GuestAddress(slot), unchecked(request * request));
                    Completed = request;
                }
                memory.TryWriteUInt32(new GuestAddress(PingLayout.CompletedAddress), Completed);
            }
            _simulation.MemoryTraceSource = 0;
        }
        _call.Signal();
    }
}
