using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Pci;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Net;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// A QEMU-style virtio backend (a <see cref="VirtioDevice"/> behind the modern <see cref="VirtioPciTransport"/> on a
/// PCI host bridge, on the KVM model) driven by a hostile guest (<see cref="RingInput"/> v1). Guest ops 0..7 edit the
/// ring; device-side ops: 8 kick (notify register), 9 let the simulation run (the scheduler's interleaving choice: how
/// long the device acts before the guest's next step), 10 device reset and re-initialisation with a feature change
/// while requests are in flight, 11 write an arbitrary common-config register (queue size, ring addresses, enable,
/// status, feature words), 12 read/write device-specific config, 13 virtio-net: a frame from the link
/// (<see cref="RingInput.OpInjectFrame"/>), other devices: read the selected device_feature window, 14 kick + run, 15
/// select the queue later ring ops and kicks act on (<see cref="RingInput.OpSelectQueue"/>; virtio-net: 1 is
/// transmitq1, whose rings <see cref="QueueGuests.SetUpSecondary"/> places; the checker and liveness oracles watch
/// queue 0). Oracles: <see cref="VirtqueueChecker"/> (permission, used-ring) on every device access; hang (event
/// budget); liveness (after a final kick and run, every available chain is consumed and completed unless the device is
/// broken); missed interrupt (<see cref="MissedInterruptOracle"/>: the guest's interrupt handler reads the ISR after
/// each run); response (robust flavours: <see cref="ResponseOracle"/>, each completed request against the device's
/// reference model; <see cref="TaintOracle"/>, the device's reused host buffers poisoned before each request and every
/// answer and log line searched for the poison); config (robust: <see cref="ConfigSpaceOracle"/>, what op 12's reads
/// return and config_generation); features (robust: <see cref="FeatureOracle"/>, the offered feature words and the
/// FEATURES_OK handshake; op 13 reads the selected device_feature window); timer (robust counter: <see
/// cref="TimerTickOracle"/>, its ticks against virtual time); exceptions and assertions. Each execution builds a fresh
/// simulation (64 KiB guest memory, no sinks, no checkpoints).
/// </summary>
internal sealed class VirtioBackendTarget : IFuzzTarget
{
    public const int OperationsMax = 128;

    /// <summary>Simulated nanoseconds one "run" op lets pass.</summary>
    public const long RunWindowNs = 200_000;

    /// <summary>Events per execution before the run counts as a hang.</summary>
    public const long EventsMax = 200_000;

    private readonly Func<Simulation, Flavour, VirtioDevice> _factory;
    private readonly QueueGuests _guests;
    private readonly VirtqueueChecker _checker = new(RingInput.SizeMax);

    /// <summary>Queue 1's checker (a multi-queue device: virtio-net's transmitq1), each the other's
    /// <see cref="VirtqueueChecker.Peer"/>.</summary>
    private readonly VirtqueueChecker _checker1 = new(RingInput.SizeMax);
    private readonly MissedInterruptOracle _interrupts = new();
    private readonly ResponseOracle _responses = new();

    /// <summary>The response oracle of a network device's transmitq1 (robust flavour; queue 1's checker tells
    /// it).</summary>
    private readonly NetTransmitOracle _transmit = new();

    /// <summary>The response oracle of a network device's receiveq1 and its refusals (robust flavour; queue 0's
    /// checker tells it, and it tells <see cref="_responses"/>).</summary>
    private readonly NetReceiveOracle _receive;

    /// <summary>The network device's log, judged by <see cref="_receive"/> and <see cref="_transmit"/>.</summary>
    private readonly NetLogJudge _netLog = new();
    private readonly Func<VirtioDevice, NetBackend?> _transmitLink;
    private readonly TaintOracle _taint;
    private readonly ConfigSpaceOracle _config = new();
    private readonly BlkMalformedJudge _blkMalformed = new();
    private readonly FeatureOracle _features = new();
    private readonly TimerTickOracle _ticks = new();
    private readonly KickedChainsOracle _kicked = new();
    private SplitQueueState _synced;
    private bool _syncedReady;

    /// <summary>True once this execution has pointed queue 0's guest at a ready queue's rings. Until then guest
    /// ring operations are skipped: the actor still held the previous execution's memory and rings (a cross-execution
    /// leak that made an input's behaviour depend on the one before), or none at all (a host NullReferenceException
    /// on a fresh target, found by GeneratorPropertyTests).</summary>
    private bool _guestBound;

