using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The operation loop every real-QEMU lockstep shares: it decodes one <see cref="RingInput"/> v1 input with the rules
/// of <see cref="Targets.VirtioBackendTarget"/> (plus <see cref="Relocate"/>) and performs its typed operations on a
/// model rig (<see cref="ModelVirtioRig"/>) and, as qtest writes, on QEMU's device of the same kind. One
/// <see cref="GuestActor"/> plays the guest on the model's memory; every byte it stores is mirrored into QEMU's RAM as
/// a qtest <c>write</c>, batched with the register writes that follow. Ops 0..7 edit rings and memory; 8 kick, 9 run
/// the model's clock, 10 reset and re-initialise with a feature change, 11 common-config write, 12 device-config
/// access, 13 the device's own event (<see cref="ILockstepDevice.DeviceEvent"/>: net, a frame from the link), 14 kick +
/// run, 15 select the queue later ring ops and kicks act on
/// (<see cref="RingInput.OpSelectQueue"/>). The driver initialisation (status, VERSION_1 + the input's EVENT_IDX /
/// INDIRECT_DESC, a multi-queue device's other queues on their fixed rings, queue 0's size and rings, enable,
/// DRIVER_OK) is the same for every device.
/// <para>What differs per device is an <see cref="ILockstepDevice"/>: how QEMU settles after a kick, a look at memory
/// before DRIVER_OK, and what the model device's own stores mean. A new device's lockstep (virtio-net, …) owns a
/// driver, gives it its hooks and facts, builds its rig per input and calls <see cref="Run"/>; then it observes both
/// halves. The driver records the <see cref="LockstepFacts"/> the difference tables rest on.</para>
/// </summary>
internal sealed class LockstepDriver : IMemoryObserver
{
    /// <summary>Operations one input performs at most.</summary>
    public const int OperationsMax = 128;

    /// <summary>Where relocated rings start: after the rings' default area, before the indirect tables
    /// (<see cref="RingInput.IndirectBase"/>); a 256-entry queue's three rings end below 0x3C10.</summary>
    public const ulong RingShift = 0x2000;

    private readonly QueueGuests _guests = new();
    private readonly ILockstepDevice _device;
    private QemuMachine? _qemu;
    private QemuVirtioPci? _pci;
    private ModelVirtioRig? _rig;
    private readonly ulong[] _notify = new ulong[RingInput.PlacedQueuesMax];
    private SplitQueueState _synced;
    private bool _syncedReady;

