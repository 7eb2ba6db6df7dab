using System.Buffers.Binary;
using Sim.Devices.Vhost;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Targets.Transport;

/// <summary>
/// One execution of <see cref="VirtioPciTarget"/>: its ops applied through a <see cref="VirtioPciDriverRig"/>, each
/// register access judged by this execution's <see cref="VirtioPciRegisterModel"/>, the target's
/// <see cref="VirtqueueChecker"/> kept on the rings the device uses, its <see cref="DeviceAccessGate"/> asking the
/// driver-visible registers, and its <see cref="GuestActor"/> posting requests. All state that lives for one
/// execution lives here, so nothing leaks into the next. The register accesses are in
/// VirtioPciExecution.Registers.cs, the driver's sequences and the guest in VirtioPciExecution.Driver.cs.
/// </summary>
internal sealed partial class VirtioPciExecution
{
    private const int Queue = 0;

    private readonly VirtioPciDriverRig _rig;
    private readonly Simulation _sim;
    private readonly VirtioDevice _device;
    private readonly FuzzContext _context;
    private readonly VirtioPciRegisterModel _model;
    private readonly VirtqueueChecker _checker;
    private readonly DeviceAccessGate _gate;
    private readonly GuestActor _guest;
    private readonly int _pciCfgCap;
    private bool _modelValid = true;
    private SplitQueueState _synced;
    private bool _syncedReady;
    private bool _checkerStarted;
    private bool _guestReady;
    private bool _resync;
    private long _resetCount;
    private ulong _guestDesc;
    private ulong _guestAvailRing;
    private int _guestSize;

    /// <summary>Arms the oracles on a freshly built rig and lets firmware enumerate the device.</summary>
    public VirtioPciExecution(
        VirtioPciDriverRig rig,
        int msixVectors,
        VirtqueueChecker checker,
        DeviceAccessGate gate,
        GuestActor guest,
        MissedInterruptOracle interrupts
    )
    {
        _rig = rig;
        _sim = rig.Simulation;
        _device = rig.Device;
        _context = rig.Context;
        _checker = checker;
        _gate = gate;
        _guest = guest;
        _interrupts = interrupts;
        _model = new VirtioPciRegisterModel(
            [_device.GetQueue(Queue).MaxSize],
            _device.HostFeatures & ~VirtioDevice.LegacyOnlyFeatures,
            Narrow.LowUInt32(_device.HostFeatures),
            msixVectors
        )
        {
            Context = _context,
        };
        _pciCfgCap = rig.FindPciCfgCap();
        _checker.Context = _context;
        _checker.Deactivate();
        _gate.Context = _context;
        _gate.Probe = GateProbe;
        _resetCount = _device.ResetCount;
        _interrupts.Context = _context;
        _interrupts.Deactivate();
        _interruptResetCount = _device.ResetCount;
        _sim.AddMemoryObserver(_checker);
        _sim.AddMemoryObserver(_gate);
        rig.Enumerate();
    }

    /// <summary>Applies one op; false when the execution must stop (the event budget ran out).</summary>
    public bool Apply(in VirtioPciInput.Op op)
    {
        int size = 1 << (op.A & 3);
        switch (op.Code)
        {
            case VirtioPciInput.OpCommonWrite:
                CommonWrite(VirtioPciInput.CommonOffset(op.A, op.Reg), size, op.Value);
                break;
            case VirtioPciInput.OpCommonRead:
                CommonRead(VirtioPciInput.CommonOffset(op.A, op.Reg), size);
                break;
            case VirtioPciInput.OpIsr:
                IsrRead((op.A & 4) != 0, op.Reg & 3);
                break;
            case VirtioPciInput.OpDeviceConfig:
                DeviceConfig(op, size);
                break;
            case VirtioPciInput.OpNotify:
                _rig.Notify((op.A & 4) != 0, op.Reg % 2);
                break;
            case VirtioPciInput.OpLegacyWrite:
                LegacyWrite(VirtioPciInput.LegacyOffset(op.A, op.Reg), size, op.Value);
                break;
            case VirtioPciInput.OpLegacyRead:
                LegacyRead(VirtioPciInput.LegacyOffset(op.A, op.Reg), size);
                break;
            case VirtioPciInput.OpPciConfigWrite:
                PciConfigWrite(op);
                break;
            case VirtioPciInput.OpPciConfigRead:
            {
                int width = Math.Min(size, 4);
                PciConfigRead(op.Reg & 0xFF & ~(width - 1), width);
                break;
            }
            case VirtioPciInput.OpMsixWrite:
                _rig.BarWrite(L.MsixBar, (ulong)(op.Reg % 0x1000) & ~3UL, 4, (uint)op.Value);
                break;
            case VirtioPciInput.OpModernInit:
                ModernInit(op);
                break;
            case VirtioPciInput.OpLegacyInit:
                LegacyInit(op);
                break;
            case VirtioPciInput.OpPost:
                Post(op);
                break;
            case VirtioPciInput.OpRun:
                return (op.A & VirtioPciInput.RunShort) != 0
                    ? RunFor(VirtioPciInput.ShortRunNs(op.Value))
                    : Run(1 + (op.A % 8));
            case VirtioPciInput.OpReset:
                Reset(op.A % 4);
                break;
            default:
                Reenumerate((op.A & 1) != 0);
                break;
        }
        return true;
    }

