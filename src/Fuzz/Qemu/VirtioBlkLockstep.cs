using System.Buffers.Binary;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Targets.Rings;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Machine.Simulation;
using Sim.Engine.Memory;
using Sim.Spec.Blk;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Runs one <see cref="RingInput"/> v1 input — the byte format of <c>virtio-blk-qemu-robust</c>, decoded with the same
/// rules as <see cref="Targets.VirtioBackendTarget"/> — on our robust blk model and on a real QEMU in lockstep. One
/// <see cref="GuestActor"/> plays the guest on the model's memory; every byte it stores is mirrored into QEMU's RAM as
/// a qtest <c>write</c> (batched with the register writes that follow). Device ops: 8 kick, 9 run, 10 reset and
/// re-initialise, 11 common-config write, 12 device-config access, 13/15 nothing, 14 kick + run. QEMU handles a kick
/// inside the notify write (ioeventfd off); every kick ends a qtest batch so QEMU's main loop runs the bottom-half
/// completions before the next command (<see cref="Settle"/>). The careful path also checks used.idx after each kick
/// and waits through QMP (<c>inuse == 0</c>) when they disagree; the model completes synchronously. A kick therefore
/// means "the device acts until idle" on both sides, which keeps QEMU deterministic (no guest store races an
/// in-flight request).
/// </summary>
public sealed class VirtioBlkLockstep : IMemoryObserver
{
    public const int OperationsMax = 128;
    public const int MemoryBytes = (int)RingInput.MemorySize;


    /// <summary>How long a drain may wait for QEMU's block I/O before QEMU counts as hung.</summary>
    public static readonly TimeSpan DrainMax = TimeSpan.FromSeconds(5);

    private readonly GuestActor _guest = new();
    private QemuMachine? _qemu;
    private QemuVirtioPci? _pci;
    private ulong _notify;
    private SplitQueueState _synced;
    private bool _syncedReady;

    /// <summary>Model simulation events per execution before the model counts as hung.</summary>
    public const long EventsMax = 200_000;

    public ModelBlkRig? Model { get; private set; }

    /// <summary>Every used ring (address, size) the model's queue was given during the last run.</summary>
    public List<(ulong Address, int Size)> UsedRingsSeen { get; } = [];

    /// <summary>The last run wrote a common-config register at an offset that is not a multiple of the access size
    /// (QEMU's memory core drops such an access before the device sees it: memory_region_access_valid).</summary>
    public bool UnalignedRegisterWrite { get; private set; }

    /// <summary>The last run kicked while the model's status lacked DRIVER_OK (QEMU runs the handler anyway).</summary>
    public bool KickBeforeDriverOk { get; private set; }

    /// <summary>The last run wrote the device status register itself (op 11): the driver's byte, NEEDS_RESET included,
    /// is what QEMU stores.</summary>
    public bool DriverWroteStatus { get; private set; }

    /// <summary>The last run gave the queue rings that overlap each other
    /// (<see cref="KickOverlap.RingsOverlap"/>).</summary>
    public bool RingsOverlap { get; private set; }

    /// <summary>At some kick of the last run a buffer the device writes overlapped another available request's buffer
    /// or the rings (<see cref="KickOverlap.WritableOverlapsOther"/>).</summary>
    public bool BuffersOverlapInKick { get; private set; }

    /// <summary>Whether the model's device was broken at some point of the last run (a reset may have cleared
    /// it).</summary>
    public bool ModelEverBroken { get; private set; }

    /// <summary>Why the model's device broke, each time it broke during the last run (a later reset may have hidden
    /// it).</summary>
    public List<string> ModelBrokenReasons { get; } = [];

    /// <summary>The last run wrote queue_size (op 11) with a value other than the queue's size: QEMU 7.2 takes it even
    /// on an enabled queue (virtio_queue_set_num), the robust model does not.</summary>
    public bool QueueSizeRewritten { get; private set; }

    private void NoteBroken(ModelBlkRig rig)
    {
        ModelEverBroken |= rig.Device.IsBroken;
        if (rig.Device.IsBroken && rig.Device.BrokenReason is { } r && !ModelBrokenReasons.Contains(r)) ModelBrokenReasons.Add(r);
    }

