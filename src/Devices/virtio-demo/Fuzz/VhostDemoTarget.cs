using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Devices.Virtio;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// vhost-demo (seed 000 lab 3) on the vhost core: <see cref="VhostDemo"/> started through
/// <see cref="VhostBackendStarter"/> as QEMU does on DRIVER_OK, kicked through its eventfd, run by the
/// <see cref="VhostWorker"/> on the event loop, driven by a hostile guest (<see cref="RingInput"/> v1). Device-side
/// ops: 8 kick, 9 run (the scheduler's choice of how long the worker runs before the guest's next step), 10
/// VHOST_SET_MEM_TABLE edit (drop, shrink or shift a region), 11 VHOST_SET_VRING_ADDR edit (stop, move a ring,
/// start), 12 backend stop/start (GET/SET_VRING_BASE), 13 owner reset and full restart with a feature change,
/// 14 VHOST_SET_FEATURES toggling EVENT_IDX, 15 interleave (<see cref="HandlerScheduler"/>: the guest ops that follow
/// run inside the handler at the point the op names: before enable-notify's re-check, between fill and flush, or before
/// the interrupt decision). Oracles: <see cref="VirtqueueChecker"/> (permission, used-ring) while the control plane
/// keeps the identity mapping — after a memory-table or vring-address edit the device legitimately touches other guest
/// addresses, so from then on only the other oracles judge; hang (the worker's livelock report, or the event budget);
/// liveness (after the guest stops and makes its honest kick decision, <see cref="GuestKickDecision"/> — no kick where
/// NO_NOTIFY or avail_event say the device will look by itself — every available chain is completed unless a vq_err was
/// raised); missed interrupt (<see cref="MissedInterruptOracle"/>, interrupts seen as call-eventfd signals); every
/// vhost_get_vq_desc against Linux's walk (<see cref="VhostChainOracle"/>, installed by the rig); the state the start
/// (driver features, INDIRECT_DESC from the input header) and VHOST_RESET_OWNER leave
/// (<see cref="VhostControlPlaneOracle"/>); exceptions, assertions. The simulation, backend and scheduler loop are
/// <see cref="VhostBackendRig"/>'s.
/// </summary>
internal sealed class VhostDemoTarget : IFuzzTarget
{
    public const int OperationsMax = 128;

    private readonly GuestActor _guest = new();
    private readonly VirtqueueChecker _checker = new(RingInput.SizeMax);
    private readonly MissedInterruptOracle _interrupts = new();
    private readonly GuestKickDecision _kicks = new();
    private readonly HandlerScheduler _scheduler = new();
    private bool _identity;

    public VhostDemoTarget(Flavour flavour)
    {
        Flavour = flavour;
        Name = FuzzTargetName.Compose("virtio-demo", FuzzTargetName.BackendVhost, flavour);
    }

    public Flavour Flavour { get; }

    public string Name { get; }

    /// <summary>Interleaving slots that ran in the last execution (tests).</summary>
    public int SlotsRun => _scheduler.SlotsRun;

    /// <summary>Kick decisions of the last execution that said "no kick" for published chains (tests).</summary>
    public int KicksWithheld => _kicks.Withheld;

    /// <summary>Requests the last execution's device answered in full (tests).</summary>
    public long Requests { get; private set; }

    public string Description =>
        "seed 000 vhost-demo on the vhost core (worker, weights, memory table, vring ioctls) under hostile rings; "
        + "oracles permission, used-ring, hang, liveness, missed-interrupt";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = Rings.RingInputMinimizer.Create(OperationsMax);