    /// <summary>The end of the virtual time the last run op let pass (the event loop's clock stays at its last event
    /// when nothing is queued): the timer oracle counts ticks up to it.</summary>
    private long _runLimit;

    public VirtioBackendTarget(
        string device,
        Flavour flavour,
        string description,
        Func<Simulation, Flavour, VirtioDevice> factory,
        UsedLenRule usedLenRule = UsedLenRule.Written,
        Func<VirtioDevice, NetBackend?>? transmitLink = null,
        ReadOnlyMemory<byte> initialDisk = default
    )
    {
        _transmitLink = transmitLink ?? (d => (d as VirtioNetDevice)?.Backend);
        _responses.InitialDisk = initialDisk;
        _checker.UsedLenRule = usedLenRule;
        _checker1.UsedLenRule = usedLenRule;
        // Robust targets with a response model: the request's first bytes come from the input (GuestActor).
        bool modelled = device is "virtio-demo" or "virtio-factorial" or "virtio-counter";
        _guests = new QueueGuests(fillRequests: flavour == Flavour.Robust && modelled);
        _receive = new NetReceiveOracle(_responses);
        _taint = new TaintOracle(_receive);
        _checker.CompletionObserver = flavour == Flavour.Robust ? _taint : _responses;
        ArgumentNullException.ThrowIfNull(factory);
        Device = device;
        Flavour = flavour;
        _factory = factory;
        Name = FuzzTargetName.Compose(device, FuzzTargetName.BackendQemu, flavour);
        Description =
            description
            + "; oracles permission, used-ring, hang, liveness, missed-interrupt"
            + (flavour == Flavour.Robust ? ", response, taint, config, features" : "")
            + (flavour == Flavour.Robust && device == "virtio-counter" ? ", timer" : "");
    }

    /// <summary>The device part of the name (<c>virtio-demo</c>).</summary>
    public string Device { get; }

    public Flavour Flavour { get; }

    /// <summary>Requests the response oracle judged over all executions (0 for flavours without a model).</summary>
    public long ResponsesJudged => _responses.JudgedTotal;

    /// <summary>Transmit chains whose frame the transmitq1 response oracle judged over all executions (0 but for the
    /// robust network device).</summary>
    public long TransmitJudged => _transmit.JudgedTotal;

    /// <summary>Completed chains the taint oracle searched over all executions (0 for the seed flavours).</summary>
    public long TaintSearched => _taint.SearchedTotal;

    /// <summary>Configuration reads the config oracle judged over all executions (0 for flavours without a
    /// model).</summary>
    public long ConfigJudged => _config.JudgedTotal;

    /// <summary>device_feature windows the feature oracle judged over all executions (0 for the seed
    /// flavours).</summary>
    public long FeatureWindowsJudged => _features.OfferedJudgedTotal;

    /// <summary>FEATURES_OK handshakes the feature oracle judged over all executions.</summary>
    public long HandshakesJudged => _features.HandshakesJudgedTotal;

    /// <summary>Kicks <see cref="KickedChainsOracle"/> judged over all executions (0 but for the robust demo,
    /// factorial, counter, blk and rng).</summary>
    public long KickedChainsJudged => _kicked.JudgedTotal;

    /// <summary>Counter ticks the timer oracle's reference predicted over all executions (0 but for the robust
    /// counter).</summary>
    public long TicksJudged => _ticks.TicksJudgedTotal;

    public string Name { get; }

    public string Description { get; }

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = Rings.RingInputMinimizer.Create(OperationsMax);

