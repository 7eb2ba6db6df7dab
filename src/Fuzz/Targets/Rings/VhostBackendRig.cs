using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Devices.Virtio;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Oracles;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The vhost side of the virtqueue targets, built once per execution: <see cref="VhostDemo"/> on the vhost core,
/// started through <see cref="VhostBackendStarter"/> as QEMU does on DRIVER_OK, with kick, call (routed by irqfd to
/// <see cref="Gsi"/>) and error eventfds, and the scheduler loop that lets its <see cref="VhostWorker"/> run while the
/// guest is still. Shared by <see cref="VhostDemoTarget"/> and <see cref="DemoDiffTarget"/>.
/// </summary>
internal sealed class VhostBackendRig
{
    /// <summary>Simulated nanoseconds one "run" window lets pass.</summary>
    public const long RunWindowNs = 100_000;

    /// <summary>Events per execution before the run counts as a hang.</summary>
    public const long EventsMax = 20_000;

    /// <summary>Handler runs per execution beyond which the worker counts as never sleeping (a guest makes at most
    /// a few hundred moves; an honest worker runs about once per kick plus weight requeues).</summary>
    public const long HandlerRunsMax = 2_000;

    /// <summary>Idle self-requeues before the worker reports a livelock: small, so a hang is found in a few
    /// runs.</summary>
    public const int IdleRequeuesMax = 16;

    /// <summary>VHOST_NET_PKT_WEIGHT-style packet weight for fuzzing: small, so weight requeues happen often and a ring
    /// that feeds itself (see <see cref="Run"/>) is noticed after a few dozen completions, not thousands. Robust and
    /// seed handlers yield at the weight either way; only where they yield moves.</summary>
    public const int PacketWeight = 16;

    public const uint Gsi = 5;

    /// <summary>The vhost options of every fuzz target that runs vhost-demo (this rig, and the vhost frontend behind
    /// virtio-pci): small weights and livelock streak, so a weight yield and a self-requeueing worker show within a few
    /// handler runs.</summary>
    internal static readonly VhostOptions Options = new()
    {
        IdleRequeuesMax = IdleRequeuesMax,
        PacketWeight = PacketWeight,
        HandlerRunsMax = 100_000,
        HandlerIterationsMax = 2 * RingInput.SizeMax,
    };

