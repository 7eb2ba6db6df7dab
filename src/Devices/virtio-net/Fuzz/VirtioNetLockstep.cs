using System.Globalization;
using Sim.Devices.Virtio.Net;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Sim.Spec.Net;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Runs one <see cref="RingInput"/> v1 input — the byte format of <c>virtio-net-qemu-robust</c>, whose ring ops drive
/// queue 0, receiveq1 — on our robust net model (<see cref="ModelNetRig"/> on a source link: a frame waits for every
/// receive chain) and on QEMU's virtio-net-pci (socket netdev on a <see cref="QemuNetLink"/>) in lockstep; the shared
/// <see cref="LockstepDriver"/> performs the operations, this class adds the frames and the kick settling.
/// <para>A kick: the model delivers a source frame into each available chain (it keeps the frames it took); QEMU's
/// virtio_net_handle_rx runs inside the notify write (ioeventfd off) and flushes what its net queue holds. Then the
/// same frames, in order, are sent to QEMU's UDP socket: the socket backend's read handler offers each to
/// virtio_net_receive when QEMU's main loop turns, so QEMU's used.idx is read until it equals the model's (each read is
/// a round trip), at most <see cref="SettleReadsMax"/> times.</para>
/// </summary>
internal sealed class VirtioNetLockstep : ILockstepDevice
{
    public const int MemoryBytes = VirtioBlkLockstep.MemoryBytes;

    /// <summary>used.idx reads after a kick before the difference stands.</summary>
    public const int SettleReadsMax = 64;

    /// <summary>Where <see cref="Drain"/> puts its rings and buffers in QEMU's RAM: above the 64 KiB the inputs use
    /// and compare.</summary>
    public const ulong DrainRings = 0x10_0000;

    public const ulong DrainBuffers = 0x20_0000;

    /// <summary>Chains (of 64 KiB) and used.idx reads of a <see cref="Drain"/>.</summary>
    public const int DrainChains = 16;

    public const int DrainReadsMax = 48;

    private readonly LockstepDriver _driver;
    private readonly List<byte[]> _taken = [];
    private readonly List<byte[]> _modelSent = [];
    private readonly Queue<byte[]> _qemuSent = new();
    private long _qemuSentCount;
    private bool[]? _deviceWrote;
    private readonly ObservationReader _observer = new();
    private ulong _notify;
    private long _droppedAtBreak;

    public VirtioNetLockstep() => _driver = new LockstepDriver(this, Facts);

    /// <summary>Every used ring (address, size) the model's queue was given during the last run.</summary>
    public List<(ulong Address, int Size)> UsedRingsSeen => _driver.UsedRingsSeen;

    /// <summary>The facts of the last run that rows of <see cref="NetQemu72Differences"/> rest on.</summary>
    public NetRunFacts Facts { get; } = new();

    /// <summary>Kicks whose used.idx needed more than one read to agree (QEMU's socket read handler ran
    /// late).</summary>
    public long LateSettles { get; private set; }

    public QemuVirtioPci Pci => _driver.Pci;

    /// <summary>Binds the QEMU half (after a (re)start) and its link.</summary>
    public void Attach(QemuMachine qemu, QemuNetLink link)
    {
        _driver.Attach(qemu, NetSpec.DeviceId);
        Link = link;
        _notify = Pci.NotifyAddress(Narrow.LowUInt16(Pci.CommonRead(L.CommonQueueNotifyOff, 2)));
        _observer.Forget();
    }

    public QemuNetLink? Link { get; private set; }

    /// <summary>Device reset (status 0) and RAM [0, 64 KiB) cleared; <paramref name="wait"/> waits for the
    /// answers.</summary>
    public void ResetQemu(bool wait) => _driver.ResetQemu(wait);