    /// <summary>The ring seeds; virtio-blk adds its whole-sector write then read (the structure mutator's short equal
    /// buffers never make a sector, so without it the data path of QEMU virtio_blk_handle_request goes
    /// unjudged); virtio-net its transmit chains on transmitq1 (<see cref="Qemu.NetSeeds.Transmit"/>) and frames the
    /// input makes arrive (<see cref="Qemu.NetSeeds.InputFrames"/>); virtio-demo a store, a reset and a read
    /// (<see cref="RingSeeds.DemoStoreResetRead"/>); virtio-rng a loop made available and two status writes before
    /// DRIVER_OK (<see cref="RingSeeds.RngStatusWritesBeforeDriverOk"/>); virtio-counter a full ring and one kick
    /// (<see cref="RingSeeds.CounterFullRingOneKick"/>), virtio-net a full transmitq1 and one kick
    /// (<see cref="Qemu.NetSeeds.TransmitFullRingOneKick"/>) and its largest frame
    /// (<see cref="Qemu.NetSeeds.TransmitLargestFrame"/>).</summary>
    public IEnumerable<byte[]> SeedCorpus() =>
        Device switch
        {
            "virtio-blk" => RingSeeds.Backend().Append(Qemu.BlkSeeds.WholeSectorWriteThenRead()),
            "virtio-net" => RingSeeds
                .Backend()
                .Concat(Qemu.NetSeeds.Transmit())
                .Concat(Qemu.NetSeeds.InputFrames())
                .Append(Qemu.NetSeeds.TransmitFullRingOneKick())
                .Append(Qemu.NetSeeds.TransmitLargestFrame()),
            "virtio-demo" => RingSeeds.Backend().Append(RingSeeds.DemoStoreResetRead()),
            "virtio-rng" => RingSeeds.Backend().Append(RingSeeds.RngStatusWritesBeforeDriverOk()),
            "virtio-counter" => RingSeeds.Backend().Append(RingSeeds.CounterFullRingOneKick()),
            _ => RingSeeds.Backend(),
        };

    /// <summary>One robust execution in this many (chosen by a hash of the input, so <c>--reproduce</c> runs alike)
    /// leaves the device's <see cref="VirtioDevice.Poison"/> hook null, as production does; the taint oracle then finds
    /// nothing to report in it.</summary>
    public const int UnhookedPeriod = 8;

