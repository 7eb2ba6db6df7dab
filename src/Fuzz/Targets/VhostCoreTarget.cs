using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Devices.Virtio.Demo;
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
/// The vhost control plane itself (<see cref="VhostDevice"/>'s ioctls, with robust vhost-demo's kick handler behind
/// vring 0): raw ioctl sequences (<see cref="VhostCoreInput"/>) — SET_OWNER, GET/SET_FEATURES, SET_MEM_TABLE with
/// arbitrary regions (overlapping, empty, wrapping, huge, outside the user range, unmapped), SET_VRING_NUM / ADDR /
/// BASE / KICK / CALL / ERR with hostile values, GET_VRING_BASE, backend start/stop, RESET_OWNER — interleaved with
/// kicks, worker runs and guest ring edits. Oracles: <see cref="VhostIoctlModel"/> (every ioctl returns Linux's errno,
/// GET values), <see cref="VhostAccessChecker"/> (no device access outside the running rings and the memory table's
/// userspace ranges), <see cref="VhostChainOracle"/> (every vhost_get_vq_desc against Linux's walk),
/// <see cref="VhostControlPlaneOracle"/> (the state VHOST_RESET_OWNER leaves, the eventfd SET_VRING_KICK polls),
/// <see cref="VhostSignalOracle"/> (no call signal vhost_notify's EVENT_IDX rule does not allow), hang (the worker's
/// idle-requeue livelock report, the event budget), host exceptions and assertions. Each execution builds a fresh
/// simulation in <see cref="CreateSimulation"/>.
/// </summary>
public sealed class VhostCoreTarget : IFuzzTarget
{
    /// <summary>The target's name on the command line (<c>--target vhost-core</c>).</summary>
    public const string TargetName = "vhost-core";

    /// <summary>Operations one execution reads at most; the rest of a longer input is ignored.</summary>
    public const int OperationsMax = 128;

    internal const long RunWindowNs = 100_000;

    internal const long EventsMax = 20_000;

    /// <summary>max_mem_regions for this target: small, so E2BIG is one byte away.</summary>
    public const int MemRegionsMax = 4;

    /// <summary>Idle self-requeues before the worker reports a livelock.</summary>
    public const int IdleRequeuesMax = 16;

    private const int SlicesPerWindow = 10;

    /// <summary>The guest ring's largest size (header bits 0..2).</summary>
    private const int GuestRingSizeMax = 128;

    /// <summary>Handler runs per execution beyond which the execution ends (a busy worker on a self-feeding ring is
    /// busy, not hung; Linux behaves the same).</summary>
    private const long HandlerRunsMax = 256;

    private static readonly VhostOptions Options = new()
    {
        IdleRequeuesMax = IdleRequeuesMax,
        HandlerRunsMax = 100_000,
        HandlerIterationsMax = 2 * GuestRingSizeMax,
        MemRegionsMax = MemRegionsMax,
    };

    /// <summary>The options of an execution that may write long indirect tables: a pop there walks ~500
    /// descriptors and ~1,000 translations, so the worker's per-run weight (vhost_exceeds_weight's packet count) is
    /// small, and so is <see cref="LongTableHandlerRunsMax"/>; with the default bounds, a raw avail.idx jump that
    /// republishes the table's head hundreds of times made one execution allocate over 500 MB.</summary>
    private static readonly VhostOptions LongTableOptions = Options with { HandlerIterationsMax = 4 };

    /// <summary><see cref="HandlerRunsMax"/> for an execution that may write long indirect tables.</summary>
    private const long LongTableHandlerRunsMax = 16;

    private readonly GuestActor _guest = new();

    /// <summary>Regions one SET_MEM_TABLE op can carry: 0..6, or <see cref="MemRegionsMax"/> + 1 (E2BIG).</summary>
    private const int RegionsPerOpMax = 7;

    private readonly VhostMemoryRegion[] _regions = new VhostMemoryRegion[Math.Max(RegionsPerOpMax, MemRegionsMax + 1)];

    // Per execution.
    private Simulation _sim = null!;
    private VmmAddressSpace _vmm = null!;
    private VhostDemo _demo = null!;
    private VhostIoctlModel _model = null!;
    private FuzzContext _context = null!;
    private EventFd _kick = null!;
    private EventFd _call = null!;
    private EventFd _err = null!;
    private VhostSignalOracle _signals = null!;
    private VhostIoctlModel? _mirrorModel;
    private long _handlerRunsMax;
    private int _size;
    private ulong _desc;
    private ulong _avail;
    private ulong _used;

