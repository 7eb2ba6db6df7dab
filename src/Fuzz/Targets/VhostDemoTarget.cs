using System.Buffers.Binary;
using Fuzz.Checkers;
using Fuzz.Input;
using Fuzz.Mutation;
using Fuzz.Targets.Rings;
using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Devices.Virtio;
using Sim.Engine;
using Sim.Engine.Kvm;
using Sim.Engine.Memory;
using Sim.Engine.Time;

namespace Fuzz.Targets;

/// <summary>
/// vhost-demo (seed 000 lab 3) on the vhost core: <see cref="VhostDemo"/> started through
/// <see cref="VhostBackendStarter"/> as QEMU does on DRIVER_OK, kicked through its eventfd, run by the
/// <see cref="VhostWorker"/> on the event loop, driven by a hostile guest (<see cref="RingInput"/> v1). Device-side
/// ops: 8 kick, 9 run (the scheduler's choice of how long the worker runs before the guest's next step), 10
/// VHOST_SET_MEM_TABLE edit (drop, shrink or shift a region), 11 VHOST_SET_VRING_ADDR edit (stop, move a ring,
/// start), 12 backend stop/start (GET/SET_VRING_BASE), 13 owner reset and full restart with a feature change,
/// 14 VHOST_SET_FEATURES toggling EVENT_IDX, 15 idle.
/// Oracles: <see cref="VirtqueueChecker"/> (permission, used-ring) while the control plane keeps the identity
/// mapping — after a memory-table or vring-address edit the device legitimately touches other guest addresses, so
/// from then on only the other oracles judge; hang (the worker's livelock report, or the event budget); liveness (after
/// the guest stops and kicks, every available chain is completed unless a vq_err was raised); exceptions, assertions.
/// </summary>
public sealed class VhostDemoTarget : IFuzzTarget
{
    public const int OperationsMax = 128;

    public const long RunWindowNs = 100_000;

    public const long EventsMax = 20_000;

    private const int SlicesPerWindow = 10;

    /// <summary>Handler runs per execution beyond which the worker counts as never sleeping (a guest makes at most
    /// <see cref="OperationsMax"/> moves; an honest worker runs about once per kick plus weight requeues).</summary>
    private const long HandlerRunsMax = 2_000;

    /// <summary>Idle self-requeues before the worker reports a livelock: small, so a hang is found in a few runs.</summary>
    public const int IdleRequeuesMax = 16;

    private const uint Gsi = 5;

    private static readonly VhostOptions Options = new() { IdleRequeuesMax = IdleRequeuesMax, HandlerRunsMax = 100_000, HandlerIterationsMax = 2 * RingInput.SizeMax };

    private readonly GuestActor _guest = new();
    private readonly VirtqueueChecker _checker = new(RingInput.SizeMax);
    private readonly MemoryLayout _layout = new([new RegionSpec(0, RingInput.RegionSize), new RegionSpec(RingInput.RegionSize, RingInput.RegionSize)]);
    private bool _identity;

    public VhostDemoTarget(Flavour flavour)
    {
        Flavour = flavour;
        Name = FuzzTargetName.Compose("virtio-demo", FuzzTargetName.BackendVhost, flavour);
    }

    public Flavour Flavour { get; }

    public string Name { get; }

    public string Description => "seed 000 vhost-demo on the vhost core (worker, weights, memory table, vring ioctls) under hostile rings; oracles permission, used-ring, hang, liveness";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = Rings.RingInputMinimizer.Create(OperationsMax);

