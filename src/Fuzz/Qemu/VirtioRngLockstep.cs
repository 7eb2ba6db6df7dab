using System.Globalization;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Targets.Rings;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Machine.Simulation;
using Sim.Engine.Memory;
using Sim.Spec.Rng;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Runs one <see cref="RingInput"/> v1 input — the byte format of <c>virtio-rng-qemu-robust</c>, decoded with the rules
/// of <see cref="Targets.VirtioBackendTarget"/> and the ring relocation of <see cref="VirtioBlkLockstep.Relocate"/> —
/// on our robust rng model (<see cref="ModelRngRig"/>) and on QEMU's virtio-rng-pci in lockstep: one
/// <see cref="GuestActor"/> plays the guest on the model's memory and every byte it stores is mirrored into QEMU's RAM
/// as a qtest <c>write</c>. Device ops as in the blk lockstep: 8 kick, 9 run, 10 reset and re-initialise, 11
/// common-config write, 12 device-config access (the rng has no configuration), 14 kick + run.
/// <para>A kick: QEMU's handle_input runs inside the notify write (ioeventfd off) and asks the rng-builtin backend for
/// entropy (virtio_rng_process → rng_backend_request_entropy); the backend answers in a bottom half
/// (rng_builtin_receive_entropy_bh → chr_read), which runs only when QEMU's main loop turns, and chr_read asks again
/// while the queue is not empty. So each kick ends a qtest batch, and QEMU's used.idx is read until it equals the
/// model's (each read is a round trip that lets the main loop turn), at most <see cref="SettleReadsMax"/> times.</para>
/// </summary>
public sealed class VirtioRngLockstep : IMemoryObserver
{
    public const int OperationsMax = VirtioBlkLockstep.OperationsMax;
    public const int MemoryBytes = VirtioBlkLockstep.MemoryBytes;

    /// <summary>used.idx reads after a kick before the difference stands (each lets QEMU's main loop turn once).</summary>
    public const int SettleReadsMax = 8;

    /// <summary>Model simulation events per execution before the model counts as hung.</summary>
    public const long EventsMax = VirtioBlkLockstep.EventsMax;

    private readonly GuestActor _guest = new();
    private QemuMachine? _qemu;
    private QemuVirtioPci? _pci;
    private ulong _notify;
    private SplitQueueState _synced;
    private bool _syncedReady;
    private bool _indirect;
    private bool _guestTouchedStatusOrFeatures;
    private bool[]? _entropy;
    private string[]? _observeCommands;

    public ModelRngRig? Model { get; private set; }

    /// <summary>Every used ring (address, size) the model's queue was given during the last run.</summary>
    public List<(ulong Address, int Size)> UsedRingsSeen { get; } = [];

    /// <summary>The facts of the last run that rows of <see cref="RngQemu72Differences"/> rest on.</summary>
    public RngRunFacts Facts { get; } = new();

    /// <summary>Kicks whose used.idx needed more than one read to agree (QEMU's backend answered late).</summary>
    public long LateSettles { get; private set; }

    public QemuVirtioPci Pci => _pci ?? throw new InvalidOperationException("not attached");

