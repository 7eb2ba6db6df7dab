using System.Buffers.Binary;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Runs one <see cref="RingInput"/> v1 input — the byte format of <c>virtio-blk-qemu-robust</c> — on our robust blk
/// model and on a real QEMU in lockstep; the shared <see cref="LockstepDriver"/> performs the operations (guest stores
/// mirrored as qtest writes, register writes, kicks), this class adds the blk's kick settling, the disk and the careful
/// path. QEMU handles a kick inside the notify write (ioeventfd off); every kick ends a qtest batch so QEMU's main loop
/// runs the bottom-half completions before the next command (<see cref="Settle"/>). The careful path also checks
/// used.idx after each kick and waits through QMP (<c>inuse == 0</c>) when they disagree; the model completes
/// synchronously. A kick therefore means "the device acts until idle" on both sides, which keeps QEMU deterministic
/// (no guest store races an in-flight request).
/// </summary>
internal sealed class VirtioBlkLockstep : ILockstepDevice
{
    public const int OperationsMax = LockstepDriver.OperationsMax;
    public const int MemoryBytes = (int)RingInput.MemorySize;

    /// <summary>How long a drain may wait for QEMU's block I/O before QEMU counts as hung.</summary>
    public static readonly TimeSpan DrainMax = TimeSpan.FromSeconds(5);

    /// <summary>Model simulation events per execution before the model counts as hung.</summary>
    public const long EventsMax = 200_000;

    private readonly LockstepDriver _driver;

    public VirtioBlkLockstep() => _driver = new LockstepDriver(this, Facts);

    public ModelBlkRig? Model { get; private set; }

    /// <summary>The facts of the last run that rows of <see cref="Qemu72Differences"/> rest on.</summary>
    public LockstepFacts Facts { get; } = new();

    /// <summary>Every used ring (address, size) the model's queue was given during the last run.</summary>
    public List<(ulong Address, int Size)> UsedRingsSeen => _driver.UsedRingsSeen;

    /// <summary>Binds the QEMU half (after a (re)start): finds and maps the device, learns queue 0's
    /// doorbell.</summary>
    public void Attach(QemuMachine qemu)
    {
        _driver.Attach(qemu, Sim.Spec.Blk.BlkSpec.DeviceId);
        _observer.Forget();
        _diskDirty = true;
    }

    public QemuVirtioPci Pci => _driver.Pci;

    /// <summary>Puts QEMU back to the state every input starts from: device reset, RAM [0, 64 KiB) zero, disk image.
    /// Waits for QEMU's answers (the careful path, and after a (re)start).</summary>
    public void ResetQemu(ReadOnlySpan<byte> disk)
    {
        QemuMachine q = _driver.Qemu;
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
        QemuMachine q = _driver.Qemu;
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
    /// <param name="input">The fuzz input (a <see cref="Targets.Rings.RingInput"/> program), run on both
    /// halves.</param>
    /// <param name="disk">The disk image both halves start from.</param>
    /// <param name="serial">The serial both halves report for VIRTIO_BLK_T_GET_ID.</param>
    /// <param name="model">Filled with what the simulated device did.</param>
    /// <param name="qemu">Filled with what QEMU did.</param>
    /// <param name="context">When given, the model half records a finding trace.</param>
    /// <param name="careful">The careful path: after every kick one qtest read checks QEMU's used.idx against the
    /// model's (QMP <c>inuse</c> when they differ), and the end of the input always asks QMP. The fast path sends the
    /// whole input as one batch and reads once at the end (<see cref="VirtioBlkQemuTarget"/> re-runs an input carefully
    /// before it reports a difference, so the fast path's shortcuts cannot produce a finding).</param>
    public void Run(
        ReadOnlySpan<byte> input,
        ReadOnlySpan<byte> disk,
        string serial,
        BlkObservation model,
        BlkObservation qemu,
        Targets.FuzzContext? context = null,
        bool careful = true
    )
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(qemu);
        _careful = careful;
        QemuMachine q = _driver.Qemu;
        Simulation sim = RingSimulation.Create(EventsMax);
        context?.Attach(sim); // before the rig: its register accesses are recorded too
        var rig = new ModelBlkRig(sim, disk, serial, context);
        Model = rig;
        _driver.Run(input, rig, context);
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
        bool modelBit = (model.DeviceStatus & (byte)VirtioStatus.DeviceNeedsReset) != 0;
        bool askQmp =
            Facts.GuestTouchedStatusOrFeatures
            && (careful || Facts.ModelEverBroken || bit || modelBit || !Agree(model, qemu));
        if (askQmp)
            QmpDrains++;
        qemu.Broken = askQmp ? q.Qmp.Broken(QemuCommandLine.VirtioBackendPath) : bit;
        qemu.BrokenReason = qemu.Broken ? q.LastStderrLine() : null;
        QueueReset(q);
    }