    public VhostBackendRig(Simulation simulation, Flavour flavour)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        Simulation = simulation;
        Vmm = new VmmAddressSpace(simulation.Memory);
        Demo = new VhostDemo(simulation, Vmm, flavour, Options);
        Weight = VhostWeightOracle.Install(Demo.Device, 0, Demo);
        Chain = VhostChainOracle.Install(simulation, Demo.Device.Vqs[0]);
        Kick = simulation.CreateEventFd(name: "kick");
        Call = simulation.CreateEventFd(name: "call");
        Err = simulation.CreateEventFd(name: "err");
        if (!simulation.Kvm.TryRegisterIrqFd(Call, Gsi, null, out KvmError kerr))
            throw new InvalidOperationException(kerr.ToString());
    }

    /// <summary>How a <see cref="Run"/> ended.</summary>
    public enum RunEnd
    {
        /// <summary>The time passed (or everything went idle).</summary>
        Ran,

        /// <summary>The worker keeps completing work the guest did not offer (a ring its own writes feed) or used its
        /// handler-run budget: busy, not hung (Linux behaves the same). The execution should end without a
        /// finding.</summary>
        Busy,

        /// <summary>A hang was reported to the context.</summary>
        Hang,
    }

    public Simulation Simulation { get; }

    public VmmAddressSpace Vmm { get; }

    public VhostDemo Demo { get; }

    /// <summary>The weight oracle wrapped around the demo's handle_kick (reports through the context of
    /// <see cref="Run"/>).</summary>
    public VhostWeightOracle Weight { get; }

    /// <summary>The vhost chain oracle judging every vhost_get_vq_desc of vring 0 (reports through the context of
    /// <see cref="Run"/>).</summary>
    public VhostChainOracle Chain { get; }

    public EventFd Kick { get; }

    public EventFd Call { get; }

    public EventFd Err { get; }

    public VhostVirtqueue Vq => Demo.Device.Vqs[0];

    /// <summary>Init (SET_OWNER, GET_FEATURES), the error fd, then start queue 0 with VERSION_1 and optionally
    /// EVENT_IDX / INDIRECT_DESC (QEMU's vhost_dev_start order). With a <paramref name="context"/>, the started
    /// state is judged (<see cref="VhostControlPlaneOracle.AfterStart"/>): the rings are in guest RAM, so every step
    /// must succeed, name no failed step, and leave what it set.</summary>
    public bool Start(
        int size,
        ulong desc,
        ulong avail,
        ulong used,
        ushort lastAvail,
        bool eventIdx,
        bool indirect = false,
        FuzzContext? context = null
    )
    {
        VhostResult r = VhostBackendStarter.Init(Demo, out ulong offered, out VhostStartStep step);
        if (r == VhostResult.Ok && (step != VhostStartStep.None || offered != Demo.Device.OfferedFeatures))
        {
            context?.Report(
                VhostControlPlaneOracle.Oracle,
                "control-plane/init-state",
                $"vhost_dev_init succeeded but "
                    + $"names step {step} or features {offered:x} (VHOST_GET_FEATURES gives "
                    + $"{Demo.Device.OfferedFeatures:x})"
            );
        }
        if (r != VhostResult.Ok)
            return Failed(context, $"vhost_dev_init failed at {step}: {r}");
        Demo.Device.SetVringErr(0, Err);
        ulong features =
            (1UL << VirtioSpec.FVersion1)
            | (eventIdx ? 1UL << VirtioSpec.FEventIdx : 0)
            | (indirect ? 1UL << VirtioSpec.FIndirectDesc : 0);
        var ring = new VhostRingStart(
            size,
            new GuestAddress(desc),
            new GuestAddress(avail),
            new GuestAddress(used),
            lastAvail,
            Kick,
            Call
        );
        r = VhostBackendStarter.Start(Demo, features, [ring], out step);
        // A ring that does not lie in one guest RAM region cannot be mapped (vhost_memory_map): QEMU falls back.
        // VIRTIO 1.2 §2.7: avail 4 + 2 * size, used 4 + 8 * size, each + 2 with EVENT_IDX.
        ulong tail = eventIdx ? 2UL : 0;
        bool inRam =
            InOneRegion(desc, (ulong)size * VirtioSpec.DescSize)
            && InOneRegion(avail, 4 + (2 * (ulong)size) + tail)
            && InOneRegion(used, 4 + (8 * (ulong)size) + tail);
        if (r != VhostResult.Ok)
        {
            return inRam && Failed(context, $"vhost_dev_start of rings in guest RAM failed at {step}: {r}");
        }
        string? broken =
            step != VhostStartStep.None
                ? $"vhost_dev_start succeeded but names step {step}"
                : VhostControlPlaneOracle.AfterStart(Demo.Device, features, ring);
        if (broken is not null)
            context?.Report(VhostControlPlaneOracle.Oracle, "control-plane/start-state", broken);
        return true;
    }

    private bool InOneRegion(ulong start, ulong length)
    {
        foreach (MemoryRegion region in Simulation.Memory.Regions)
        {
            if (start < region.Base)
                continue;
            ulong into = start - region.Base;
            if (into < region.Size && length <= region.Size - into)
                return true;
        }
        return false;
    }

    private static bool Failed(FuzzContext? context, string message)
    {
        context?.Report(VhostControlPlaneOracle.Oracle, "control-plane/start-failed", message);
        return false;
    }

    /// <summary>Lets <paramref name="windows"/> × <see cref="RunWindowNs"/> pass, one event time at a time, so a
    /// livelock or a busy ring is noticed right after the handler run that shows it.</summary>
    public RunEnd Run(FuzzContext context, int windows)
    {
        ArgumentNullException.ThrowIfNull(context);
        Weight.Context = context;
        Chain.Context = context;
        EventLoop loop = Simulation.Loop;
        long end = Simulation.Now + (windows * RunWindowNs);
        long eventsAtStart = loop.EventsExecuted;
        long usedAtStart = Vq.UsedAdded;
        while (loop.TryPeekTime(out long next) && next <= end)
        {
            StopReason reason = loop.Run(next);
            if (context.Finding is not null)
                return RunEnd.Ran;
            if (Demo.Device.Worker is { LivelocksDetected: > 0 } worker)
            {
                context.ReportHang(
                    "hang/vhost-worker-livelock",
                    $"the vhost worker ran its handler {worker.IdleSelfRequeueStreakMax} times in a row, each "
                        + "requeueing itself without consuming or completing anything (seed handle_demo_kick's "
                        + "unconditional vhost_poll_queue)"
                );
                return RunEnd.Hang;
            }
            if (reason == StopReason.EventLimit || loop.EventsExecuted - eventsAtStart > EventsMax)
            {
                context.ReportHang(
                    "hang/event-budget",
                    $"the simulation used its {EventsMax} events without the guest acting"
                );
                return RunEnd.Hang;
            }
            // A worker that keeps making progress (a ring overlapping itself feeds new heads as the device completes
            // old ones, and weight-limited runs requeue) is busy, not hung: Linux behaves the same. While the guest is
            // still, an honest device completes at most what avail.idx offered — at most Num beyond last_avail_idx
            // (vhost_get_vq_desc's "Guest moved used index" check) plus what it had fetched; more means its own
            // used-ring writes feed it. End there, without a finding; the idle-requeue livelock above is the hang
            // oracle.
            if (Demo.Device.Worker is { HandlerRuns: > HandlerRunsMax })
                return RunEnd.Busy;
            if (Vq.UsedAdded - usedAtStart > 2L * Vq.Num)
                return RunEnd.Busy;
        }
        return RunEnd.Ran;
    }

    /// <summary>The guest-physical address of avail.idx as vhost translates it, or false.</summary>
    public bool TryAvailIdxAddress(out ulong gpa)
    {
        gpa = 0;
        if (!Demo.Device.Vmm.Resolve(Vq.Avail + 2, out GuestAddress a, out _))
            return false;
        gpa = a.Value;
        return true;
    }
}