    /// <summary>Binds the QEMU half (after a (re)start): finds and maps the device, learns queue 0's
    /// doorbell.</summary>
    public void Attach(QemuMachine qemu)
    {
        _qemu = qemu;
        _pci = QemuVirtioPci.Discover(qemu.Qtest, Sim.Spec.Blk.BlkSpec.DeviceId);
        _observeCommands = null;
        _diskDirty = true;
        _pci.CommonWrite(L.CommonQueueSelect, 2, 0);
        _notify = _pci.NotifyAddress(unchecked((ushort)_pci.CommonRead(L.CommonQueueNotifyOff, 2)));
    }

    public QemuVirtioPci Pci => _pci ?? throw new InvalidOperationException("not attached");

    /// <summary>Puts QEMU back to the state every input starts from: device reset, RAM [0, 64 KiB) zero, disk image.
    /// Waits for QEMU's answers (the careful path, and after a (re)start).</summary>
    public void ResetQemu(ReadOnlySpan<byte> disk)
    {
        QemuMachine q = _qemu!;
        QueueReset(q);
        q.Qtest.Sync();
        q.Qtest.TakeFailures();
        q.WriteDisk(disk);
        _diskDirty = false;
        q.ClearStderr();
    }

    /// <summary>The fast reset between inputs: the device reset and memset were queued at the end of the last input
    /// (<see cref="QueueReset"/>) and go out with this input's first batch, so they cost no round trip. Only when the
    /// last input left QEMU's disk different from the image does this wait for the reset's answer (the reset drains
    /// QEMU's in-flight I/O, virtio_blk_reset → blk_drain) before rewriting the image file.</summary>
    public void PrepareFast(ReadOnlySpan<byte> disk)
    {
        QemuMachine q = _qemu!;
        if (_diskDirty)
        {
            q.Qtest.Sync();
            q.WriteDisk(disk);
            _diskDirty = false;
        }
        q.ClearStderr();
    }

    /// <summary>Queues (sends nothing) the device reset (status 0) and the clearing of RAM [0, 64 KiB). The reset
    /// drains QEMU's in-flight I/O before the memset runs, so data a dropped completion lands late cannot leak into
    /// the next input.</summary>
    private void QueueReset(QemuMachine q)
    {
        Pci.CommonWrite(L.CommonDeviceStatus, 1, 0);
        q.Qtest.Memset(0, RingInput.MemorySize, 0);
    }

    private bool _diskDirty = true;