    /// <summary>The cheap part of the comparison (memory, disk, status, ISR; not broken), for deciding whether QMP is
    /// worth asking.</summary>
    private static bool Agree(BlkObservation model, BlkObservation qemu) =>
        model.Memory.AsSpan().SequenceEqual(qemu.Memory)
        && model.Disk.AsSpan().SequenceEqual(qemu.Disk)
        && model.DeviceStatus == qemu.DeviceStatus
        && model.Isr == qemu.Isr;

    /// <summary>After a kick: QEMU runs the handler inside the notify write (ioeventfd off) and, with io_uring on
    /// tmpfs, completes read/write I/O at the handler's unplug. A request that finishes without waiting (a flush with
    /// nothing to flush, a zero-length transfer) completes in a bottom half instead (blk_aio_prwv: <c>ret !=
    /// NOT_DONE</c> when the coroutine returns → replay_bh_schedule_oneshot_event(blk_aio_complete_bh)), and a bottom
    /// half runs only when QEMU's main loop turns, which it does after answering the qtest chunk it is reading. So
    /// every kick ends a batch: waiting for the answers (one round trip) lets the main loop run before the next
    /// command, on both paths. The careful path also reads QEMU's used.idx (and asks QMP when it differs from the
    /// model's); once QMP ever finds a request in flight, every kick waits for QMP's <c>inuse == 0</c> from then
    /// on.</summary>
    public void Settle(QemuMachine qemu, ModelVirtioRig rig)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        QemuMachine q = qemu;
        q.Qtest.Sync();
        if (!_careful)
            return;
        QueueDrains++;
        if (UsedIdxAgree(q, rig))
            return;
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
    private static bool UsedIdxAgree(QemuMachine q, ModelVirtioRig rig) =>
        LockstepDriver.ModelUsedIdx(rig) is { } expected
        && q.Qtest.Read(rig.VirtioDevice.GetQueue(0).UsedRing.Value + 2, 2) == expected;

    /// <summary>Times the careful path found QEMU's I/O still in flight and waited for it through QMP.</summary>
    public long AsyncSeen { get; private set; }

    private bool _careful = true;

    /// <summary>Settles so far, and how many needed QMP (the slow path).</summary>
    public long QueueDrains { get; private set; }

    public long QmpDrains { get; private set; }

    /// <summary>Sends what is batched and waits until QEMU has no request in flight (QMP <c>inuse == 0</c>).</summary>
    private static void Drain(QemuMachine q)
    {
        q.Qtest.Sync();
        DateTime deadline = DateTime.UtcNow + DrainMax;
        while (q.Qmp.QueueInUse(QemuCommandLine.VirtioBackendPath, 0) != 0)
        {
            if (DateTime.UtcNow > deadline)
                throw new QemuHangException($"QEMU still had requests in flight after {DrainMax.TotalSeconds:0} s");
            Thread.Yield();
        }
    }