    /// <summary>True when a robust execution of <paramref name="input"/> runs without the poison hook (one input in
    /// <see cref="UnhookedPeriod"/>). The hash's top bits: bits 40..42 picked a backend seed every robust target starts
    /// from, whose unpoisoned run then let the response model, not the taint oracle, catch a response field never set
    /// (the CI taint mutant); with these no committed seed of the demo, factorial, counter, blk or rng targets runs
    /// unhooked.</summary>
    internal static bool RunsUnhooked(ReadOnlySpan<byte> input) => (StableHash64.Of(input) >> 56) % UnhookedPeriod == 0;

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        var sim = RingSimulation.Create(EventsMax);
        context.Attach(sim); // before the rig: its register accesses are recorded too
        VirtioDevice device = _factory(sim, Flavour);
        var rig = new QemuBackendRig(sim, device, context);
        BeginOracles(sim, device, input, context);
        _syncedReady = false;
        _guestBound = false;
        _runLimit = 0;
        int size = Math.Min(header.Size, device.GetQueue(0).MaxSize);
        (ulong desc, ulong avail, ulong used) = RingInput.Place(
            header.Placement,
            size,
            unchecked((ulong)header.Placement * 0x9E37_79B9_7F4A_7C15)
        );
        // The guest writes its rings where it placed them even when the device rejects them (the queue never becomes
        // ready and Sync never re-points the guest): without this its memory is null, or a previous execution's.
        _guests.Primary.Reset(sim.Memory, desc, avail, size);
        _guests.Begin(sim.Memory, device.QueueCount, size);
        _features.Begin(device, Flavour, context);
        _ticks.Begin(device, Flavour, context, sim.Now);
        // Power-on: the guest may read the configuration before its first reset, and must see the reset state
        // (QEMU resets every device before the guest runs: qemu_system_reset at start, device_add's realize and
        // reset at hot-plug; VIRTIO 1.2 §2.1: status 0 is the reset state). This judges the constructor's bytes,
        // which the reset in Initialize would otherwise hide.
        _config.Begin(device, Flavour, _responses, context);
        JudgeConfig(rig);
        _blkMalformed.Begin(device, Flavour);
        _kicked.Begin(Device, Flavour);
        rig.Initialize(header.EventIdx, header.IndirectDesc, size, desc, avail, used);
        AfterInitialize(rig);
        // The config model takes Initialize's reset now, before any request: noted later, in the op of the first
        // request, the reset would hide that request's store.
        _config.AfterOp();
        Sync(device, sim.Memory);
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            if (op.Code < 8)
            {
                if (_guests.Selected == 0 && !_guestBound)
                    continue;
                _guests.Current.Apply(op);
                _interrupts.AfterGuest();
                continue;
            }
            if (!ApplyDeviceOp(rig, context, op))
                return FuzzOutcome.Completed;
            _blkMalformed.AfterOp(sim.Memory, context);
            JudgeNetRefusal(device); // before Sync forgets a broken device's chains
            Sync(device, sim.Memory);
            JudgeConfig(rig);
            _ticks.AfterOp(TakeTickClock(sim), sim.Now, TickGeneration(rig));
            // Device-side ops store nothing in guest memory, but a register write (a kick before ioeventfd, a status
            // or queue_enable write, a config access) can make the device process the queue synchronously and raise
            // its interrupt (QEMU virtio_queue_notify from the MMIO handler): a used.idx change here is the device's,
            // and the interrupt is delivered now, not at the next run (where it would be credited to a stale anchor).
            _interrupts.AfterDevice(rig.TakeQueueInterrupt());
        }
        if (context.Finding is null)
            Liveness(rig, sim, device, context);
        return FuzzOutcome.Completed;
    }

    /// <summary>Binds every oracle to this execution's simulation, device and input, all inactive until the guest's
    /// rings are set up (the checkers of both queues, responses, transmitted frames, taint, interrupts).</summary>
    private void BeginOracles(Simulation sim, VirtioDevice device, ReadOnlySpan<byte> input, FuzzContext context)
    {
        sim.AddMemoryObserver(_checker);
        _checker.Context = context;
        _checker.Deactivate();
        _checker1.Context = context;
        _checker1.Deactivate();
        bool multiQueue = device.QueueCount > 1;
        _checker.Peer = multiQueue ? _checker1 : null;
        _checker1.Peer = multiQueue ? _checker : null;
        if (multiQueue)
            sim.AddMemoryObserver(_checker1);
        _responses.Begin(device, Flavour, sim.Memory, context);
        NetBackend? link = Flavour == Flavour.Robust && multiQueue ? _transmitLink(device) : null;
        // The receive oracle and the log judge know the net model's receive path and log (a test device on the same
        // target has neither).
        NetBackend? modelLink = device is VirtioNetDevice ? link : null;
        _netLog.Begin(modelLink is null ? null : ((VirtioNetDevice)device).Log, context);
        _transmit.Begin(link, _netLog, sim.Memory, context);
        _receive.Begin(modelLink, _netLog, sim.Memory, context);
        _checker1.CompletionObserver = link is null ? null : _transmit;
        if (Flavour == Flavour.Robust)
        {
            _taint.Begin(device, input, sim.Memory, context);
            // A share of executions runs the device as production does, with no poison hook: code that works only
            // while the hook is installed (a turned-around `Poison?.` null check) fails here too.
            if (RunsUnhooked(input))
                device.Poison = null;
        }
        _interrupts.Context = context;
        _interrupts.Deactivate();
    }

    /// <summary>One device-side op (codes 8..15, see the class summary); false when the execution must stop (the event
    /// budget ran out).</summary>
    private bool ApplyDeviceOp(QemuBackendRig rig, FuzzContext context, in RingInput.Op op)
    {
        switch (op.Code)
        {
            case 8:
                NoteKick(rig);
                rig.Kick(_guests.Selected);
                break;
            case 9:
                return Run(rig, context, 1 + (op.Index % 8));
            case 10:
            {
                _kicked.Forget();
                _checker.Deactivate();
                _checker1.Deactivate();
                _interrupts.Deactivate();
                _syncedReady = false;
                _guests.Invalidate();
                int s = Math.Min(1 << (op.Index % (RingInput.SizeLogMax + 1)), rig.Device.GetQueue(0).MaxSize);
                (ulong desc, ulong avail, ulong used) = RingInput.Place(op.Next, s, op.RawAddr);
                rig.Initialize((op.Flags & 1) != 0, (op.Flags & 2) == 0, s, desc, avail, used);
                AfterInitialize(rig);
                break;
            }
            case 11:
                _kicked.Forget();
                CommonWrite(rig, op.Index % 0x38, 1 << (op.Flags & 3), op.RawAddr);
                break;
            case 12:
                DeviceConfig(rig, op);
                break;
            case RingInput.OpInjectFrame:
                // virtio-net: a frame arrives from the link now. Other devices: read the selected device_feature
                // window (a read changes nothing, so corpora from when op 13 did nothing decode the same).
                if (rig.Device is VirtioNetDevice net)
                {
                    byte[] frame = InjectedFrame.From(op);
                    _receive.Injected(frame);
                    net.InjectFrame(frame);
                    _receive.AfterInjection(net, rig.Transport.BusMasterEnabled);
                }
                else
                    ReadFeatureWindow(rig);
                break;
            case 14:
                NoteKick(rig);
                rig.Kick(_guests.Selected);
                return Run(rig, context, 1);
            case RingInput.OpSelectQueue:
                _guests.Select(op.Index);
                break;
            default:
                break;
        }
        return true;
    }

    /// <summary>The driver's checks after its initialisation (VIRTIO 1.2 §3.1.1): it read device_feature through
    /// windows 0, 1 and 2 (step 4) and device_status after setting FEATURES_OK (step 6), judged by
    /// <see cref="FeatureOracle"/>; the robust counter's timer was armed at DRIVER_OK (<see cref="TimerTickOracle"/>).
    /// Robust flavours only (a seed flavour's driver does nothing more).</summary>
    private void AfterInitialize(QemuBackendRig rig)
    {
        _ticks.AfterOp(TakeTickClock(rig.Simulation), rig.Simulation.Now, TickGeneration(rig));
        if (!_features.IsActive)
            return;
        for (uint select = 0; select <= 2; select++)
        {
            rig.Common(L.CommonDeviceFeatureSelect, 4, select);
            _features.JudgeOffered(select, rig.CommonRead32(L.CommonDeviceFeature));
        }
        const VirtioStatus Before = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        _features.JudgeStatusWrite(Before, (byte)(Before | VirtioStatus.FeaturesOk), rig.ReadStatus());
    }

    /// <summary>Ops 8 and 14: the kick <see cref="KickedChainsOracle"/> remembers (queue 0 while the target's checker
    /// watches it; queue 1 while its checker does).</summary>
    private void NoteKick(QemuBackendRig rig)
    {
        int queue = _guests.Selected;
        bool watched = queue == 0 ? _syncedReady : queue == 1 && _checker1.Active;
        _kicked.Kicked(rig.Device, rig.Simulation.Memory, queue, watched);
    }

    /// <summary>Op 11: one common-configuration write. A write to device_feature_select is followed by the driver's
    /// read of that window (whatever it selected, §4.1.4.3), a one-byte write to device_status by its read back (§3.1.1
    /// step 6), each judged by <see cref="FeatureOracle"/>.</summary>
    private void CommonWrite(QemuBackendRig rig, int offset, int size, ulong value)
    {
        if (!_features.IsActive)
        {
            rig.Common(offset, size, value);
            return;
        }
        VirtioStatus before = offset == L.CommonDeviceStatus && size == 1 ? rig.ReadStatus() : default;
        bool wasBroken = rig.Device.IsBroken;
        rig.Common(offset, size, value);
        if (offset == L.CommonDeviceFeatureSelect)
            ReadFeatureWindow(rig);
        else if (offset == L.CommonDeviceStatus && size == 1)
            _features.JudgeStatusWrite(before, Sim.Engine.Narrow.LowByte(value), rig.ReadStatus(), wasBroken);
    }

    /// <summary>Op 13 (and after a device_feature_select write): the driver reads device_feature_select and the
    /// device_feature window it selects, judged by <see cref="FeatureOracle"/> (robust flavours).</summary>
    private void ReadFeatureWindow(QemuBackendRig rig)
    {
        if (!_features.IsActive)
            return;
        uint select = rig.CommonRead32(L.CommonDeviceFeatureSelect);
        _features.JudgeOffered(select, rig.CommonRead32(L.CommonDeviceFeature));
    }

    /// <summary>config_generation as the driver reads it, for <see cref="TimerTickOracle"/> (0 without a read when
    /// that oracle is off).</summary>
    /// <summary>Where the timer oracle counts ticks up to: the limit of the run op just done (then forgotten), else
    /// the clock (no time passes in any other op).</summary>
    private long TakeTickClock(Simulation sim)
    {
        long until = Math.Max(sim.Now, _runLimit);
        _runLimit = 0;
        return until;
    }

    private byte TickGeneration(QemuBackendRig rig) => _ticks.IsActive ? rig.ConfigGeneration() : (byte)0;

    /// <summary>Op 12: one device-configuration write or read; a read is judged by <see cref="ConfigSpaceOracle"/>
    /// (as the whole configuration is after every device-side op, <see cref="JudgeConfig"/>).</summary>
    private void DeviceConfig(QemuBackendRig rig, RingInput.Op op)
    {
        int size = 1 << ((op.Flags >> 1) & 3);
        Span<byte> b = stackalloc byte[8];
        if ((op.Flags & 1) != 0)
        {
            _config.AfterOp();
            rig.DeviceConfigWrite(op.Index, size, op.RawLen);
            BinaryPrimitives.WriteUInt64LittleEndian(b, op.RawLen);
            _config.AfterWrite(op.Index, b[..size]);
            return;
        }
        rig.DeviceConfigRead(op.Index, b[..size]);
        _config.AfterOp();
        _config.JudgeAccess(op.Index, b[..size]);
    }

    /// <summary>After each device-side op the driver reads the whole device configuration (what its config-change
    /// handler would do; reading has no effect a guest could see), so a write, a request or a reset that changed it is
    /// judged at once by <see cref="ConfigSpaceOracle"/> (robust flavours with a model only).</summary>
    private void JudgeConfig(QemuBackendRig rig)
    {
        _config.AfterOp();
        if (!_config.IsActive)
            return;
        Span<byte> all = _config.ReadBuffer;
        byte generation = rig.ReadDeviceConfig(all, out bool stable);
        _config.JudgeSnapshot(all, generation, stable);
    }

    /// <summary>A network device that broke with a chain in flight must have had a reason (<see
    /// cref="NetReceiveOracle.AfterDeviceOp"/>).</summary>
    private void JudgeNetRefusal(VirtioDevice device)
    {
        if (device is VirtioNetDevice net)
            _receive.AfterDeviceOp(net, _checker, _checker1);
    }

    /// <summary>Follows the queue the guest programmed: the checker judges the rings the device actually
    /// uses.</summary>
    private void Sync(VirtioDevice device, GuestMemory memory)
    {
        SyncSecondary(device, memory);
        SplitQueue q = device.GetQueue(0);
        bool ready = q.Ready && device.DriverOk && !device.IsBroken;
        if (!ready)
        {
            _kicked.Forget();
            if (_syncedReady)
                _checker.Deactivate();
            _interrupts.Deactivate();
            _syncedReady = false;
            return;
        }
        SplitQueueState state = q.Capture();
        if (
            _syncedReady
            && state.Size == _synced.Size
            && state.DescTable == _synced.DescTable
            && state.AvailRing == _synced.AvailRing
            && state.UsedRing == _synced.UsedRing
        )
            return;
        _kicked.Forget(); // new rings: a kick of the old ones owes nothing here
        _responses.Resync(); // completions while the checker was not watching were not judged
        _receive.Resync();
        _netLog.Resync();
        _checker.Configure(
            memory,
            state.DescTable.Value,
            state.AvailRing.Value,
            state.UsedRing.Value,
            state.Size,
            state.UsedIdx.Value
        );
        _guests.Primary.Reset(memory, state.DescTable.Value, state.AvailRing.Value, state.Size);
        _guestBound = true;
        _interrupts.Configure(
            memory,
            state.AvailRing.Value,
            state.UsedRing.Value,
            state.Size,
            device.HasFeature(VirtioSpec.FEventIdx)
        );
        _synced = state;
        _syncedReady = true;
    }

    /// <summary>Queue 1 of a multi-queue device: its guest follows the rings the device uses and its checker judges
    /// them (permission and used-ring oracles; the response and liveness oracles stay on queue 0).</summary>
    private void SyncSecondary(VirtioDevice device, GuestMemory memory)
    {
        foreach (SplitQueueState s in _guests.SyncSecondary(device, memory))
        {
            _kicked.Forget(); // new rings: a kick of the old ones owes nothing here
            _transmit.Resync(); // completions while the checker was not watching were not judged
            _netLog.Resync();
            _checker1.Configure(
                memory,
                s.DescTable.Value,
                s.AvailRing.Value,
                s.UsedRing.Value,
                s.Size,
                s.UsedIdx.Value
            );
        }
        if (device.QueueCount > 1)
        {
            SplitQueue q1 = device.GetQueue(1);
            if (!(q1.Ready && device.DriverOk && !device.IsBroken))
                _checker1.Deactivate();
        }
    }

    private bool Run(QemuBackendRig rig, FuzzContext context, int windows)
    {
        Simulation sim = rig.Simulation;
        _runLimit = sim.Now + (windows * RunWindowNs);
        StopReason reason = sim.Loop.Run(_runLimit);
        _interrupts.AfterDevice(rig.TakeQueueInterrupt());
        if (reason != StopReason.EventLimit)
            return true;
        context.ReportHang(
            "hang/event-budget",
            $"the simulation used its {EventsMax} events without the guest acting (a device loop that never yields)"
        );
        return false;
    }

    /// <summary>Oracle 5: the guest stops submitting and kicks once (each queue: a multi-queue device's queue 1 too,
    /// virtio-net's transmitq1); after the device has run, every available chain is consumed and every fetched one
    /// completed, or the device is broken (NEEDS_RESET); and the interrupt the driver's suppression state asks for was
    /// delivered (<see cref="MissedInterruptOracle"/>, queue 0). When the guest published nothing since its last kick
    /// of queue 0, a device that serves the whole ring at a kick is judged first, without the final kick
    /// (<see cref="KickedChainsOracle"/>).</summary>
    private void Liveness(QemuBackendRig rig, Simulation sim, VirtioDevice device, FuzzContext context)
    {
        if (!_syncedReady)
            return;
        if (_kicked.IsPending)
        {
            // The guest published nothing since its last kick: the device must have served it without the final
            // kick below, which the driver does not owe (KickedChainsOracle).
            if (!Run(rig, context, 1))
                return;
            _kicked.Judge(device, sim.Memory, context);
            if (context.Finding is not null)
                return;
        }
        rig.Kick();
        bool second = device.QueueCount > 1 && device.GetQueue(1).Ready;
        if (second)
            rig.Kick(1);
        if (!Run(rig, context, 8))
            return;
        JudgeNetRefusal(device);
        if (context.Finding is not null)
            return;
        _ticks.AfterOp(TakeTickClock(sim), sim.Now, TickGeneration(rig));
        Sync(device, sim.Memory);
        if (device.IsBroken || !_syncedReady || context.Finding is not null)
            return;
        _interrupts.Final();
        if (context.Finding is not null)
            return;
        QueueLiveness(sim, device.GetQueue(0), 0, _checker, context);
        if (second && context.Finding is null && device.GetQueue(1).Ready)
            QueueLiveness(sim, device.GetQueue(1), 1, _checker1, context);
    }

    /// <summary>One queue's half of <see cref="Liveness"/>: nothing left available that the device stopped short of,
    /// nothing fetched and never completed. <paramref name="index"/> is 0 or 1 (the only second queue a target sets
    /// up, virtio-net's transmitq1), named in the site (<c>liveness/queue1-…</c>).</summary>
    private static void QueueLiveness(
        Simulation sim,
        SplitQueue q,
        int index,
        VirtqueueChecker checker,
        FuzzContext context
    )
    {
        string queue = index == 0 ? "" : $" (queue {index})";
        if (!sim.Memory.TryGetSpan(new GuestAddress(q.AvailRing.Value + 2), 2, out Span<byte> raw))
            return;
        ushort availIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        if (q.NextAvail.Value != availIdx && RingIndex.Distance(q.NextAvail, new RingIndex(availIdx)) <= q.Size)
        {
            context.Report(
                "liveness",
                index == 0 ? "liveness/available-chain-not-consumed" : "liveness/queue1-available-chain-not-consumed",
                $"after the guest stopped and kicked, avail.idx is {availIdx} but the device stopped at "
                    + $"{q.NextAvail.Value} "
                    + $"and is not broken{queue}"
            );
        }
        else if (q.InUse != 0 || checker.InFlight != 0)
        {
            context.Report(
                "liveness",
                index == 0 ? "liveness/chain-never-completed" : "liveness/queue1-chain-never-completed",
                $"after the guest stopped and kicked, {Math.Max(q.InUse, checker.InFlight)} fetched chains were never "
                    + $"completed and the device is not broken{queue}"
            );
        }
    }
}