    /// <summary>Runs <paramref name="input"/> on both halves and fills the observations.</summary>
    /// <param name="careful">The careful path: after every kick one qtest read checks QEMU's used.idx against the
    /// model's (QMP <c>inuse</c> when they differ), and the end of the input always asks QMP. The fast path sends the
    /// whole input as one batch and reads once at the end (<see cref="VirtioBlkQemuTarget"/> re-runs an input carefully
    /// before it reports a difference, so the fast path's shortcuts cannot produce a finding).</param>
    public void Run(ReadOnlySpan<byte> input, ReadOnlySpan<byte> disk, string serial, BlkObservation model, BlkObservation qemu, Targets.FuzzContext? context = null, bool careful = true)
    {
        _careful = careful;
        QemuMachine q = _qemu!;
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        Simulation sim = RingSimulation.Create(EventsMax);
        context?.Attach(sim); // before the rig: its register accesses are recorded too
        var rig = new ModelBlkRig(sim, disk, serial, context);
        Model = rig;
        sim.AddMemoryObserver(this);
        _syncedReady = false;
        UsedRingsSeen.Clear();
        ModelEverBroken = false;
        ModelBrokenReasons.Clear();
        QueueSizeRewritten = false;
        _guestTouchedStatusOrFeatures = false;
        UnalignedRegisterWrite = false;
        KickBeforeDriverOk = false;
        DriverWroteStatus = false;
        RingsOverlap = false;
        BuffersOverlapInKick = false;
        int size = Math.Min(header.Size, rig.Device.GetQueue(0).MaxSize);
        (ulong desc, ulong avail, ulong used) = Relocate(RingInput.Place(header.Placement, size, unchecked((ulong)header.Placement * 0x9E37_79B9_7F4A_7C15)));
        // The guest writes its rings where it placed them even when the device rejects them (the queue never becomes
        // ready and Sync never re-points the guest): without this its memory is null, or a previous execution's.
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
                        (desc, avail, used) = Relocate(RingInput.Place(op.Next, s, op.RawAddr));
                        Initialize(rig, (op.Flags & 1) != 0, (op.Flags & 2) == 0, s, desc, avail, used);
                        break;
                    }
                case 11:
                    {
                        int offset = op.Index % 0x38;
                        int width = 1 << (op.Flags & 3);
                        // A driver-written status or feature word can fake NEEDS_RESET or drop VERSION_1: then only QMP
                        // tells whether QEMU is broken.
                        _guestTouchedStatusOrFeatures |= offset < L.CommonDeviceStatus + 1 && offset + width > L.CommonDriverFeatureSelect;
                        UnalignedRegisterWrite |= offset % width != 0;
                        DriverWroteStatus |= offset <= L.CommonDeviceStatus && offset + width > L.CommonDeviceStatus;
                        int queueSize = rig.Device.GetQueue(0).Size;
                        QueueSizeRewritten |= QemuResizesQueue(offset, width, op.RawAddr, queueSize);
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
        Observe(rig, model);
        if (careful)
        {
            q.Qtest.Sync();
            QmpDrains++;
            if (q.Qmp.QueueInUse(QemuCommandLine.VirtioBackendPath, 0) != 0)
            {
                AsyncSeen++;
                Drain(q);
            }
        }
        ObserveQemu(q, qemu);
        _diskDirty = !qemu.Disk.AsSpan().SequenceEqual(disk);
        // Broken: the NEEDS_RESET status bit (virtio_error sets it on a VERSION_1 device, which the rig negotiates)
        // unless the input wrote the status or feature registers itself (it can set, clear or prevent the bit): then
        // QMP's `broken`, on the careful path always, on the fast path when anything hints at a break or a difference.
        bool bit = (qemu.DeviceStatus & (byte)VirtioStatus.DeviceNeedsReset) != 0;
        bool askQmp = _guestTouchedStatusOrFeatures
            && (careful || ModelEverBroken || bit || (model.DeviceStatus & (byte)VirtioStatus.DeviceNeedsReset) != 0 || !Agree(model, qemu));
        if (askQmp) QmpDrains++;
        qemu.Broken = askQmp ? q.Qmp.Broken(QemuCommandLine.VirtioBackendPath) : bit;
        qemu.BrokenReason = qemu.Broken ? LastLine(q.Stderr) : null;
        QueueReset(q);
    }

    /// <summary>The cheap part of the comparison (memory, disk, status, ISR; not broken), for deciding whether QMP is
    /// worth asking.</summary>
    private static bool Agree(BlkObservation model, BlkObservation qemu) =>
        model.Memory.AsSpan().SequenceEqual(qemu.Memory) && model.Disk.AsSpan().SequenceEqual(qemu.Disk) && model.DeviceStatus == qemu.DeviceStatus && model.Isr == qemu.Isr;

    /// <summary>True when QEMU 7.2 takes a common-config write of <paramref name="width"/> bytes at
    /// <paramref name="offset"/> as a new size for a queue of <paramref name="size"/>: virtio_pci_common_write (its
    /// region takes 1- to 4-byte accesses, a wider one in 4-byte pieces) stores the piece at queue_size into the
    /// uint16_t VirtIOPCIQueue.num, one byte wide included, and virtio_queue_set_num accepts it unless it is 0 or above
    /// VIRTQUEUE_MAX_SIZE (1024). A one-byte write of 0x99 makes a queue of 153 whose rings stay mapped for the old
    /// size ("Cannot map descriptor ring").</summary>
    public static bool QemuResizesQueue(int offset, int width, ulong raw, int size)
    {
        if (offset != L.CommonQueueSize) return false;
        ulong value = width == 1 ? raw & 0xff : raw & 0xffff;
        return value is not 0 and <= QemuQueueSizeMax && value != (ulong)size;
    }