    private static void Observe(ModelBlkRig rig, BlkObservation o)
    {
        ObservationReader.Model(rig, o);
        rig.Backend.Contents.CopyTo(o.Disk);
    }

    /// <summary>QEMU's side, in one round trip: status, ISR, RAM [0, 64 KiB); then the disk image file. Broken is
    /// decided by the caller.</summary>
    private void ObserveQemu(QemuMachine q, BlkObservation o)
    {
        _observer.Qemu(q, Pci, o);
        q.ReadDisk(o.Disk);
    }

    private readonly ObservationReader _observer = new();

    /// <summary>Only the guest's stores (mirrored by the driver) matter: the device's own are what is
    /// compared.</summary>
    public void OnDeviceWrite(GuestAddress address, ReadOnlySpan<byte> data) { }

    /// <summary>QEMU 7.2's virtio-blk does nothing at DRIVER_OK that the model does not (requests wait for a
    /// kick).</summary>
    public void BeforeDriverOk(ModelVirtioRig rig, ulong avail) { }

    /// <summary>Op 13 does nothing on blk (as on <c>virtio-blk-qemu-robust</c>).</summary>
    public void DeviceEvent(QemuMachine qemu, ModelVirtioRig rig, in RingInput.Op op) { }

    /// <summary>The used ring the model's queue points at (address, size), for messages; null when not set
    /// up.</summary>
    public (ulong Address, int Size)? ModelUsedRing()
    {
        if (Model is null)
            return null;
        SplitQueue queue = Model.Device.GetQueue(0);
        return InMemory(queue) ? (queue.UsedRing.Value, queue.Size) : null;
    }

    /// <summary>The queue has a size and its used ring lies inside the compared memory (the register may hold any
    /// address the input wrote; sums below must not wrap).</summary>
    private static bool InMemory(SplitQueue queue) =>
        queue.Size > 0
        && queue.UsedRing.Value <= (ulong)MemoryBytes
        && 6 + (8UL * (ulong)queue.Size) <= (ulong)MemoryBytes - queue.UsedRing.Value;

    /// <summary>The model queue's descriptor table, used ring and size at the end of the run; null when not set
    /// up.</summary>
    public (ulong Desc, ulong Used, int Size)? ModelRing()
    {
        if (Model is null)
            return null;
        SplitQueue queue = Model.Device.GetQueue(0);
        return InMemory(queue) ? (queue.DescTable.Value, queue.UsedRing.Value, queue.Size) : null;
    }

    /// <summary>Whether the last initialisation of the run negotiated INDIRECT_DESC.</summary>
    public bool Indirect => _driver.Indirect;

    /// <summary>Reads used.idx and the entries (id, len) from a memory image (for messages).</summary>
    public static string DescribeUsed(ReadOnlySpan<byte> memory, ulong used, int size)
    {
        if (used > (ulong)memory.Length - 4)
            return "(used ring outside the compared memory)";
        ushort idx = BinaryPrimitives.ReadUInt16LittleEndian(memory[(int)(used + 2)..]);
        var parts = new List<string>();
        for (int i = 0; i < Math.Min((int)idx, Math.Min(size, 8)); i++)
        {
            ulong at = used + 4 + (8UL * (ulong)i);
            if (at + 8 > (ulong)memory.Length)
                break;
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(memory[(int)at..]);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(memory[(int)(at + 4)..]);
            parts.Add($"({id},{len})");
        }
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(memory[(int)used..]);
        ulong eventAt = used + 4 + (8UL * (ulong)size);
        string availEvent =
            eventAt + 2 <= (ulong)memory.Length
                ? BinaryPrimitives
                    .ReadUInt16LittleEndian(memory[(int)eventAt..])
                    .ToString(System.Globalization.CultureInfo.InvariantCulture)
                : "-";
        return $"flags={flags} idx={idx} [{string.Join(' ', parts)}] avail_event={availEvent}";
    }
}