    /// <summary>A device-configuration write (the driver's own: no generation change is owed for it) or a consistent
    /// snapshot read.</summary>
    private void DeviceConfig(in VirtioPciInput.Op op, int size)
    {
        if ((op.A & 4) != 0)
        {
            _rig.BarWrite(L.ModernBar, L.ModernDeviceOffset + (ulong)(op.Reg % 8), Math.Min(size, 4), op.Value);
            _model.ForgetConfig();
        }
        else
        {
            ConfigSnapshot();
        }
    }

    /// <summary>Firmware enumerates again, after a PCI reset when <paramref name="reset"/>.</summary>
    private void Reenumerate(bool reset)
    {
        if (reset)
        {
            _rig.Transport.Reset();
            AfterReset();
        }
        _rig.Enumerate();
    }

    private string? GateProbe()
    {
        if (_device is VhostDemoFrontendDevice frontend && InVhostHandBack(frontend))
            return null;
        if (!_rig.Transport.BusMasterEnabled)
            return "bus mastering is off";
        if ((_rig.PeekStatus() & VirtioStatus.DriverOk) == 0)
            return "DRIVER_OK is not set";
        return null;
    }

    private bool Run(int windows) => RunFor(windows * VirtioPciTarget.RunWindowNs);

    /// <summary>Lets <paramref name="ns"/> simulated nanoseconds pass; false (a hang reported) when the event budget
    /// ran out or a vhost frontend's worker livelocked.</summary>
    private bool RunFor(long ns)
    {
        StopReason reason = _sim.Loop.Run(_sim.Now + ns);
        if (_device is VhostDemoFrontendDevice { Backend.Device.Worker: { LivelocksDetected: > 0 } worker })
        {
            // The worker's own sensor (VhostOptions.IdleRequeuesMax idle self-requeues in a row), as the vhost ring
            // targets read it (VhostBackendRig.Run): the seed handle_demo_kick's unconditional vhost_poll_queue.
            _context.ReportHang(
                "hang/vhost-worker-livelock",
                $"the vhost worker ran its handler {worker.IdleSelfRequeueStreakMax} times in a row, each requeueing "
                    + "itself without consuming or completing anything"
            );
            return false;
        }
        if (reason != StopReason.EventLimit)
            return true;
        _context.ReportHang(
            "hang/event-budget",
            $"the simulation used its {VirtioPciTarget.EventsMax} events without the guest acting"
        );
        return false;
    }

    private void Reset(int how)
    {
        switch (how)
        {
            case 0:
                CommonWrite(L.CommonDeviceStatus, 1, 0);
                break;
            case 1:
                LegacyWrite(L.LegacyStatus, 1, 0);
                break;
            case 2:
                LegacyWrite(L.LegacyQueuePfn, 4, 0);
                break;
            default:
                // PCI reset (QEMU virtio_pci_reset, then the PCI core): BARs unmapped, decoding and bus mastering off.
                Reenumerate(reset: true);
                break;
        }
    }

    /// <summary>Follows the queue the device uses after every op: the checker judges the rings the driver published,
    /// the missed-interrupt oracle the rings the device completes on.</summary>
    public void Sync()
    {
        SyncChecker();
        SyncInterrupts();
    }

    private void SyncChecker()
    {
        SplitQueue q = _device.GetQueue(Queue);
        bool ready = q.Ready && _device.DriverOk && !_device.IsBroken;
        if (!ready)
        {
            if (_syncedReady)
                _checker.Deactivate();
            _syncedReady = false;
            return;
        }
        SplitQueueState state = q.Capture();
        VhostVirtqueue? vhost = _device is VhostDemoFrontendDevice { VhostStarted: true } f
            ? f.Backend.Device.Vqs[Queue]
            : null;
        bool reset = _resetCount != _device.ResetCount;
        // A running vhost keeps the rings and used index it started with (QEMU does not restart vhost when a legacy
        // driver rewrites QUEUE_PFN under DRIVER_OK), so the checker stays on them until a reset or a stop.
        bool restarted = (_resync && vhost is null) || reset;
        bool ringWrites = _resync;
        _resync = false;
        _resetCount = _device.ResetCount;
        if (_syncedReady && !restarted && (vhost is not null || SameRings(state, _synced)))
            return;
        // vhost_vq_init_access takes last_used_idx from the guest's used->idx (a driver that reuses a ring without
        // zeroing it, against VIRTIO 1.2 §4.1.5.1.3, leaves it nonzero after a reset).
        ushort usedIdx = vhost?.LastUsedIdx ?? state.UsedIdx.Value;
        // DRIVER_OK set again after a stop with no reset, queue enable or QUEUE_PFN write between, on the rings the
        // checker followed: the device must resume where it stopped (QEMU vhost_virtqueue_stop / _start).
        if (!_syncedReady && _checkerStarted && !reset && !ringWrites && SameRings(state, _synced))
        {
            _checker.Resume(
                _sim.Memory,
                state.DescTable.Value,
                state.AvailRing.Value,
                state.UsedRing.Value,
                state.Size,
                usedIdx
            );
        }
        else
        {
            _checker.Configure(
                _sim.Memory,
                state.DescTable.Value,
                state.AvailRing.Value,
                state.UsedRing.Value,
                state.Size,
                usedIdx,
                vhost?.LastAvailIdx ?? state.NextAvail.Value
            );
        }
        _synced = state;
        _syncedReady = true;
        _checkerStarted = true;
    }