    /// <summary>QEMU 7.2 VIRTQUEUE_MAX_SIZE (hw/virtio/virtio.c).</summary>
    public const int QemuQueueSizeMax = 1024;

    /// <summary>The one decoding rule that differs from <c>virtio-blk-qemu-robust</c>: rings the format packs at guest
    /// address 0 start at <see cref="RingShift"/> instead, on both halves. QEMU 7.2 takes a descriptor table or an
    /// available ring at 0 for "no ring" (virtio_queue_notify returns when <c>!vq-&gt;vring.desc</c>;
    /// virtio_queue_empty_rcu and virtio_queue_split_empty report an empty queue when <c>!vq-&gt;vring.avail</c>), so
    /// with either at 0 nothing would ever run there while the model pops.</summary>
    public static (ulong Desc, ulong Avail, ulong Used) Relocate((ulong Desc, ulong Avail, ulong Used) rings) =>
        rings.Desc == 0 || rings.Avail == 0
            ? (rings.Desc + RingShift, rings.Avail + RingShift, rings.Used + RingShift)
            : rings;

    /// <summary>Where relocated rings start: after the rings' default area, before the indirect tables
    /// (<see cref="RingInput.IndirectBase"/>); a 256-entry queue's three rings end below 0x3C10.</summary>
    public const ulong RingShift = 0x2000;