    /// <summary>Frames QEMU may still hold (its net queue, the socket's buffer) after an input where it did not take
    /// every frame as the model did: a driver initialisation with <see cref="DrainChains"/> chains of 64 KiB above
    /// the compared memory takes them, then the device is reset again. Without it they would reach the next input's
    /// first chains.</summary>
    public void Drain()
    {
        QemuMachine q = _driver.Qemu;
        const byte s0 = (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        const byte s1 = (byte)(s0 | (byte)VirtioStatus.FeaturesOk);
        Pci.CommonWrite(L.CommonDeviceStatus, 1, 0);
        Pci.CommonWrite(L.CommonDeviceStatus, 1, s0);
        Pci.CommonWrite(L.CommonDriverFeatureSelect, 4, 1);
        Pci.CommonWrite(L.CommonDriverFeature, 4, 1UL << (VirtioSpec.FVersion1 - 32));
        Pci.CommonWrite(L.CommonDeviceStatus, 1, s1);
        Pci.CommonWrite(L.CommonQueueSelect, 2, 0);
        Pci.CommonWrite(L.CommonQueueSize, 2, DrainChains);
        Pci.CommonWrite(L.CommonQueueDesc, 8, DrainRings);
        Pci.CommonWrite(L.CommonQueueDriver, 8, DrainRings + 0x400);
        Pci.CommonWrite(L.CommonQueueDevice, 8, DrainRings + 0x800);
        Pci.CommonWrite(L.CommonQueueEnable, 2, 1);
        var table = new byte[16 * DrainChains];
        var avail = new byte[4 + (2 * DrainChains)];
        for (int i = 0; i < DrainChains; i++)
        {
            BitConverter.TryWriteBytes(table.AsSpan(16 * i), DrainBuffers + ((ulong)i * 0x1_0000));
            BitConverter.TryWriteBytes(table.AsSpan((16 * i) + 8), 0x1_0000u);
            table[(16 * i) + 12] = 2; // VIRTQ_DESC_F_WRITE
            avail[4 + (2 * i)] = Narrow.LowByte(i);
        }
        avail[2] = DrainChains;
        q.Qtest.WriteBytes(DrainRings, table);
        q.Qtest.WriteBytes(DrainRings + 0x400, avail);
        q.Qtest.Memset(DrainRings + 0x800, 8 * (DrainChains + 1), 0);
        Pci.CommonWrite(L.CommonDeviceStatus, 1, s1 | (byte)VirtioStatus.DriverOk);
        q.Qtest.Write(_notify, 2, 0);
        for (int n = 0; n < DrainReadsMax; n++)
            q.Qtest.Read(DrainRings + 0x802, 2);
        ResetQemu(wait: true);
    }

    /// <summary>Runs <paramref name="input"/> on both halves and fills the observations; queues QEMU's reset for the
    /// next input at the end.</summary>
    public void Run(
        ReadOnlySpan<byte> input,
        NetObservation model,
        NetObservation qemu,
        Targets.FuzzContext? context = null
    )
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(qemu);
        QemuMachine q = _driver.Qemu;
        q.ClearStderr();
        Simulation sim = RingSimulation.Create(VirtioBlkLockstep.EventsMax);
        context?.Attach(sim); // before the rig: its register accesses are recorded too
        var rig = new ModelNetRig(sim, context, NetBackendMode.Source);
        _taken.Clear();
        rig.Device.Backend.Taken = _taken;
        _modelSent.Clear();
        rig.Device.Backend.SentLog = _modelSent;
        _deviceWrote = model.DeviceWrote;
        Array.Clear(_deviceWrote);
        ForgetSent();
        _droppedAtBreak = 0;
        _driver.Run(input, rig, context);
        Facts.FramesReceived = rig.Device.FramesReceived;
        Facts.ReceiveDropped = rig.Device.ReceiveDropped;
        Facts.ReceiveDroppedSinceBreak = rig.Device.ReceiveDropped - _droppedAtBreak;
        Facts.FramesSent = rig.Device.Backend.FramesSent;
        ObservationReader.Model(rig, model);
        _observer.Qemu(q, Pci, qemu);
        CollectSent(Facts.FramesSent, TimeSpan.Zero);
        Facts.QemuFramesSent = _qemuSentCount;
        model.SetSent(_modelSent.TakeLast(NetBackend.TransmittedKeptMax), rig.Device.Backend.FramesSent);
        qemu.SetSent(_qemuSent, _qemuSentCount);
        bool bit = (qemu.DeviceStatus & (byte)VirtioStatus.DeviceNeedsReset) != 0;
        qemu.Broken = Facts.GuestTouchedStatusOrFeatures ? q.Qmp.Broken(QemuCommandLine.NetVirtioBackendPath) : bit;
        qemu.BrokenReason = qemu.Broken ? q.LastStderrLine() : null;
        ResetQemu(wait: false);
    }

    /// <summary>QEMU 7.2's virtio_net_set_status does not look at receiveq1's buffers (frames arrive from the
    /// netdev); nothing to note.</summary>
    public void BeforeDriverOk(ModelVirtioRig rig, ulong avail) { }

