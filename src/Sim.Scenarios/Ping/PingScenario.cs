using System.Globalization;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Machine.Kvm;
using Sim.Machine.Scenarios;
using Sim.Machine.Simulation;

namespace Sim.Scenarios.Ping;

/// <summary>
/// "ping": the KVM notification paths without a device model (seed 004). The guest kicks a doorbell
/// registered as an ioeventfd (DATAMATCH 0, 4 bytes); a vhost-like backend worker woken by that
/// eventfd completes the requests in guest memory and signals an irqfd on GSI 5; the guest's handler
/// EOIs and prints. A periodic host timer pulses GSI 8. Kicks with the wrong value or width exit to
/// userspace, whose doorbell handler forwards them to the same eventfd; paired kicks show eventfd
/// coalescing. Options: <c>requests</c> (default 16), <c>tick_ns</c> (timer period, default 25000),
/// <c>stale</c> (default 0; 1: the responses page starts full of seeded bytes, as a buffer reused from an
/// earlier boot would, so the run's initial memory is not zero and its trace carries a memory image).
/// </summary>
public sealed class PingScenario : IScenario
{
    /// <summary>Requests the guest sends by default.</summary>
    public const long RequestsDefault = 16;

    /// <summary>Default period of the host timer, in ns.</summary>
    public const long TickNsDefault = 25_000;

    /// <inheritdoc/>
    public string Name => "ping";

    /// <inheritdoc/>
    public string Description =>
        "ioeventfd kicks, a vhost-like worker, irqfd completions and a host timer (no device model)";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Int("requests", RequestsDefault, 1, 1_000_000, "doorbell round trips the guest makes"),
        ScenarioOption.Int("tick_ns", TickNsDefault, 1_000, 1_000_000_000, "period of the host tick timer, in ns"),
        ScenarioOption.Bool(
            "stale",
            false,
            "the responses page starts full of seeded bytes (a reused buffer); the trace then carries a memory image"
        ),
    ];

    /// <inheritdoc/>
    public ScenarioRun Create(ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RequireKnown(Options);
        int requests = Narrow.LowInt32(options.GetInt64("requests", RequestsDefault, 1, 1_000_000));
        long tickNs = options.GetInt64("tick_ns", TickNsDefault, 1_000, 1_000_000_000);
        bool stale = options.GetBool("stale", false);

        var sim = new Simulation(
            options.ToSimulationOptions(Name) with
            {
                MemoryLayout = MemoryLayout.Single(1UL << 20),
            }
        );
        if (stale)
            FillStale(sim);
        KvmModel kvm = sim.Kvm;
        EventFd doorbell = sim.CreateEventFd(name: "doorbell");
        EventFd call = sim.CreateEventFd(name: "call");
        if (
            !kvm.TryRegisterIoEventFd(
                BusKind.Mmio,
                PingLayout.DoorbellAddress,
                4,
                PingLayout.KickValue,
                doorbell,
                out KvmError error
            ) || !kvm.TryRegisterIrqFd(call, PingLayout.CompletionGsi, null, out error)
        )
        {
            throw new InvalidOperationException($"ping wiring failed: {error}");
        }
        var device = new PingDoorbell(doorbell);
        if (!kvm.Mmio.TryRegister(PingLayout.DoorbellAddress, PingLayout.DoorbellPageSize, device, "ping-doorbell"))
        {
            throw new InvalidOperationException("ping doorbell page overlaps");
        }
        var backend = new PingBackend(sim, doorbell, call);
        doorbell.AddListener(backend);
        VirtualTimer timer = sim.CreateTimer(new PingTicker(sim), "tick");
        timer.Start(tickNs, tickNs);
        kvm.Start(new PingGuest(requests));
        return new ScenarioRun(sim, () =>
            [
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"backend: wakeups={backend.Wakeups} kicks_read={backend.KicksRead} "
                        + $"coalesced_wakeups={backend.CoalescedWakeups} completed={backend.Completed} "
                        + $"slow_kicks={device.SlowKicks}"
                ),
                string.Create(CultureInfo.InvariantCulture, $"timer: fired={timer.Fires}"),
            ]
        );
    }

    /// <summary>Fills the responses page with bytes from the scenario's own PRNG stream (the seed decides
    /// them, so a replay rebuilds the same initial memory) and leaves it clean for dirty tracking.</summary>
    private static void FillStale(Simulation sim)
    {
        Span<byte> page = stackalloc byte[(int)PingLayout.DoorbellPageSize];
        sim.Prng.Fork(PingLayout.StalePrngStream).NextBytes(page);
        using (sim.Memory.As(MemoryActor.Host))
        {
            if (!sim.Memory.TryWrite(new GuestAddress(PingLayout.ResponsesAddress), page))
                throw new InvalidOperationException("ping responses page lies outside guest memory");
        }
        sim.Memory.ClearDirty();
    }
}