    private static bool SameRings(in SplitQueueState a, in SplitQueueState b) =>
        a.Size == b.Size && a.DescTable == b.DescTable && a.AvailRing == b.AvailRing && a.UsedRing == b.UsedRing;

    /// <summary>The guest stops and kicks once; after the device ran, every available chain is consumed unless the
    /// device is broken or may not run (VIRTIO 1.2 §2.7.13.3: a notified device processes the ring).</summary>
    public void Liveness()
    {
        if (!_syncedReady || !_rig.Transport.BusMasterEnabled)
            return;
        bool kicked = _rig.Notify(false, Queue) | _rig.Notify(true, Queue);
        if (!kicked)
            return; // the driver cannot reach a notify register: nothing is owed
        if (!Run(8))
            return;
        Sync();
        if (_device.IsBroken || !_syncedReady || _context.Finding is not null || !_rig.Transport.BusMasterEnabled)
        {
            return;
        }
        SplitQueue q = _device.GetQueue(Queue);
        if (!_sim.Memory.TryGetSpan(new GuestAddress(q.AvailRing.Value + 2), 2, out Span<byte> raw))
            return;
        ushort availIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        RingIndex next = q.NextAvail;
        if (_device is VhostDemoFrontendDevice frontend && !VhostProgress(frontend, q, out next))
            return;
        if (next.Value != availIdx && RingIndex.Distance(next, new RingIndex(availIdx)) <= q.Size)
        {
            _context.Report(
                "liveness",
                "liveness/available-chain-not-consumed",
                $"after the guest stopped and kicked, avail.idx is {availIdx} but the device stopped at "
                    + $"{next.Value} and is not broken"
            );
        }
    }

    /// <summary>Where a vhost frontend's vring stands: while vhost runs, the backend owns it (vhost_dev_start handed
    /// it last_avail_idx), so its last_avail_idx is the device's progress. False when nothing is owed: vhost is not
    /// started (the seed's userspace fallback is an empty handler, by design: a failed start, e.g. without ioeventfds,
    /// leaves requests unanswered) or a vq_err stopped the vring (Linux vhost: the ring waits for the driver's
    /// reset).</summary>
    private static bool VhostProgress(VhostDemoFrontendDevice frontend, SplitQueue q, out RingIndex next)
    {
        next = default;
        if (!frontend.VhostStarted || UsedOverlapsAvail(q))
            return false;
        VhostVirtqueue vq = frontend.Backend.Device.Vqs[Queue];
        if (vq.VqErrors > 0)
            return false;
        next = new RingIndex(vq.LastAvailIdx);
        return true;
    }

    /// <summary>The used ring overlaps the available ring (a placement the driver chose): every completion then
    /// rewrites avail.idx or an avail entry, so a device that completes a chain may publish the next one itself and
    /// "all available chains consumed" is never reached (seen: used.idx stored over avail.idx, each completion one
    /// more available chain). Nothing is owed there.</summary>
    private static bool UsedOverlapsAvail(SplitQueue q)
    {
        ulong size = (ulong)q.Size;
        ulong avail = q.AvailRing.Value,
            used = q.UsedRing.Value;
        ulong availEnd = avail + VirtioSpec.AvailRingOffset + (2 * size) + 2;
        ulong usedEnd = used + VirtioSpec.UsedRingOffset + (VirtioSpec.UsedElemSize * size) + 2;
        return used < availEnd && avail < usedEnd;
    }

    /// <summary>The frontend is inside the status write that stops vhost: the backend's vring is stopped but vhost
    /// still counts as started. QEMU's vhost_virtqueue_stop reads used-&gt;idx there
    /// (virtio_queue_update_used_idx) after DRIVER_OK was cleared; the read belongs to the driver's status write,
    /// not to a device running after reset. A backend vring still running is never excused.</summary>
    private static bool InVhostHandBack(VhostDemoFrontendDevice frontend) =>
        frontend.VhostStarted && !frontend.Backend.Device.Vqs[Queue].HasBackend;
}