    /// <summary>Ends the kick's batch, sends QEMU the frames the model took at this kick, and reads QEMU's used.idx
    /// until it equals the model's.</summary>
    public void Settle(QemuMachine qemu, ModelVirtioRig rig)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(rig);
        qemu.Qtest.Sync();
        if (rig.VirtioDevice.IsBroken)
            _droppedAtBreak = ((ModelNetRig)rig).Device.ReceiveDropped;
        // The model delivers waiting frames at a kick of either queue (VirtioNetDevice.HandleQueueNotify); QEMU takes
        // what reaches its socket whenever it can receive, so the frames go out whichever queue was kicked.
        bool took = SendTaken();
        if (_driver.KickedQueue != NetSpec.ReceiveQueue)
        {
            SettleTransmit(qemu, (ModelNetRig)rig);
            if (!took)
                return;
        }
        if (LockstepDriver.AwaitQemuUsedIdx(qemu, rig, NetSpec.ReceiveQueue, SettleReadsMax))
            LateSettles++;
    }

    /// <summary>Op 13: the op's frame arrives from the link. The model's device takes it (and the frames waiting
    /// before it) into the receive chains available now (<see cref="VirtioNetDevice.InjectFrame"/>); the frames it
    /// took go to QEMU's socket in the same order once the op's batch was answered, and QEMU's receiveq1 used.idx is
    /// read until it equals the model's. A frame the model could not place waits in its link, and reaches QEMU only
    /// when the model takes it at a later kick, as the source frames do.</summary>
    public void DeviceEvent(QemuMachine qemu, ModelVirtioRig rig, in RingInput.Op op)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(rig);
        ((ModelNetRig)rig).Device.InjectFrame(InjectedFrame.From(op));
        Facts.InputFrames++;
        qemu.Qtest.Sync();
        if (SendTaken() && LockstepDriver.AwaitQemuUsedIdx(qemu, rig, NetSpec.ReceiveQueue, SettleReadsMax))
            LateSettles++;
    }

    /// <summary>Sends QEMU's socket the frames the model took since the last call, in order; true when there were
    /// any.</summary>
    private bool SendTaken()
    {
        bool took = _taken.Count > 0;
        foreach (byte[] frame in _taken)
            Link!.Inject(frame);
        Facts.FramesInjected += _taken.Count;
        _taken.Clear();
        return took;
    }

    /// <summary>A transmitq1 kick: QEMU's virtio_net_handle_tx_bh only schedules the TX bottom half, which runs when
    /// the main loop turns (each qtest round trip); virtio_net_flush_tx sends each frame on the socket before it
    /// completes the chain, so once used.idx agrees the datagrams are in our socket's buffer.</summary>
    private void SettleTransmit(QemuMachine qemu, ModelNetRig rig)
    {
        if (LockstepDriver.AwaitQemuUsedIdx(qemu, rig, _driver.KickedQueue, SettleReadsMax))
            LateSettles++;
        CollectSent(rig.Device.Backend.FramesSent, TransmitWait);
    }

    /// <summary>How long a transmit kick waits for a datagram QEMU still owes (the model sent more so far).</summary>
    public static readonly TimeSpan TransmitWait = TimeSpan.FromMilliseconds(20);

    /// <summary>Takes the frames QEMU sent to our socket: waiting up to <paramref name="wait"/> each while fewer than
    /// <paramref name="expected"/> came, then whatever is already there.</summary>
    private void CollectSent(long expected, TimeSpan wait)
    {
        while (Link!.Receive(_qemuSentCount < expected ? wait : TimeSpan.Zero) is { } frame)
        {
            _qemuSentCount++;
            if (_qemuSent.Count == NetBackend.TransmittedKeptMax)
                _qemuSent.Dequeue();
            _qemuSent.Enqueue(frame);
        }
    }

    /// <summary>Drops what QEMU sent before this input (a late bottom half of the input before).</summary>
    private void ForgetSent()
    {
        while (Link!.Receive(TimeSpan.Zero) is not null) { }
        _qemuSent.Clear();
        _qemuSentCount = 0;
    }

    /// <summary>The model device's stores are marked (num_buffers bytes among them).</summary>
    public void OnDeviceWrite(GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (_deviceWrote is null || address.Value >= (ulong)MemoryBytes)
            return;
        int end = (int)Math.Min((ulong)MemoryBytes, address.Value + (ulong)data.Length);
        for (int a = (int)address.Value; a < end; a++)
            _deviceWrote[a] = true;
    }
}