    public IEnumerable<byte[]> SeedCorpus() => RingSeeds.Backend();

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        var sim = RingSimulation.Create(VhostBackendRig.EventsMax);
        var rig = new VhostBackendRig(sim, Flavour);
        VhostDemo demo = rig.Demo;
        sim.AddMemoryObserver(_checker);
        sim.AddMemoryObserver(_kicks);
        context.Attach(sim);
        _checker.Context = context;
        _checker.Deactivate();
        _interrupts.Context = context;
        _interrupts.Deactivate();
        _identity = true;
        int size = header.Size;
        (ulong desc, ulong avail, ulong used) = RingInput.Place(
            header.Placement,
            size,
            unchecked((ulong)header.Placement * 0x9E37_79B9_7F4A_7C15)
        );
        _guest.Reset(sim.Memory, desc, avail, size);
        bool eventIdx = header.EventIdx;
        // The driver's VIRTIO_RING_F_INDIRECT_DESC comes from the input (vhost walks INDIRECT either way).
        bool indirect = header.IndirectDesc;
        if (!rig.Start(size, desc, avail, used, 0, eventIdx, indirect, context))
            return FuzzOutcome.Rejected;
        _checker.Configure(sim.Memory, desc, avail, used, size);
        _kicks.Configure(sim.Memory, avail, used, size, eventIdx);
        _scheduler.Reset(
            _guest,
            _kicks,
            () => rig.Kick.Signal(),
            () => _interrupts.AfterDevice(false),
            _interrupts.AfterGuest
        );
        rig.Vq.Interleaving = _scheduler;
        _interrupts.Configure(sim.Memory, avail, used, size, eventIdx);
        var ring = new RingLayout(desc, avail, used, size, indirect);
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            if (op.Code < 8)
            {
                _guest.Apply(op);
                _interrupts.AfterGuest();
                continue;
            }
            if (!ApplyDeviceOp(rig, context, op, ref reader, ring, ref eventIdx))
                return FuzzOutcome.Completed;
        }
        if (context.Finding is null)
            Liveness(rig, context);
        Requests = demo.Requests;
        return FuzzOutcome.Completed;
    }

    /// <summary>Where the guest placed its ring: descriptor table, available ring, used ring (guest-physical) and
    /// size; and whether the driver acks VIRTIO_RING_F_INDIRECT_DESC (from the input header).</summary>
    private readonly record struct RingLayout(ulong Desc, ulong Avail, ulong Used, int Size, bool Indirect);

    /// <summary>One device-side op (codes 8..15: kick, run, control-plane changes 10..14, a handler interleaving);
    /// false when the execution must stop at once.</summary>
    private bool ApplyDeviceOp(
        VhostBackendRig rig,
        FuzzContext context,
        in RingInput.Op op,
        ref FuzzInputReader reader,
        in RingLayout ring,
        ref bool eventIdx
    )
    {
        VhostDevice dev = rig.Demo.Device;
        // Control-plane ops (10..14) rewrite what the suppression words mean.
        if (op.Code is >= 10 and <= 14)
            _kicks.Unsure();
        switch (op.Code)
        {
            case 8:
                rig.Kick.Signal();
                _kicks.Kicked();
                break;
            case 9:
                return Run(rig, context, 1 + (op.Index % 8));
            case 10:
                EditMemTable(dev, rig.Vmm, op);
                break;
            case 11:
                MoveRing(rig, op, ring);
                break;
            case 12:
                RestartFromBase(rig, op, ring, eventIdx);
                break;
            case 13:
                eventIdx = (op.Flags & 1) != 0;
                return RestartOwner(rig, context, ring, eventIdx);
            case 14:
                eventIdx = ChangeFeatures(rig, op, ring);
                break;
            case 15:
                _scheduler.Arm(op, ref reader);
                break;
            default:
                break;
        }
        return true;
    }

    /// <summary>Op 11: a ring moved under a running backend (QEMU stops it first; the model lets the ioctl
    /// decide).</summary>
    private void MoveRing(VhostBackendRig rig, in RingInput.Op op, in RingLayout ring)
    {
        VhostDevice dev = rig.Demo.Device;
        VmmAddressSpace vmm = rig.Vmm;
        Blind();
        rig.Demo.SetRunning(false);
        ulong delta = op.RawLen % 0x1000;
        vmm.TryGetUserAddress(new GuestAddress(ring.Desc), out ulong d);
        vmm.TryGetUserAddress(new GuestAddress(ring.Avail), out ulong a);
        vmm.TryGetUserAddress(new GuestAddress(ring.Used), out ulong u);
        VhostVringAddr addr = (op.Flags & 3) switch
        {
            0 => new VhostVringAddr(d + delta, a, u),
            1 => new VhostVringAddr(d, a + delta, u),
            2 => new VhostVringAddr(d, a, u + delta),
            _ => new VhostVringAddr(op.RawAddr, a, u),
        };
        dev.SetVringAddr(0, addr);
        rig.Demo.SetRunning(true);
    }

    /// <summary>Op 12: stop, read the base, optionally set a different one, start (migration-like).</summary>
    private void RestartFromBase(VhostBackendRig rig, in RingInput.Op op, in RingLayout ring, bool eventIdx)
    {
        VhostDevice dev = rig.Demo.Device;
        rig.Demo.SetRunning(false);
        dev.GetVringBase(0, out uint num);
        if ((op.Flags & 1) != 0)
        {
            Blind();
            dev.SetVringBase(0, op.Next);
        }
        else
        {
            dev.SetVringBase(0, num);
        }
        rig.Demo.SetRunning(true);
        // vhost_vq_init_access re-reads last_used_idx from used->idx on the restart.
        _checker.RebaseUsedIdx();
        if (_identity)
            _interrupts.Configure(rig.Simulation.Memory, ring.Avail, ring.Used, ring.Size, eventIdx);
    }

    /// <summary>Op 13: owner reset and a fresh start with a feature change; the used ring keeps its index. False when
    /// the backend does not start again.</summary>
    private bool RestartOwner(VhostBackendRig rig, FuzzContext context, in RingLayout ring, bool eventIdx)
    {
        GuestMemory memory = rig.Simulation.Memory;
        VhostDevice dev = rig.Demo.Device;
        VhostWorker? worker = dev.Worker;
        VhostResult reset = dev.ResetOwner();
        string? broken = reset == VhostResult.Ok ? VhostControlPlaneOracle.AfterResetOwner(dev, worker) : null;
        if (broken is not null)
        {
            context.Report(VhostControlPlaneOracle.Oracle, "control-plane/reset-owner-state", broken);
            return false;
        }
        memory.TryGetSpan(new GuestAddress(ring.Used + 2), 2, out Span<byte> raw);
        ushort usedIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        ushort lastAvail = _identity ? _checker.UsedIdx : (ushort)0;
        if (!rig.Start(ring.Size, ring.Desc, ring.Avail, ring.Used, lastAvail, eventIdx, ring.Indirect, context))
        {
            return false;
        }
        rig.Vq.Interleaving = _scheduler;
        if (_identity)
        {
            _checker.Configure(memory, ring.Desc, ring.Avail, ring.Used, ring.Size, usedIdx);
            _interrupts.Configure(memory, ring.Avail, ring.Used, ring.Size, eventIdx);
            // The guest's kick decisions are its own: a device restart does not move them.
            _kicks.SetEventIdx(eventIdx);
        }
        return true;
    }

    /// <summary>Op 14: SET_FEATURES with or without EVENT_IDX under a running backend; returns whether EVENT_IDX is
    /// now negotiated as the guest sees it.</summary>
    private bool ChangeFeatures(VhostBackendRig rig, in RingInput.Op op, in RingLayout ring)
    {
        ulong wanted =
            (1UL << VirtioSpec.FVersion1)
            | (1UL << VirtioSpec.FEventIdx)
            | (ring.Indirect ? 1UL << VirtioSpec.FIndirectDesc : 0);
        ulong features = VhostFeatures.Default & wanted;
        if ((op.Flags & 1) == 0)
            features &= ~(1UL << VirtioSpec.FEventIdx);
        rig.Demo.Device.SetFeatures(features);
        bool eventIdx = (op.Flags & 1) != 0;
        _kicks.SetEventIdx(eventIdx);
        if (_identity)
            _interrupts.Configure(rig.Simulation.Memory, ring.Avail, ring.Used, ring.Size, eventIdx);
        return eventIdx;
    }

    /// <summary>The control plane changed what the device's addresses mean: stop judging accesses by guest
    /// address.</summary>
    private void Blind()
    {
        _identity = false;
        _checker.Deactivate();
        _interrupts.Deactivate();
        _kicks.Deactivate();
    }

    private void EditMemTable(VhostDevice dev, VmmAddressSpace vmm, in RingInput.Op op)
    {
        Blind();
        VhostMemoryRegion[] table = vmm.MemoryTable();
        ulong shift = op.RawLen % 0x2000;
        switch (op.Flags & 3)
        {
            case 0:
                dev.SetMemTable(table.AsSpan(0, 1));
                break;
            case 1:
                table[0] = table[0] with { MemorySize = Math.Max(1, table[0].MemorySize - shift) };
                dev.SetMemTable(table);
                break;
            case 2:
                table[^1] = table[^1] with { UserspaceAddr = table[^1].UserspaceAddr + shift };
                dev.SetMemTable(table);
                break;
            default:
                table[0] = table[0] with { GuestPhysAddr = op.RawAddr, MemorySize = 1 + (op.RawLen % 0x10000) };
                dev.SetMemTable(table);
                break;
        }
    }

    private bool Run(VhostBackendRig rig, FuzzContext context, int windows)
    {
        long calls = rig.Call.Signals;
        bool ran = rig.Run(context, windows) == VhostBackendRig.RunEnd.Ran;
        // The call eventfd is routed by irqfd to the guest's GSI: each signal is an interrupt delivered.
        _interrupts.AfterDevice(rig.Call.Signals != calls);
        return ran;
    }

    /// <summary>Oracle 5: the guest stops and kicks; after the worker ran, every available chain is completed, unless
    /// the vring raised a vq_err (vhost's "broken"); and the interrupt the driver's suppression state asks for was
    /// delivered (<see cref="MissedInterruptOracle"/>).</summary>
    private void Liveness(VhostBackendRig rig, FuzzContext context)
    {
        Simulation sim = rig.Simulation;
        // The guest's last kick is the honest driver's decision (suppression honoured), never an extra one.
        bool kicked = _kicks.Decide();
        if (kicked)
            rig.Kick.Signal();
        if (!Run(rig, context, 16))
            return;
        VhostVirtqueue vq = rig.Vq;
        if (!_identity || vq.VqErrors > 0 || !vq.HasBackend || context.Finding is not null)
            return;
        // A run that gave up at the model's iteration bound (no Linux counterpart) leaves NO_NOTIFY set and nothing
        // requeued; only an extra kick would restart it, so chains left then are not judged.
        if (!kicked && rig.Demo.IterationBoundHits > 0)
            return;
        if (
            !_checker.Active
            || !rig.TryAvailIdxAddress(out ulong availIdxAt)
            || !sim.Memory.TryGetSpan(new GuestAddress(availIdxAt), 2, out Span<byte> raw)
        )
            return;
        ushort availIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        int pending = Narrow.ToUInt16Wrapping(availIdx - vq.LastAvailIdx);
        if (pending != 0 && pending <= (int)vq.Num)
        {
            if (kicked)
                context.Report(
                    "liveness",
                    "liveness/available-chain-not-consumed",
                    $"after the guest stopped and kicked, avail.idx is {availIdx} but vhost stopped at last_avail_idx "
                        + $"{vq.LastAvailIdx} without a vq_err"
                );
            else
                context.Report(
                    "liveness",
                    "liveness/stranded-under-suppression",
                    $"avail.idx is {availIdx} but vhost stopped at last_avail_idx {vq.LastAvailIdx} without a vq_err, "
                        + $"and its suppression state ({(vq.EventIdx ? "avail_event" : "used.flags NO_NOTIFY")}) told "
                        + "the guest not to kick: a lost wakeup (vhost_enable_notify's re-check)"
                );
        }
        else if (_checker.InFlight != 0)
        {
            context.Report(
                "liveness",
                "liveness/chain-never-completed",
                $"after the guest stopped and kicked, {_checker.InFlight} fetched chains were never completed and no "
                    + "vq_err was raised"
            );
        }
        else
        {
            _interrupts.Final();
        }
    }
}