    public IEnumerable<byte[]> SeedCorpus() => RingSeeds.Backend();

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        var sim = new Simulation(new SimulationOptions { Seed = 1, MemoryLayout = _layout, CheckpointInterval = 0, EventsMax = EventsMax, StopOnGuestExit = false });
        var vmm = new VmmAddressSpace(sim.Memory);
        var demo = new VhostDemo(sim, vmm, Flavour, Options);
        EventFd kick = sim.CreateEventFd(name: "kick");
        EventFd call = sim.CreateEventFd(name: "call");
        EventFd err = sim.CreateEventFd(name: "err");
        if (!sim.Kvm.TryRegisterIrqFd(call, Gsi, null, out KvmError kerr)) throw new InvalidOperationException(kerr.ToString());
        sim.AddMemoryObserver(_checker);
        context.Attach(sim);
        _checker.Context = context;
        _checker.Deactivate();
        _identity = true;
        int size = header.Size;
        (ulong desc, ulong avail, ulong used) = RingInput.Place(header.Placement, size, unchecked((ulong)header.Placement * 0x9E37_79B9_7F4A_7C15));
        _guest.Reset(sim.Memory, desc, avail, size);
        bool eventIdx = header.EventIdx;
        if (!Start(demo, err, size, desc, avail, used, 0, kick, call, eventIdx)) return FuzzOutcome.Rejected;
        _checker.Configure(sim.Memory, desc, avail, used, size);
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            if (op.Code < 8)
            {
                _guest.Apply(op);
                continue;
            }
            VhostDevice dev = demo.Device;
            switch (op.Code)
            {
                case 8:
                    kick.Signal();
                    break;
                case 9:
                    if (!Run(sim, demo, context, 1 + (op.Index % 8))) return FuzzOutcome.Completed;
                    break;
                case 10:
                    EditMemTable(dev, vmm, op);
                    break;
                case 11:
                    {
                        // A ring moved under a running backend (QEMU stops it first; the model lets the ioctl decide).
                        Blind();
                        demo.SetRunning(false);
                        ulong delta = op.RawLen % 0x1000;
                        vmm.TryGetUserAddress(new GuestAddress(desc), out ulong d);
                        vmm.TryGetUserAddress(new GuestAddress(avail), out ulong a);
                        vmm.TryGetUserAddress(new GuestAddress(used), out ulong u);
                        VhostVringAddr addr = (op.Flags & 3) switch
                        {
                            0 => new VhostVringAddr(d + delta, a, u),
                            1 => new VhostVringAddr(d, a + delta, u),
                            2 => new VhostVringAddr(d, a, u + delta),
                            _ => new VhostVringAddr(op.RawAddr, a, u),
                        };
                        dev.SetVringAddr(0, addr);
                        demo.SetRunning(true);
                        break;
                    }
                case 12:
                    {
                        // Stop, read the base, optionally set a different one, start (migration-like).
                        demo.SetRunning(false);
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
                        demo.SetRunning(true);
                        break;
                    }
                case 13:
                    {
                        // Owner reset and a fresh start with a feature change; the used ring keeps its index.
                        dev.ResetOwner();
                        eventIdx = (op.Flags & 1) != 0;
                        sim.Memory.TryGetSpan(new GuestAddress(used + 2), 2, out Span<byte> raw);
                        ushort usedIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
                        ushort lastAvail = _identity ? _checker.UsedIdx : (ushort)0;
                        if (!Start(demo, err, size, desc, avail, used, lastAvail, kick, call, eventIdx)) return FuzzOutcome.Completed;
                        if (_identity) _checker.Configure(sim.Memory, desc, avail, used, size, usedIdx);
                        break;
                    }
                case 14:
                    {
                        ulong features = VhostFeatures.Default & ((1UL << VirtioSpec.FVersion1) | (1UL << VirtioSpec.FEventIdx) | (1UL << VirtioSpec.FIndirectDesc));
                        if ((op.Flags & 1) == 0) features &= ~(1UL << VirtioSpec.FEventIdx);
                        dev.SetFeatures(features);
                        break;
                    }
                default:
                    break;
            }
        }
        if (context.Finding is null) Liveness(sim, demo, kick, context);
        return FuzzOutcome.Completed;
    }

    /// <summary>The control plane changed what the device's addresses mean: stop judging accesses by guest address.</summary>
    private void Blind()
    {
        _identity = false;
        _checker.Deactivate();
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

    private static bool Start(VhostDemo demo, EventFd err, int size, ulong desc, ulong avail, ulong used, ushort lastAvail, EventFd kick, EventFd call, bool eventIdx)
    {
        if (VhostBackendStarter.Init(demo, out _, out _) != VhostResult.Ok) return false;
        demo.Device.SetVringErr(0, err);
        ulong features = (1UL << VirtioSpec.FVersion1) | (eventIdx ? 1UL << VirtioSpec.FEventIdx : 0);
        var ring = new VhostRingStart(size, new GuestAddress(desc), new GuestAddress(avail), new GuestAddress(used), lastAvail, kick, call);
        return VhostBackendStarter.Start(demo, features, [ring], out _) == VhostResult.Ok;
    }

    private static bool Run(Simulation sim, VhostDemo demo, FuzzContext context, int windows)
    {
        // Small slices, so a livelock is reported soon after the worker notices it.
        StopReason reason = StopReason.Idle;
        for (int i = 0; i < windows * SlicesPerWindow && reason != StopReason.EventLimit; i++)
        {
            reason = sim.Loop.Run(sim.Now + (RunWindowNs / SlicesPerWindow));
            if (demo.Device.Worker is { LivelocksDetected: > 0 } worker)
            {
                context.ReportHang("hang/vhost-worker-livelock", $"the vhost worker ran its handler {worker.IdleSelfRequeueStreakMax} times in a row, each requeueing itself without consuming or completing anything (seed handle_demo_kick's unconditional vhost_poll_queue)");
                return false;
            }
            // A worker that keeps making progress (a ring overlapping itself feeds new heads as the device completes
            // old ones, and weight-limited runs requeue) is busy, not hung: Linux behaves the same. End the execution
            // there, without a finding; the idle-requeue livelock above is the hang oracle.
            if (demo.Device.Worker is { HandlerRuns: > HandlerRunsMax }) return false;
            if (reason == StopReason.Idle && sim.Loop.Pending == 0) break;
        }
        if (reason != StopReason.EventLimit) return true;
        context.ReportHang("hang/event-budget", $"the simulation used its {EventsMax} events without the guest acting");
        return false;
    }

    /// <summary>Oracle 5: the guest stops and kicks; after the worker ran, every available chain is completed, unless
    /// the vring raised a vq_err (vhost's "broken").</summary>
    private void Liveness(Simulation sim, VhostDemo demo, EventFd kick, FuzzContext context)
    {
        kick.Signal();
        if (!Run(sim, demo, context, 16)) return;
        VhostVirtqueue vq = demo.Device.Vqs[0];
        if (!_identity || vq.VqErrors > 0 || !vq.HasBackend || context.Finding is not null) return;
        if (!sim.Memory.TryGetSpan(new GuestAddress(_checker.Active ? AvailIdxAddress(vq, demo) : 0), 2, out Span<byte> raw) || !_checker.Active) return;
        ushort availIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        int pending = unchecked((ushort)(availIdx - vq.LastAvailIdx));
        if (pending != 0 && pending <= (int)vq.Num)
        {
            context.Report("liveness", "liveness/available-chain-not-consumed", $"after the guest stopped and kicked, avail.idx is {availIdx} but vhost stopped at last_avail_idx {vq.LastAvailIdx} without a vq_err");
        }
        else if (_checker.InFlight != 0)
        {
            context.Report("liveness", "liveness/chain-never-completed", $"after the guest stopped and kicked, {_checker.InFlight} fetched chains were never completed and no vq_err was raised");
        }
    }

    private static ulong AvailIdxAddress(VhostVirtqueue vq, VhostDemo demo) =>
        demo.Device.Vmm.Resolve(vq.Avail + 2, out GuestAddress gpa, out _) ? gpa.Value : 0;
}