    private void Initialize(ModelBlkRig rig, bool eventIdx, bool indirect, int size, ulong desc, ulong avail, ulong used)
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
        Common(rig, L.CommonDeviceStatus, 1, s2);
    }

    private void Common(ModelBlkRig rig, int offset, int size, ulong value)
    {
        rig.Common(offset, size, value);
        Pci.CommonWrite(offset, size, value);
    }

    private void Kick(ModelBlkRig rig)
    {
        KickBeforeDriverOk |= !rig.Device.DriverOk && !rig.Device.IsBroken;
        if (!BuffersOverlapInKick && rig.Device.DriverOk && !rig.Device.IsBroken)
        {
            BuffersOverlapInKick = KickOverlap.WritableOverlapsOther(rig.Simulation.Memory, rig.Device.GetQueue(0), _indirect);
        }
        rig.Kick();
        NoteBroken(rig);
        QemuMachine q = _qemu!;
        q.Qtest.Write(_notify, 2, 0);
        Settle(q, rig);
    }

    /// <summary>After a kick: QEMU runs the handler inside the notify write (ioeventfd off) and, with io_uring on
    /// tmpfs, completes read/write I/O at the handler's unplug. A request that finishes without waiting (a flush with
    /// nothing to flush, a zero-length transfer) completes in a bottom half instead (blk_aio_prwv: <c>ret !=
    /// NOT_DONE</c> when the coroutine returns → replay_bh_schedule_oneshot_event(blk_aio_complete_bh)), and a bottom
    /// half runs only when QEMU's main loop turns, which it does after answering the qtest chunk it is reading. So
    /// every kick ends a batch: waiting for the answers (one round trip) lets the main loop run before the next
    /// command, on both paths. The careful path also reads QEMU's used.idx (and asks QMP when it differs from the
    /// model's); once QMP ever finds a request in flight, every kick waits for QMP's <c>inuse == 0</c> from then
    /// on.</summary>
    private void Settle(QemuMachine q, ModelBlkRig rig)
    {
        q.Qtest.Sync();
        if (!_careful) return;
        QueueDrains++;
        if (UsedIdxAgree(q, rig)) return;
        // QEMU's count differs from the model's (a difference, or I/O still in flight: io_uring hands a request that
        // would block to a worker, whose completion comes through the main loop): wait until nothing is in flight.
        QmpDrains++;
        if (q.Qmp.QueueInUse(QemuCommandLine.VirtioBackendPath, 0) != 0)
        {
            AsyncSeen++;
            Drain(q);
        }
    }

    /// <summary>One qtest read: QEMU's used.idx at the model's used ring equals the model's (so QEMU completed what the
    /// model did, and the model, which pops every available request, has none in flight).</summary>
    private static bool UsedIdxAgree(QemuMachine q, ModelBlkRig rig) =>
        ModelUsedIdx(rig) is { } expected && q.Qtest.Read(rig.Device.GetQueue(0).UsedRing.Value + 2, 2) == expected;

    /// <summary>Times the careful path found QEMU's I/O still in flight and waited for it through QMP.</summary>
    public long AsyncSeen { get; private set; }

    private bool _careful = true;
    private bool _indirect;
    private bool _guestTouchedStatusOrFeatures;

    /// <summary>Settles so far, and how many needed QMP (the slow path).</summary>
    public long QueueDrains { get; private set; }

    public long QmpDrains { get; private set; }

    private static ushort? ModelUsedIdx(ModelBlkRig rig)
    {
        SplitQueue queue = rig.Device.GetQueue(0);
        if (!queue.Ready) return null;
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            return memory.TryReadUInt16(new GuestAddress(queue.UsedRing.Value + 2), out ushort idx) ? idx : null;
        }
    }

    /// <summary>Sends what is batched and waits until QEMU has no request in flight (QMP <c>inuse == 0</c>).</summary>
    private static void Drain(QemuMachine q)
    {
        q.Qtest.Sync();
        DateTime deadline = DateTime.UtcNow + DrainMax;
        while (q.Qmp.QueueInUse(QemuCommandLine.VirtioBackendPath, 0) != 0)
        {
            if (DateTime.UtcNow > deadline) throw new QemuHangException($"QEMU still had requests in flight after {DrainMax.TotalSeconds:0} s");
            Thread.Yield();
        }
    }

    /// <summary>Follows the queue the model has: the guest writes the rings the model's device uses
    /// (as <see cref="Targets.VirtioBackendTarget"/> does).</summary>
    private void Sync(ModelBlkRig rig)
    {
        SplitQueue queue = rig.Device.GetQueue(0);
        NoteBroken(rig);
        bool ready = queue.Ready && rig.Device.DriverOk && !rig.Device.IsBroken;
        if (!ready)
        {
            _syncedReady = false;
            return;
        }
        SplitQueueState state = queue.Capture();
        if (_syncedReady && state.Size == _synced.Size && state.DescTable == _synced.DescTable && state.AvailRing == _synced.AvailRing && state.UsedRing == _synced.UsedRing) return;
        _guest.Reset(rig.Simulation.Memory, state.DescTable.Value, state.AvailRing.Value, state.Size);
        if (!UsedRingsSeen.Contains((state.UsedRing.Value, state.Size))) UsedRingsSeen.Add((state.UsedRing.Value, state.Size));
        RingsOverlap |= KickOverlap.RingsOverlap(state);
        _synced = state;
        _syncedReady = true;
    }

    private static void Observe(ModelBlkRig rig, BlkObservation o)
    {
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            memory.TryRead(new GuestAddress(0), o.Memory.AsSpan(0, (int)RingInput.RegionSize));
            memory.TryRead(new GuestAddress(RingInput.RegionSize), o.Memory.AsSpan((int)RingInput.RegionSize));
        }
        rig.Backend.Contents.CopyTo(o.Disk);
        o.Broken = rig.Device.IsBroken;
        o.BrokenReason = rig.Device.BrokenReason;
        o.DeviceStatus = unchecked((byte)rig.CommonRead(L.CommonDeviceStatus, 1));
        o.Isr = rig.ReadIsr();
    }

    /// <summary>QEMU's side, in one round trip: status, ISR, RAM [0, 64 KiB); then the disk image file. Broken is
    /// decided by the caller.</summary>
    private void ObserveQemu(QemuMachine q, BlkObservation o)
    {
        ulong[] values = q.Qtest.QueryAllThenBytes(_observeCommands ??= [string.Create(System.Globalization.CultureInfo.InvariantCulture, $"readb 0x{Pci.CommonAddress + L.CommonDeviceStatus:x}"), string.Create(System.Globalization.CultureInfo.InvariantCulture, $"readb 0x{Pci.IsrAddress:x}")], 0, o.Memory, out bool memoryRead);
        o.DeviceStatus = unchecked((byte)values[0]);
        o.Isr = unchecked((byte)values[1]);
        if (!memoryRead) throw new QemuDiedException("qtest refused to read guest RAM [0, 64 KiB)");
        q.ReadDisk(o.Disk);
    }

    private string[]? _observeCommands;

    /// <summary>The last non-empty line of QEMU's stderr (its error message), shared with the rng lockstep.</summary>
    internal static string? LastLine(string text)
    {
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 0 ? null : lines[^1];
    }

    /// <summary>Guest stores (only: the device's own accesses are what is compared) go to QEMU too.</summary>
    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor == MemoryActor.Guest) _qemu!.Qtest.WriteBytes(address.Value, data);
    }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
    }

    /// <summary>The used ring the model's queue points at (address, size), for messages; null when not set
    /// up.</summary>
    public (ulong Address, int Size)? ModelUsedRing()
    {
        if (Model is null) return null;
        SplitQueue queue = Model.Device.GetQueue(0);
        return InMemory(queue) ? (queue.UsedRing.Value, queue.Size) : null;
    }

    /// <summary>The queue has a size and its used ring lies inside the compared memory (the register may hold any
    /// address the input wrote; sums below must not wrap).</summary>
    private static bool InMemory(SplitQueue queue) =>
        queue.Size > 0 && queue.UsedRing.Value <= (ulong)MemoryBytes && 6 + (8UL * (ulong)queue.Size) <= (ulong)MemoryBytes - queue.UsedRing.Value;

    /// <summary>The model queue's descriptor table, used ring and size at the end of the run; null when not set
    /// up.</summary>
    public (ulong Desc, ulong Used, int Size)? ModelRing()
    {
        if (Model is null) return null;
        SplitQueue queue = Model.Device.GetQueue(0);
        return InMemory(queue) ? (queue.DescTable.Value, queue.UsedRing.Value, queue.Size) : null;
    }

    /// <summary>avail.idx at the model queue's available ring in <paramref name="model"/>'s memory; null when not set
    /// up or outside the compared memory.</summary>
    public ushort? ModelAvailIdx(BlkObservation model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Model is null) return null;
        SplitQueue queue = Model.Device.GetQueue(0);
        ulong at = queue.AvailRing.Value + 2;
        return queue.Size == 0 || at + 2 > (ulong)model.Memory.Length ? null : BinaryPrimitives.ReadUInt16LittleEndian(model.Memory.AsSpan((int)at));
    }

    /// <summary>Whether the last initialisation of the run negotiated INDIRECT_DESC.</summary>
    public bool Indirect => _indirect;

    /// <summary>Reads used.idx and the entries (id, len) from a memory image (for messages).</summary>
    public static string DescribeUsed(ReadOnlySpan<byte> memory, ulong used, int size)
    {
        if (used > (ulong)memory.Length - 4) return "(used ring outside the compared memory)";
        ushort idx = BinaryPrimitives.ReadUInt16LittleEndian(memory[(int)(used + 2)..]);
        var parts = new List<string>();
        for (int i = 0; i < Math.Min((int)idx, Math.Min(size, 8)); i++)
        {
            ulong at = used + 4 + (8UL * (ulong)i);
            if (at + 8 > (ulong)memory.Length) break;
            parts.Add($"({BinaryPrimitives.ReadUInt32LittleEndian(memory[(int)at..])},{BinaryPrimitives.ReadUInt32LittleEndian(memory[(int)(at + 4)..])})");
        }
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(memory[(int)used..]);
        ulong eventAt = used + 4 + (8UL * (ulong)size);
        string availEvent = eventAt + 2 <= (ulong)memory.Length ? BinaryPrimitives.ReadUInt16LittleEndian(memory[(int)eventAt..]).ToString(System.Globalization.CultureInfo.InvariantCulture) : "-";
        return $"flags={flags} idx={idx} [{string.Join(' ', parts)}] avail_event={availEvent}";
    }
}