    public LockstepDriver(ILockstepDevice device, LockstepFacts facts)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(facts);
        _device = device;
        Facts = facts;
    }

    /// <summary>Facts of the last run (cleared by <see cref="Run"/>).</summary>
    public LockstepFacts Facts { get; }

    /// <summary>Every used ring (address, size) the model's queue was given during the last run.</summary>
    public List<(ulong Address, int Size)> UsedRingsSeen { get; } = [];

    /// <summary>Whether the last initialisation of the run negotiated INDIRECT_DESC.</summary>
    public bool Indirect { get; private set; }

    public QemuVirtioPci Pci => _pci ?? throw new InvalidOperationException("not attached");

    public QemuMachine Qemu => _qemu ?? throw new InvalidOperationException("not attached");

    /// <summary>The rule that differs from the model targets' decoding: rings the format packs at guest address 0
    /// start at <see cref="RingShift"/> instead, on both halves. QEMU 7.2 takes a descriptor table or an available
    /// ring at 0 for "no ring" (virtio_queue_notify returns when <c>!vq-&gt;vring.desc</c>; virtio_queue_empty_rcu
    /// and virtio_queue_split_empty report an empty queue when <c>!vq-&gt;vring.avail</c>), so with either at 0
    /// nothing would ever run there while the model pops.</summary>
    public static (ulong Desc, ulong Avail, ulong Used) Relocate((ulong Desc, ulong Avail, ulong Used) rings) =>
        rings.Desc == 0 || rings.Avail == 0
            ? (rings.Desc + RingShift, rings.Avail + RingShift, rings.Used + RingShift)
            : rings;

    /// <summary>True when QEMU 7.2 takes a common-config write of <paramref name="width"/> bytes at
    /// <paramref name="offset"/> as a new size for a queue of <paramref name="size"/>: virtio_pci_common_write (its
    /// region takes 1- to 4-byte accesses, a wider one in 4-byte pieces) stores the piece at queue_size into the
    /// uint16_t VirtIOPCIQueue.num, one byte wide included, and virtio_queue_set_num accepts it unless it is 0 or
    /// above VIRTQUEUE_MAX_SIZE (1024). A one-byte write of 0x99 makes a queue of 153 whose rings stay mapped for
    /// the old size ("Cannot map descriptor ring").</summary>
    public static bool QemuResizesQueue(int offset, int width, ulong raw, int size)
    {
        if (offset != L.CommonQueueSize)
            return false;
        ulong value = width == 1 ? raw & 0xff : raw & 0xffff;
        return value is not 0 and <= QemuQueueSizeMax && value != (ulong)size;
    }

    /// <summary>QEMU 7.2 VIRTQUEUE_MAX_SIZE (hw/virtio/virtio.c).</summary>
    public const int QemuQueueSizeMax = 1024;

    /// <summary>Binds the QEMU half (after a (re)start): finds the virtio device <paramref name="virtioId"/>, maps it
    /// and learns queue 0's doorbell.</summary>
    public void Attach(QemuMachine qemu, ushort virtioId)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        _qemu = qemu;
        _pci = QemuVirtioPci.Discover(qemu.Qtest, virtioId);
        int queues = (int)Math.Min((ulong)RingInput.PlacedQueuesMax, _pci.CommonRead(L.CommonNumQueues, 2));
        for (int q = queues - 1; q >= 0; q--)
        {
            _pci.CommonWrite(L.CommonQueueSelect, 2, Narrow.AsUInt64Bits(q));
            _notify[q] = _pci.NotifyAddress(Narrow.LowUInt16(_pci.CommonRead(L.CommonQueueNotifyOff, 2)));
        }
    }

    /// <summary>QEMU's reset between inputs (issue 15: a device reset and clearing the memory used, not a restart):
    /// status 0 and RAM [0, 64 KiB) cleared; <paramref name="wait"/> waits for the answers (after a (re)start and
    /// before a re-run) and forgets refused commands and stderr, else they go out with the next input's first
    /// batch.</summary>
    public void ResetQemu(bool wait)
    {
        QemuMachine q = Qemu;
        Pci.CommonWrite(L.CommonDeviceStatus, 1, 0);
        q.Qtest.Memset(0, RingInput.MemorySize, 0);
        if (!wait)
            return;
        q.Qtest.Sync();
        q.Qtest.TakeFailures();
        q.ClearStderr();
    }

    /// <summary>The queue the last kick notified (0, or what <see cref="RingInput.OpSelectQueue"/> selected): read
    /// by <see cref="ILockstepDevice.Settle"/>.</summary>
    public int KickedQueue { get; private set; }

    /// <summary>Performs <paramref name="input"/> on <paramref name="rig"/> (built on a fresh simulation) and on
    /// QEMU. Sends nothing it need not: what is batched at the end goes out with the caller's observation.</summary>
    public void Run(ReadOnlySpan<byte> input, ModelVirtioRig rig, Targets.FuzzContext? context)
    {
        ArgumentNullException.ThrowIfNull(rig);
        _rig = rig;
        Simulation sim = rig.Simulation;
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        sim.AddMemoryObserver(this);
        _syncedReady = false;
        UsedRingsSeen.Clear();
        Facts.Clear();
        int size = Math.Min(header.Size, rig.VirtioDevice.GetQueue(0).MaxSize);
        ulong scatter = unchecked((ulong)header.Placement * 0x9E37_79B9_7F4A_7C15);
        (ulong desc, ulong avail, ulong used) = Relocate(RingInput.Place(header.Placement, size, scatter));
        // The guest writes its rings where it placed them even when the device rejects them (the queue never becomes
        // ready and Sync never re-points the guest): without this its memory is null, or a previous execution's.
        _guests.Primary.Reset(sim.Memory, desc, avail, size);
        _guests.Begin(sim.Memory, rig.VirtioDevice.QueueCount, size);
        Initialize(header.EventIdx, header.IndirectDesc, size, desc, avail, used);
        Sync();
        for (int n = 0; n < OperationsMax && !reader.IsExhausted; n++)
        {
            context?.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            Facts.ChainsWaitedUnkicked |= op.Code is not (8 or 14) && ChainsWaiting();
            if (op.Code < 8)
            {
                _guests.Current.Apply(op);
                continue;
            }
            Apply(op);
            Sync();
        }
        NoteBroken();
        Facts.ChainsWaitedUnkicked |= ChainsWaiting();
    }

    /// <summary>The model's queue is live and avail.idx in memory is ahead of what it took: chains wait for a
    /// kick.</summary>
    private bool ChainsWaiting()
    {
        VirtioDevice device = _rig!.VirtioDevice;
        SplitQueue queue = device.GetQueue(0);
        if (!queue.Ready || !device.DriverOk || device.IsBroken)
            return false;
        GuestMemory memory = _rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            return memory.TryReadUInt16(new GuestAddress(queue.AvailRing.Value + 2), out ushort idx)
                && idx != queue.NextAvail.Value;
        }
    }

    private void Apply(RingInput.Op op)
    {
        ModelVirtioRig rig = _rig!;
        Simulation sim = rig.Simulation;
        switch (op.Code)
        {
            case 8:
            case 14:
                Kick();
                if (op.Code == 14)
                    sim.Loop.Run(sim.Now + Targets.VirtioBackendTarget.RunWindowNs);
                break;
            case 9:
                sim.Loop.Run(sim.Now + ((1 + (op.Index % 8)) * Targets.VirtioBackendTarget.RunWindowNs));
                break;
            case 10:
                Reinitialize(op);
                break;
            case 11:
                CommonFromInput(op);
                break;
            case 12:
                DeviceConfig(op);
                break;
            case RingInput.OpInjectFrame:
                _device.DeviceEvent(Qemu, rig, op);
                NoteBroken();
                break;
            case RingInput.OpSelectQueue:
                _guests.Select(op.Index);
                break;
            default:
                break;
        }
    }

    private void Reinitialize(RingInput.Op op)
    {
        _syncedReady = false;
        _guests.Invalidate();
        int s = Math.Min(1 << (op.Index % (RingInput.SizeLogMax + 1)), _rig!.VirtioDevice.GetQueue(0).MaxSize);
        (ulong desc, ulong avail, ulong used) = Relocate(RingInput.Place(op.Next, s, op.RawAddr));
        Initialize((op.Flags & 1) != 0, (op.Flags & 2) == 0, s, desc, avail, used);
    }

    /// <summary>Op 11: the input's own common-config write, with the facts the tables need about it.</summary>
    private void CommonFromInput(RingInput.Op op)
    {
        int offset = op.Index % 0x38;
        int width = 1 << (op.Flags & 3);
        LockstepFacts f = Facts;
        f.GuestTouchedStatusOrFeatures |=
            offset < L.CommonDeviceStatus + 1 && offset + width > L.CommonDriverFeatureSelect;
        f.UnalignedRegisterWrite |= offset % width != 0;
        f.DriverWroteStatus |= offset <= L.CommonDeviceStatus && offset + width > L.CommonDeviceStatus;
        f.QueueSizeRewritten |= QemuResizesQueue(offset, width, op.RawAddr, _rig!.VirtioDevice.GetQueue(0).Size);
        Common(offset, width, op.RawAddr);
    }

    /// <summary>Op 12: a device-config read or write on both halves.</summary>
    private void DeviceConfig(RingInput.Op op)
    {
        int width = 1 << ((op.Flags >> 1) & 3);
        QtestClient qtest = Qemu.Qtest;
        if ((op.Flags & 1) != 0)
        {
            _rig!.DeviceConfigWrite(op.Index, width, op.RawLen);
            qtest.Write(Pci.DeviceAddress + op.Index, width, op.RawLen);
        }
        else
        {
            _rig!.DeviceConfigRead(op.Index, width);
            qtest.Read(Pci.DeviceAddress + op.Index, width);
        }
    }

    private void NoteBroken()
    {
        VirtioDevice device = _rig!.VirtioDevice;
        Facts.ModelEverBroken |= device.IsBroken;
        if (device.IsBroken && device.BrokenReason is { } r && !Facts.ModelBrokenReasons.Contains(r))
        {
            Facts.ModelBrokenReasons.Add(r);
        }
    }

    /// <summary>The driver initialisation of VIRTIO 1.2 §3.1.1 on both halves, queue 0 only.</summary>
    private void Initialize(bool eventIdx, bool indirect, int size, ulong desc, ulong avail, ulong used)
    {
        byte s0 = (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        byte s1 = (byte)(s0 | (byte)VirtioStatus.FeaturesOk);
        byte s2 = (byte)(s1 | (byte)VirtioStatus.DriverOk);
        NoteBroken();
        Indirect = indirect;
        ulong features =
            (1UL << VirtioSpec.FVersion1)
            | (eventIdx ? 1UL << VirtioSpec.FEventIdx : 0)
            | (indirect ? 1UL << VirtioSpec.FIndirectDesc : 0);
        Common(L.CommonDeviceStatus, 1, 0);
        Common(L.CommonDeviceStatus, 1, s0);
        Common(L.CommonDriverFeatureSelect, 4, 0);
        Common(L.CommonDriverFeature, 4, Narrow.LowUInt32(features));
        Common(L.CommonDriverFeatureSelect, 4, 1);
        Common(L.CommonDriverFeature, 4, features >> 32);
        Common(L.CommonDeviceStatus, 1, s1);
        QueueGuests.SetUpSecondary(_rig!.VirtioDevice, size, (desc, avail, used), Common);
        Common(L.CommonQueueSelect, 2, 0);
        Common(L.CommonQueueSize, 2, Narrow.AsUInt64Bits(size));
        Common(L.CommonQueueDesc, 8, desc);
        Common(L.CommonQueueDriver, 8, avail);
        Common(L.CommonQueueDevice, 8, used);
        Common(L.CommonQueueEnable, 2, 1);
        _device.BeforeDriverOk(_rig!, avail);
        Common(L.CommonDeviceStatus, 1, s2);
    }

    private void Common(int offset, int size, ulong value)
    {
        _rig!.Common(offset, size, value);
        Pci.CommonWrite(offset, size, value);
    }

    private void Kick()
    {
        ModelVirtioRig rig = _rig!;
        VirtioDevice device = rig.VirtioDevice;
        Facts.KickBeforeDriverOk |= !device.DriverOk && !device.IsBroken;
        if (!Facts.BuffersOverlapInKick && device.DriverOk && !device.IsBroken)
        {
            Facts.BuffersOverlapInKick = KickOverlap.WritableOverlapsOther(rig.Simulation.Memory, device.GetQueue(0));
        }
        KickedQueue = _guests.Selected;
        bool handled = !device.IsBroken;
        if (KickedQueue == 0)
            rig.Kick();
        else
            rig.Kick(KickedQueue);
        if (handled)
            NoteAvailEvent(rig, device.GetQueue(KickedQueue));
        NoteBroken();
        Qemu.Qtest.Write(_notify[KickedQueue], 2, Narrow.AsUInt64Bits(KickedQueue));
        _device.Settle(Qemu, rig);
    }

    /// <summary>Records where QEMU's handler leaves avail.idx at the end of this kick
    /// (<see cref="LockstepFacts.AvailEventsAtKicks"/>): with EVENT_IDX, virtio_queue_split_set_notification stores
    /// vring_avail_idx into avail_event on every kick of a queue with rings (virtio_queue_notify returns early only
    /// when there is no descriptor table or the device is broken).</summary>
    private void NoteAvailEvent(ModelVirtioRig rig, SplitQueue queue)
    {
        // Only fields inside the compared memory matter (and the sum below cannot wrap).
        if (!queue.Ready || !queue.EventIdx || queue.UsedRing.Value >= RingInput.MemorySize)
            return;
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            if (memory.TryReadUInt16(new GuestAddress(queue.AvailRing.Value + 2), out ushort availIdx))
            {
                ulong field = queue.UsedRing.Value + 4 + (8UL * (ulong)queue.Size);
                Facts.AvailEventsAtKicks.Add((field, availIdx));
            }
        }
    }

    /// <summary>The model's used.idx (null when its queue is not ready or the ring is outside its memory).</summary>
    public static ushort? ModelUsedIdx(ModelVirtioRig rig) => ModelUsedIdx(rig, 0);

    /// <summary>Reads QEMU's used.idx of queue <paramref name="queueIndex"/> until it equals the model's, at most
    /// <paramref name="readsMax"/> times (each read is a qtest round trip that lets QEMU's main loop run its bottom
    /// halves); nothing when the model's queue is not ready. True when the first read did not agree yet (a late
    /// settle, which the locksteps count).</summary>
    public static bool AwaitQemuUsedIdx(QemuMachine qemu, ModelVirtioRig rig, int queueIndex, int readsMax)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        if (ModelUsedIdx(rig, queueIndex) is not { } expected)
            return false;
        ulong at = rig.VirtioDevice.GetQueue(queueIndex).UsedRing.Value + 2;
        for (int n = 0; n < readsMax; n++)
        {
            if (qemu.Qtest.Read(at, 2) == expected)
                return n > 0;
        }
        return readsMax > 0;
    }

    /// <summary>The model's used.idx of queue <paramref name="queueIndex"/> (null when that queue is not ready or
    /// its ring is outside the model's memory).</summary>
    public static ushort? ModelUsedIdx(ModelVirtioRig rig, int queueIndex)
    {
        ArgumentNullException.ThrowIfNull(rig);
        SplitQueue queue = rig.VirtioDevice.GetQueue(queueIndex);
        if (!queue.Ready)
            return null;
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            return memory.TryReadUInt16(new GuestAddress(queue.UsedRing.Value + 2), out ushort idx) ? idx : null;
        }
    }

    /// <summary>Follows the queue the model has: the guest writes the rings the model's device uses (as
    /// <see cref="Targets.VirtioBackendTarget"/> does).</summary>
    private void Sync()
    {
        ModelVirtioRig rig = _rig!;
        SplitQueue queue = rig.VirtioDevice.GetQueue(0);
        NoteBroken();
        foreach (SplitQueueState other in _guests.SyncSecondary(rig.VirtioDevice, rig.Simulation.Memory))
        {
            if (!UsedRingsSeen.Contains((other.UsedRing.Value, other.Size)))
            {
                UsedRingsSeen.Add((other.UsedRing.Value, other.Size));
            }
            Facts.RingsOverlap |= KickOverlap.RingsOverlap(other);
            Facts.UsedOverAvail |= KickOverlap.UsedOverAvail(other);
        }
        if (!(queue.Ready && rig.VirtioDevice.DriverOk && !rig.VirtioDevice.IsBroken))
        {
            _syncedReady = false;
            return;
        }
        SplitQueueState state = queue.Capture();
        if (
            _syncedReady
            && state.Size == _synced.Size
            && state.DescTable == _synced.DescTable
            && state.AvailRing == _synced.AvailRing
            && state.UsedRing == _synced.UsedRing
        )
            return;
        _guests.Primary.Reset(rig.Simulation.Memory, state.DescTable.Value, state.AvailRing.Value, state.Size);
        (ulong, int) ring = (state.UsedRing.Value, state.Size);
        if (!UsedRingsSeen.Contains(ring))
            UsedRingsSeen.Add(ring);
        Facts.RingsOverlap |= KickOverlap.RingsOverlap(state);
        Facts.UsedOverAvail |= KickOverlap.UsedOverAvail(state);
        _synced = state;
        _syncedReady = true;
    }

    /// <summary>Guest stores go to QEMU too; the device's own stores go to the device's hook.</summary>
    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor == MemoryActor.Guest)
            Qemu.Qtest.WriteBytes(address.Value, data);
        else if (actor == MemoryActor.Device)
            _device.OnDeviceWrite(address, data);
    }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }
}