    /// <summary>Binds the QEMU half (after a (re)start): finds and maps the device, learns queue 0's doorbell.</summary>
    public void Attach(QemuMachine qemu)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        _qemu = qemu;
        _pci = QemuVirtioPci.Discover(qemu.Qtest, RngSpec.DeviceId);
        _observeCommands = null;
        _pci.CommonWrite(L.CommonQueueSelect, 2, 0);
        _notify = _pci.NotifyAddress(unchecked((ushort)_pci.CommonRead(L.CommonQueueNotifyOff, 2)));
    }

    /// <summary>Device reset (status 0) and RAM [0, 64 KiB) cleared; <paramref name="wait"/> waits for the answers
    /// (after a (re)start and on the careful re-run), else they go out with the next input's first batch.</summary>
    public void ResetQemu(bool wait)
    {
        QemuMachine q = _qemu!;
        Pci.CommonWrite(L.CommonDeviceStatus, 1, 0);
        q.Qtest.Memset(0, RingInput.MemorySize, 0);
        if (!wait) return;
        q.Qtest.Sync();
        q.Qtest.TakeFailures();
        q.ClearStderr();
    }

    /// <summary>Runs <paramref name="input"/> on both halves and fills the observations; queues QEMU's reset for the
    /// next input at the end.</summary>
    public void Run(ReadOnlySpan<byte> input, RngObservation model, RngObservation qemu, Targets.FuzzContext? context = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(qemu);
        QemuMachine q = _qemu!;
        q.ClearStderr();
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        Simulation sim = RingSimulation.Create(EventsMax);
        context?.Attach(sim);
        var rig = new ModelRngRig(sim, context);
        Model = rig;
        _entropy = model.Entropy;
        Array.Clear(_entropy);
        sim.AddMemoryObserver(this);
        _syncedReady = false;
        _guestTouchedStatusOrFeatures = false;
        UsedRingsSeen.Clear();
        Facts.Clear();
        int size = Math.Min(header.Size, rig.Device.GetQueue(0).MaxSize);
        (ulong desc, ulong avail, ulong used) = VirtioBlkLockstep.Relocate(RingInput.Place(header.Placement, size, unchecked((ulong)header.Placement * 0x9E37_79B9_7F4A_7C15)));
        _guest.Reset(sim.Memory, desc, avail, size);
        Initialize(rig, header.EventIdx, header.IndirectDesc, size, desc, avail, used);
        Sync(rig);
        for (int n = 0; n < OperationsMax && !reader.IsExhausted; n++)
        {
            context?.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            if (op.Code < 8)
            {
                _guest.Apply(op);
                continue;
            }
            switch (op.Code)
            {
                case 8:
                case 14:
                    Kick(rig);
                    if (op.Code == 14) sim.Loop.Run(sim.Now + Targets.VirtioBackendTarget.RunWindowNs);
                    break;
                case 9:
                    sim.Loop.Run(sim.Now + ((1 + (op.Index % 8)) * Targets.VirtioBackendTarget.RunWindowNs));
                    break;
                case 10:
                    {
                        _syncedReady = false;
                        int s = Math.Min(1 << (op.Index % (RingInput.SizeLogMax + 1)), rig.Device.GetQueue(0).MaxSize);
                        (desc, avail, used) = VirtioBlkLockstep.Relocate(RingInput.Place(op.Next, s, op.RawAddr));
                        Initialize(rig, (op.Flags & 1) != 0, (op.Flags & 2) == 0, s, desc, avail, used);
                        break;
                    }
                case 11:
                    {
                        int offset = op.Index % 0x38;
                        int width = 1 << (op.Flags & 3);
                        _guestTouchedStatusOrFeatures |= offset < L.CommonDeviceStatus + 1 && offset + width > L.CommonDriverFeatureSelect;
                        Facts.UnalignedRegisterWrite |= offset % width != 0;
                        Facts.DriverWroteStatus |= offset <= L.CommonDeviceStatus && offset + width > L.CommonDeviceStatus;
                        int queueSize = rig.Device.GetQueue(0).Size;
                        bool resized = VirtioBlkLockstep.QemuResizesQueue(offset, width, op.RawAddr, queueSize);
                        Facts.QueueSizeRewritten |= resized;
                        Common(rig, offset, width, op.RawAddr);
                        break;
                    }
                case 12:
                    {
                        int width = 1 << ((op.Flags >> 1) & 3);
                        if ((op.Flags & 1) != 0)
                        {
                            rig.DeviceConfigWrite(op.Index, width, op.RawLen);
                            q.Qtest.Write(Pci.DeviceAddress + op.Index, width, op.RawLen);
                        }
                        else
                        {
                            rig.DeviceConfigRead(op.Index, width);
                            q.Qtest.Read(Pci.DeviceAddress + op.Index, width);
                        }
                        break;
                    }
                default:
                    break;
            }
            Sync(rig);
        }
        NoteBroken(rig);
        Facts.Refused = rig.Device.Refused;
        Observe(rig, model);
        ObserveQemu(q, qemu);
        bool bit = (qemu.DeviceStatus & (byte)VirtioStatus.DeviceNeedsReset) != 0;
        qemu.Broken = _guestTouchedStatusOrFeatures ? q.Qmp.Broken(QemuCommandLine.RngVirtioBackendPath) : bit;
        qemu.BrokenReason = qemu.Broken ? VirtioBlkLockstep.LastLine(q.Stderr) : null;
        ResetQemu(wait: false);
    }

    private void NoteBroken(ModelRngRig rig)
    {
        Facts.ModelEverBroken |= rig.Device.IsBroken;
        if (rig.Device.IsBroken && rig.Device.BrokenReason is { } r && !Facts.ModelBrokenReasons.Contains(r)) Facts.ModelBrokenReasons.Add(r);
    }

    private void Initialize(ModelRngRig rig, bool eventIdx, bool indirect, int size, ulong desc, ulong avail, ulong used)
    {
        byte s0 = (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        byte s1 = (byte)(s0 | (byte)VirtioStatus.FeaturesOk);
        byte s2 = (byte)(s1 | (byte)VirtioStatus.DriverOk);
        NoteBroken(rig);
        _indirect = indirect;
        ulong features = (1UL << VirtioSpec.FVersion1) | (eventIdx ? 1UL << VirtioSpec.FEventIdx : 0) | (indirect ? 1UL << VirtioSpec.FIndirectDesc : 0);
        Common(rig, L.CommonDeviceStatus, 1, 0);
        Common(rig, L.CommonDeviceStatus, 1, s0);
        Common(rig, L.CommonDriverFeatureSelect, 4, 0);
        Common(rig, L.CommonDriverFeature, 4, unchecked((uint)features));
        Common(rig, L.CommonDriverFeatureSelect, 4, 1);
        Common(rig, L.CommonDriverFeature, 4, features >> 32);
        Common(rig, L.CommonDeviceStatus, 1, s1);
        Common(rig, L.CommonQueueSelect, 2, 0);
        Common(rig, L.CommonQueueSize, 2, unchecked((ulong)size));
        Common(rig, L.CommonQueueDesc, 8, desc);
        Common(rig, L.CommonQueueDriver, 8, avail);
        Common(rig, L.CommonQueueDevice, 8, used);
        Common(rig, L.CommonQueueEnable, 2, 1);
        // QEMU 7.2 looks at the queue when DRIVER_OK is written (virtio_rng_set_status → virtio_rng_process): an avail.idx
        // the memory still holds from an earlier initialisation sizes an entropy request then; the model waits for a kick.
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            Facts.StaleAvailAtDriverOk |= memory.TryReadUInt16(new GuestAddress(avail + 2), out ushort idx) && idx != 0;
        }
        Common(rig, L.CommonDeviceStatus, 1, s2);
    }

    private void Common(ModelRngRig rig, int offset, int size, ulong value)
    {
        rig.Common(offset, size, value);
        Pci.CommonWrite(offset, size, value);
    }

    private void Kick(ModelRngRig rig)
    {
        Facts.KickBeforeDriverOk |= !rig.Device.DriverOk && !rig.Device.IsBroken;
        if (!Facts.BuffersOverlapInKick && rig.Device.DriverOk && !rig.Device.IsBroken)
        {
            Facts.BuffersOverlapInKick = KickOverlap.WritableOverlapsOther(rig.Simulation.Memory, rig.Device.GetQueue(0), _indirect);
        }
        rig.Kick();
        NoteBroken(rig);
        QemuMachine q = _qemu!;
        q.Qtest.Write(_notify, 2, 0);
        q.Qtest.Sync();
        if (ModelUsedIdx(rig) is not { } expected) return;
        ulong at = rig.Device.GetQueue(0).UsedRing.Value + 2;
        for (int n = 0; n < SettleReadsMax; n++)
        {
            if (q.Qtest.Read(at, 2) == expected) return;
            if (n == 0) LateSettles++;
        }
    }

    private static ushort? ModelUsedIdx(ModelRngRig rig)
    {
        SplitQueue queue = rig.Device.GetQueue(0);
        if (!queue.Ready) return null;
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            return memory.TryReadUInt16(new GuestAddress(queue.UsedRing.Value + 2), out ushort idx) ? idx : null;
        }
    }

    /// <summary>Follows the queue the model has: the guest writes the rings the model's device uses.</summary>
    private void Sync(ModelRngRig rig)
    {
        SplitQueue queue = rig.Device.GetQueue(0);
        NoteBroken(rig);
        if (!(queue.Ready && rig.Device.DriverOk && !rig.Device.IsBroken))
        {
            _syncedReady = false;
            return;
        }
        SplitQueueState state = queue.Capture();
        if (_syncedReady && state.Size == _synced.Size && state.DescTable == _synced.DescTable && state.AvailRing == _synced.AvailRing && state.UsedRing == _synced.UsedRing) return;
        _guest.Reset(rig.Simulation.Memory, state.DescTable.Value, state.AvailRing.Value, state.Size);
        if (!UsedRingsSeen.Contains((state.UsedRing.Value, state.Size))) UsedRingsSeen.Add((state.UsedRing.Value, state.Size));
        Facts.RingsOverlap |= KickOverlap.RingsOverlap(state);
        _synced = state;
        _syncedReady = true;
    }

    private void Observe(ModelRngRig rig, RngObservation o)
    {
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            memory.TryRead(new GuestAddress(0), o.Memory.AsSpan(0, (int)RingInput.RegionSize));
            memory.TryRead(new GuestAddress(RingInput.RegionSize), o.Memory.AsSpan((int)RingInput.RegionSize));
        }
        // Used rings are compared byte for byte (id, len, idx, flags, avail_event): only buffer bytes are entropy.
        foreach ((ulong address, int size) in UsedRingsSeen)
        {
            ulong end = Math.Min((ulong)MemoryBytes, address + 6 + (8UL * (ulong)size));
            for (ulong a = address; a < end; a++) o.Entropy[a] = false;
        }
        o.Broken = rig.Device.IsBroken;
        o.BrokenReason = rig.Device.BrokenReason;
        o.DeviceStatus = unchecked((byte)rig.CommonRead(L.CommonDeviceStatus, 1));
        o.Isr = rig.ReadIsr();
    }

    /// <summary>QEMU's side in one round trip: status, ISR, RAM [0, 64 KiB). Broken is decided by the caller.</summary>
    private void ObserveQemu(QemuMachine q, RngObservation o)
    {
        ulong[] values = q.Qtest.QueryAllThenBytes(_observeCommands ??= [string.Create(CultureInfo.InvariantCulture, $"readb 0x{Pci.CommonAddress + L.CommonDeviceStatus:x}"), string.Create(CultureInfo.InvariantCulture, $"readb 0x{Pci.IsrAddress:x}")], 0, o.Memory, out bool memoryRead);
        o.DeviceStatus = unchecked((byte)values[0]);
        o.Isr = unchecked((byte)values[1]);
        if (!memoryRead) throw new QemuDiedException("qtest refused to read guest RAM [0, 64 KiB)");
    }

    /// <summary>Guest stores go to QEMU too; the device's stores mark entropy bytes (used rings are unmarked at the end).</summary>
    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor == MemoryActor.Guest)
        {
            _qemu!.Qtest.WriteBytes(address.Value, data);
            return;
        }
        if (actor != MemoryActor.Device || _entropy is null || address.Value >= (ulong)MemoryBytes) return;
        int end = (int)Math.Min((ulong)MemoryBytes, address.Value + (ulong)data.Length);
        for (int a = (int)address.Value; a < end; a++) _entropy[a] = true;
    }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
    }
}