    /// <inheritdoc/>
    public string Name => TargetName;

    /// <inheritdoc/>
    public string Description =>
        "vhost control plane: raw ioctl sequences (owner, features, memory tables, vring num/addr/base/fds, backend, "
        + "reset) with kicks, worker runs and guest ring edits; oracles errno (Linux's return values), "
        + "permission (table and rings only), hang";

    /// <inheritdoc/>
    public int InputVersion => 1;

    /// <inheritdoc/>
    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    /// <inheritdoc/>
    public IMutator? StructureMutator { get; } =
        new FixedOpMutator(VhostCoreInput.HeaderLength, VhostCoreInput.OpLength, VhostCoreInput.OpCount);

    /// <inheritdoc/>
    public IInputMinimizer? Minimizer { get; } = VhostCoreInputMinimizer.Create(OperationsMax);

    /// <inheritdoc/>
    public IEnumerable<byte[]> SeedCorpus() => VhostCoreInput.Seeds();

    /// <summary>Which executions may write long indirect tables (<see cref="GuestActor.LongTables"/>: 512 or 513
    /// descriptors, each buffer across the two memory-table regions, so 1,023 to 1,026 iovecs): one in
    /// <c>LongTablePeriod</c>, chosen by a hash of the input, 0 none. Only such a chain meets translate_desc's
    /// UIO_MAXIOV bound (-ENOBUFS, then vhost_get_vq_desc's vq_err "Translation failure"); sampled, as in
    /// split-virtqueue, so the corpus cannot fill with ~500-descriptor walks.</summary>
    public int LongTablePeriod { get; init; } = DefaultLongTablePeriod;

    /// <summary>The default <see cref="LongTablePeriod"/>.</summary>
    public const int DefaultLongTablePeriod = 8;

    /// <summary>True when <paramref name="input"/> writes long tables under the default period: the seed that must
    /// reach the iovec bound is padded until this holds (<see cref="VhostCoreInput"/>).</summary>
    internal static bool LongTablesByDefault(ReadOnlySpan<byte> input) =>
        StableHash64.Of(input) % DefaultLongTablePeriod == 0;

    /// <summary>A second device every control-plane operation also goes to (the KVM lab's real kernel vhost), judged
    /// by its own <see cref="VhostIoctlModel"/> whose verdicts go to <see cref="MirrorVerdict"/>; null in
    /// fuzzing.</summary>
    public IVhostCoreMirror? Mirror { get; set; }

    /// <summary>Told each verdict of the mirror's model.</summary>
    public Action<VhostModelVerdict>? MirrorVerdict { get; set; }

    /// <summary>The last execution's vhost device, for tests.</summary>
    internal VhostDevice LastDevice => _demo.Device;

    /// <summary>The one place a simulation is made (trace hooks attach here).</summary>
    private Simulation CreateSimulation() => RingSimulation.Create(EventsMax);

    /// <inheritdoc/>
    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var reader = new FuzzInputReader(input);
        byte header = reader.ReadByte();
        _sim = CreateSimulation();
        context.Attach(_sim);
        _vmm = new VmmAddressSpace(_sim.Memory);
        bool longTables = LongTablePeriod > 0 && StableHash64.Of(input) % (ulong)LongTablePeriod == 0;
        _handlerRunsMax = longTables ? LongTableHandlerRunsMax : HandlerRunsMax;
        _demo = new VhostDemo(_sim, _vmm, Flavour.Robust, longTables ? LongTableOptions : Options);
        _kick = _sim.CreateEventFd(name: "kick");
        _call = _sim.CreateEventFd(name: "call");
        _err = _sim.CreateEventFd(name: "err");
        _context = context;
        _model = new VhostIoctlModel(_vmm, _demo.Device.Vqs.Count, _demo.Device.OfferedFeatures, MemRegionsMax)
        {
            Context = context,
        };
        _sim.AddMemoryObserver(new VhostAccessChecker(_vmm, _model) { Context = context });
        VhostChainOracle.Install(_sim, _demo.Device.Vqs[0]).Context = context;
        _signals = new VhostSignalOracle(_demo.Device.Vqs[0], _vmm) { Context = context };
        _call.AddListener(_signals);
        _size = 1 << (header & 7);
        (_desc, _avail, _used) = RingInput.Place(0, _size, 0);
        _guest.Reset(_sim.Memory, _desc, _avail, _size);
        _guest.LongTables = longTables;
        _mirrorModel = null;
        if (Mirror is not null)
        {
            Mirror.Begin(_vmm);
            _mirrorModel = new VhostIoctlModel(
                _vmm,
                _demo.Device.Vqs.Count,
                _demo.Device.OfferedFeatures,
                MemRegionsMax
            )
            {
                Verdict = MirrorVerdict,
            };
        }
        try
        {
            for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
            {
                context.Step();
                VhostCoreInput.Op op = VhostCoreInput.ReadOp(ref reader);
                // A control-plane ioctl may invalidate signalled_used (a start, a reset, a feature change): the
                // signal oracle judges only signals with nothing but kicks, runs and guest edits between them.
                if (op.Code is not (VhostCoreInput.OpKick or VhostCoreInput.OpRun or VhostCoreInput.OpGuest))
                    _signals.Forget();
                if (!Apply(op))
                    break;
            }
        }
        finally
        {
            Mirror?.End();
        }
        return FuzzOutcome.Completed;
    }

    /// <summary>One op: the set-up ioctls here, the rest in <see cref="ApplyRuntime"/>; false when the execution
    /// must stop.</summary>
    private bool Apply(in VhostCoreInput.Op op)
    {
        VhostDevice dev = _demo.Device;
        switch (op.Code)
        {
            case VhostCoreInput.OpSetOwner:
                _model.SetOwner(dev.SetOwner());
                if (Mirror is not null)
                    _mirrorModel!.SetOwner(Mirror.SetOwner());
                break;
            case VhostCoreInput.OpResetOwner:
                ResetOwner();
                break;
            case VhostCoreInput.OpGetFeatures:
                GetFeatures();
                break;
            case VhostCoreInput.OpSetFeatures:
            {
                ulong features = (op.A & 1) != 0 ? op.X : dev.OfferedFeatures & op.X;
                _model.SetFeatures(features, dev.SetFeatures(features));
                if (Mirror is not null)
                    _mirrorModel!.SetFeatures(features, Mirror.SetFeatures(features));
                break;
            }
            case VhostCoreInput.OpSetMemTable:
                SetMemTable(op);
                break;
            case VhostCoreInput.OpSetVringNum:
                SetVringNum(op);
                break;
            case VhostCoreInput.OpSetVringAddr:
            {
                VhostVringAddr addr = Addr(op);
                _model.SetVringAddr(op.Index, addr, dev.SetVringAddr(op.Index, addr));
                if (Mirror is not null)
                    _mirrorModel!.SetVringAddr(op.Index, addr, Mirror.SetVringAddr(op.Index, addr));
                break;
            }
            case VhostCoreInput.OpSetVringBase:
            {
                uint num = (op.A & 1) != 0 ? (uint)op.Y : op.B;
                _model.SetVringBase(op.Index, num, dev.SetVringBase(op.Index, num));
                if (Mirror is not null)
                    _mirrorModel!.SetVringBase(op.Index, num, Mirror.SetVringBase(op.Index, num));
                break;
            }
            case VhostCoreInput.OpGetVringBase:
                GetVringBase(op.Index);
                break;
            default:
                return ApplyRuntime(op);
        }
        return true;
    }

    /// <summary>RESET_OWNER on the device (and the mirror), judged by the model; the control-plane oracle checks what
    /// the reset left (worker, vrings, table).</summary>
    private void ResetOwner()
    {
        VhostDevice dev = _demo.Device;
        VhostWorker? worker = dev.Worker;
        VhostResult r = dev.ResetOwner();
        _model.ResetOwner(r);
        if (r == VhostResult.Ok && VhostControlPlaneOracle.AfterResetOwner(dev, worker) is { } broken)
        {
            _context.Report(VhostControlPlaneOracle.Oracle, "control-plane/reset-owner-state", broken);
        }
        if (Mirror is not null)
            _mirrorModel!.ResetOwner(Mirror.ResetOwner());
    }

    /// <summary>SET_VRING_NUM with a power of two up to 2^16, zero, a small or a raw value, as the op picks.</summary>
    private void SetVringNum(in VhostCoreInput.Op op)
    {
        VhostDevice dev = _demo.Device;
        uint num = (op.A & 3) switch
        {
            0 => 1u << (op.B % 17),
            1 => 0,
            2 => op.B,
            _ => (uint)op.Y,
        };
        _model.SetVringNum(op.Index, num, dev.SetVringNum(op.Index, num));
        if (Mirror is not null)
            _mirrorModel!.SetVringNum(op.Index, num, Mirror.SetVringNum(op.Index, num));
    }

    /// <summary>GET_FEATURES on the device (and the mirror), judged by the model.</summary>
    private void GetFeatures()
    {
        VhostDevice dev = _demo.Device;
        VhostResult r = dev.GetFeatures(out ulong features);
        _model.GetFeatures(r, features);
        if (Mirror is not null)
        {
            r = Mirror.GetFeatures(out features);
            _mirrorModel!.GetFeatures(r, features);
        }
    }

    /// <summary>SET_MEM_TABLE with 0..MemRegionsMax + 1 regions of the kinds the op picks, maybe with nonzero
    /// padding.</summary>
    private void SetMemTable(in VhostCoreInput.Op op)
    {
        VhostDevice dev = _demo.Device;
        int count = op.A & 7;
        if (count == 7)
            count = MemRegionsMax + 1;
        for (int i = 0; i < count; i++)
            _regions[i] = Region(i, (int)((op.X >> (4 * (i % 16))) & 15), op.Y);
        uint padding = (op.A & 8) != 0 ? (uint)op.Y | 1 : 0;
        ReadOnlySpan<VhostMemoryRegion> table = _regions.AsSpan(0, count);
        _model.SetMemTable(table, padding, dev.SetMemTable(table, padding));
        if (Mirror is not null)
            _mirrorModel!.SetMemTable(table, padding, Mirror.SetMemTable(table, padding));
    }

    /// <summary>GET_VRING_BASE on the device (and the mirror), judged by the model.</summary>
    private void GetVringBase(uint index)
    {
        VhostDevice dev = _demo.Device;
        VhostResult r = dev.GetVringBase(index, out uint num);
        _model.GetVringBase(index, r, num);
        if (Mirror is not null)
        {
            r = Mirror.GetVringBase(index, out num);
            _mirrorModel!.GetVringBase(index, r, num);
        }
    }

    /// <summary>The ops after set-up: the ring eventfds, the backend, kicks, runs and the guest's ring edits; false
    /// when the execution must stop.</summary>
    private bool ApplyRuntime(in VhostCoreInput.Op op)
    {
        switch (op.Code)
        {
            case VhostCoreInput.OpSetVringKick:
                SetVringKick(op);
                break;
            case VhostCoreInput.OpSetVringCall:
                SetVringCall(op);
                break;
            case VhostCoreInput.OpSetVringErr:
                SetVringErr(op);
                break;
            case VhostCoreInput.OpBackend:
                SetBackend(op);
                break;
            case VhostCoreInput.OpKick:
                using (_sim.Memory.As(MemoryActor.Guest))
                    _kick.Signal();
                if (Mirror is not null)
                {
                    // The real worker runs as soon as it is kicked, not at the next OpRun.
                    using (_sim.Memory.As(MemoryActor.Guest))
                        Mirror.Kick(_sim.Memory);
                    _mirrorModel!.WorkerMayHaveRun();
                }
                break;
            case VhostCoreInput.OpRun:
                _model.WorkerMayHaveRun();
                Mirror?.Flush();
                return Run(1 + (op.A % 8));
            default:
                Guest(op);
                break;
        }
        return true;
    }

    /// <summary>SET_VRING_KICK with the kick eventfd, none, or the call eventfd, as the op picks; the control-plane
    /// oracle checks that the vring then polls exactly the eventfd set.</summary>
    private void SetVringKick(in VhostCoreInput.Op op)
    {
        VhostDevice dev = _demo.Device;
        EventFd? fd = (op.A % 3) switch
        {
            0 => _kick,
            1 => null,
            _ => _call,
        };
        VhostResult r = dev.SetVringKick(op.Index, fd);
        _model.SetVringFd("SET_VRING_KICK", op.Index, r);
        if (r == VhostResult.Ok && VhostControlPlaneOracle.AfterSetVringKick(dev, op.Index, fd) is { } broken)
        {
            _context.Report(VhostControlPlaneOracle.Oracle, "control-plane/kick-poll", broken);
        }
        if (Mirror is not null)
            _mirrorModel!.SetVringFd(
                "SET_VRING_KICK",
                op.Index,
                Mirror.SetVringFd(
                    VhostFdIoctl.Kick,
                    op.Index,
                    (op.A % 3) switch
                    {
                        0 => VhostMirrorFd.Kick,
                        1 => VhostMirrorFd.None,
                        _ => VhostMirrorFd.Call,
                    }
                )
            );
    }

    /// <summary>SET_VRING_CALL with the call eventfd or none.</summary>
    private void SetVringCall(in VhostCoreInput.Op op)
    {
        VhostDevice dev = _demo.Device;
        _model.SetVringFd("SET_VRING_CALL", op.Index, dev.SetVringCall(op.Index, (op.A & 1) == 0 ? _call : null));
        if (Mirror is not null)
            _mirrorModel!.SetVringFd(
                "SET_VRING_CALL",
                op.Index,
                Mirror.SetVringFd(
                    VhostFdIoctl.Call,
                    op.Index,
                    (op.A & 1) == 0 ? VhostMirrorFd.Call : VhostMirrorFd.None
                )
            );
    }

    /// <summary>SET_VRING_ERR with the error eventfd or none.</summary>
    private void SetVringErr(in VhostCoreInput.Op op)
    {
        VhostDevice dev = _demo.Device;
        _model.SetVringFd("SET_VRING_ERR", op.Index, dev.SetVringErr(op.Index, (op.A & 1) == 0 ? _err : null));
        if (Mirror is not null)
            _mirrorModel!.SetVringFd(
                "SET_VRING_ERR",
                op.Index,
                Mirror.SetVringFd(VhostFdIoctl.Err, op.Index, (op.A & 1) == 0 ? VhostMirrorFd.Err : VhostMirrorFd.None)
            );
    }

    /// <summary>Starts (bit 0 set) or stops the backend (vhost-test's RUN, <see cref="VhostDemo.SetRunning"/>) on
    /// the device and the mirror, judged by the model.</summary>
    private void SetBackend(in VhostCoreInput.Op op)
    {
        if ((op.A & 1) != 0)
        {
            _model.Starting = 0;
            VhostResult r = _demo.SetRunning(true);
            _model.Starting = -1;
            _model.Start(0, r);
            if (Mirror is not null)
                _mirrorModel!.Start(0, Mirror.SetBackend(true));
        }
        else
        {
            _model.Stop(0, _demo.SetRunning(false));
            if (Mirror is not null)
                _mirrorModel!.Stop(0, Mirror.SetBackend(false));
        }
    }

    /// <summary>Userspace address of guest-physical <paramref name="gpa"/> (QEMU's host pointer).</summary>
    private ulong User(ulong gpa) => _vmm.TryGetUserAddress(new GuestAddress(gpa), out ulong user) ? user : 0;

    /// <summary>One SET_MEM_TABLE region of the given kind: identity, shifted, truncated, overlapping, empty, the whole
    /// space, wrapping, huge, outside the user range, unmapped, overflowing, high, or raw.</summary>
    private VhostMemoryRegion Region(int i, int kind, ulong y)
    {
        ulong size = RingInput.RegionSize;
        ulong u0 = _vmm.RegionUserAddress(0);
        ulong u1 = _vmm.RegionUserAddress(1);
        return kind switch
        {
            0 => new(0, size, u0),
            1 => new(size, size, u1),
            2 => (i & 1) == 0 ? new(0, size, u0) : new(size, size, u1),
            3 => new(0, size, u0 + (y & 0xFF0)),
            4 => new(0, 1 + (y % size), u0),
            5 => new(0x100, 0x1000, u1),
            6 => new(0x1000, 0, u0),
            7 => new(0, 0, u0),
            8 => new(ulong.MaxValue - 0xFFF, 0x2000, u0),
            // Huge: 2^40 bytes (beyond the user range, so no vring starts with it), or with y bit 63 2 MiB, inside
            // it: a 1 MiB indirect table (get_indirect's USHRT_MAX + 1 bound) translates through it.
            9 => new(0, (y >> 63) != 0 ? 1UL << 21 : 1UL << 40, u0),
            10 => new(0, size, VhostLimits.UserAddressLimit),
            11 => new(0, size, _vmm.HostBase + (8 * VmmAddressSpace.RegionStride)),
            12 => new(0, 0x1000, ulong.MaxValue - 0xFF),
            13 => new(1UL << 40, 0x1000, u0),
            14 => new(0x800, size, u0),
            _ => new(y & ~0xFFFUL, (y & 0xFFF) + 1, u0 + ((y >> 12) & 0xFFF0)),
        };
    }

    /// <summary>SET_VRING_ADDR values: the guest's rings (identity), one ring moved, misaligned avail/used, near the
    /// top of the user range, unmapped, raw, or with flags and a log address.</summary>
    private VhostVringAddr Addr(in VhostCoreInput.Op op)
    {
        ulong d = User(_desc),
            a = User(_avail),
            u = User(_used);
        ulong shift = 8UL * (1 + (ulong)(op.B >> 2));
        return (op.A & 7) switch
        {
            0 => new(d, a, u),
            1 => (op.B % 3) switch
            {
                0 => new(d + shift, a, u),
                1 => new(d, a + shift, u),
                _ => new(d, a, u + shift),
            },
            2 => new(d, a + 1, u),
            3 => new(d, a, u + 2),
            4 => new(
                VhostLimits.UserAddressLimit - 0x100,
                VhostLimits.UserAddressLimit - (16UL * (1 + (ulong)op.B)) & ~3UL,
                VhostLimits.UserAddressLimit - 0x20
            ),
            5 => new(_vmm.HostBase + (8 * VmmAddressSpace.RegionStride), a, u),
            6 => new(op.X, op.Y & ~1UL, (op.X ^ op.Y) & ~3UL),
            _ => new(d, a, u, op.B, op.Y),
        };
    }

    /// <summary>The guest: a well-formed demo request (8-byte out {opt, buff}, 8-byte in) or a raw ring edit
    /// (<see cref="GuestActor"/>'s operations on its ring at GPA 0).</summary>
    private void Guest(in VhostCoreInput.Op op)
    {
        if ((op.A & 8) != 0)
        {
            _guest.Apply(new RingInput.Op(RingInput.OpAddChain, 0, 0, 0, 0, 4, 0, DemoProtocol.RequestSize - 1));
            GuestMemory memory = _sim.Memory;
            using GuestMemory.ActorScope scope = memory.As(MemoryActor.Guest);
            ushort idx = _guest.AvailIdx;
            if (
                !memory.TryReadUInt16(
                    new GuestAddress(_avail + 4 + (2UL * (ulong)((idx - 1) & (_size - 1)))),
                    out ushort head
                )
            )
                return;
            if (!memory.TryReadUInt64(new GuestAddress(_desc + (16UL * (ulong)(head % _size))), out ulong at))
                return;
            Span<byte> request = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)(op.X & 1));
            BinaryPrimitives.WriteUInt32LittleEndian(request[4..], (uint)op.Y);
            memory.TryWrite(new GuestAddress(at), request);
            return;
        }
        // Bit 4 of a: a length at get_indirect's table-size bound (USHRT_MAX + 1 entries, or one more), which a table
        // mapped by a huge memory-table region reaches.
        uint len =
            (op.A & 0x10) != 0 ? VirtioSpec.DescSize * (0x1_0000u + (op.B & 1u)) : RingInput.Length(op.C, (uint)op.Y);
        _guest.Apply(
            new RingInput.Op(
                op.A & 7,
                RingInput.Address(op.B, op.X),
                len,
                (ushort)(op.B >> 5),
                (ushort)(op.Y >> 32),
                (byte)(op.Y >> 48),
                op.X,
                (uint)op.Y
            )
        );
    }

    private bool Run(int windows)
    {
        // Small slices, so a livelock is reported soon after the worker notices it.
        StopReason reason = StopReason.Idle;
        for (int i = 0; i < windows * SlicesPerWindow && reason != StopReason.EventLimit; i++)
        {
            reason = _sim.Loop.Run(_sim.Now + (RunWindowNs / SlicesPerWindow));
            if (_demo.Device.Worker is { LivelocksDetected: > 0 } worker)
            {
                _context.ReportHang(
                    "hang/vhost-worker-livelock",
                    $"the vhost worker ran its handler {worker.IdleSelfRequeueStreakMax} times in a row, each "
                        + "requeueing itself without consuming or completing anything"
                );
                return false;
            }
            if (_demo.Device.Worker is { } busy && busy.HandlerRuns > _handlerRunsMax)
                return false;
            if (reason == StopReason.Idle && _sim.Loop.Pending == 0)
                break;
        }
        if (reason != StopReason.EventLimit)
            return true;
        _context.ReportHang(
            "hang/event-budget",
            $"the simulation used its {EventsMax} events without the guest acting"
        );
        return false;
    }
}
