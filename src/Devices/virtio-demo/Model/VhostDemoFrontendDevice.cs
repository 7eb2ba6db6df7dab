using System.Globalization;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;

namespace Sim.Devices.Vhost.Frontend;

/// <summary>
/// The QEMU side of vhost-demo (seed 000 lab 3, the modified hw/virtio/virtio-demo.c): a virtio device with
/// virtio-demo's identity — device id <see cref="VirtioDemoDevice.VirtioIdDemo"/>, one 128-entry queue, no
/// device-specific features, the 4-byte config — so the lab 2 guest driver drives it unchanged, but whose data
/// path is the in-kernel <see cref="VhostDemo"/> backend.
/// <list type="bullet">
/// <item>Realize (the constructor) is vhost_demo_init: open the vhost device, SET_OWNER, GET_FEATURES
/// (<see cref="VhostBackendStarter.Init"/>).</item>
/// <item><see cref="HandleQueueNotify"/> is the seed's empty <c>vhost_demo_handle</c>: a kick that reaches QEMU
/// (before DRIVER_OK's vhost start, or with vhost stopped) is ignored and only counted.</item>
/// <item>set_status (virtio_demo_vhost_status): when "DRIVER_OK is set" differs from "vhost started", start or
/// stop. Start is vhost_demo_start: set_guest_notifiers (the queue vector's irqfd as the call fd, else a
/// userspace guest notifier, <see cref="VhostCallPath"/>), vhost_dev_enable_notifiers (take the transport's
/// host notifier — the ioeventfd's eventfd — as the kick fd and detach QEMU's handler from it), then
/// vhost_dev_start with the acked features (the driver's, masked by what vhost offers), the memory table and
/// the ring GPAs, resuming at the queue's last_avail_idx. A failed start is reported (QEMU: "unable to start
/// vhost ... falling back on userspace virtio" — and userspace virtio here is the empty handler, so requests
/// then go unanswered).</item>
/// <item>Stop is vhost_dev_stop: backend stop, GET_VRING_BASE stored into the <see cref="SplitQueue"/>'s
/// last_avail_idx (QEMU virtio_queue_set_last_avail_idx, then virtio_queue_invalidate_signalled_used and
/// virtio_queue_update_used_idx from the guest's used ring), call fd unbound, QEMU's handler re-attached.</item>
/// </list>
/// Known differences from the QEMU-style virtio-demo device, by design of the seed: the backend's state lives in
/// the kernel and survives a device reset (QEMU never issues RESET_OWNER); the robust virtio-demo resets its state
/// to 0x1333 instead. The config bytes stay zero (QEMU cannot read the kernel's state; the seed's get_config is not
/// shown). Kicks need ioeventfds (QEMU's vhost_dev_enable_notifiers fails without them). A start with bus
/// mastering off fails (QEMU would start vhost, which ignores the command register).
/// Device output (the seed's printf) goes to <see cref="Log"/>.
/// </summary>
public sealed class VhostDemoFrontendDevice : VirtioDevice
{
    /// <summary>Default trace source of the QEMU-side device.</summary>
    public const uint TraceIdDefault = 0x45;

    /// <summary>Default trace source of the vhost backend (its worker, vq_err, memory accesses).</summary>
    public const uint VhostTraceIdDefault = 0x46;

    /// <summary>DeviceResult code of a vhost start (Value = 0 on success, else step &lt;&lt; 32 | errno).</summary>
    public const ulong ResultVhostStart = 0x10;

    /// <summary>DeviceResult code of a vhost stop (Value = the last_avail_idx read back, or step &lt;&lt; 32 | errno
    /// with bit 63 set on failure).</summary>
    public const ulong ResultVhostStop = 0x11;

    private readonly VhostGuestNotifier[] _guestNotifiers;
    private readonly VhostCallPath[] _callPaths;
    private readonly ushort[] _lastAvail;

    /// <param name="simulation">The simulation the device will be attached in (the vhost backend is created at
    /// realize time, before the transport exists).</param>
    /// <param name="backendFlavour">Which vhost-demo backend: the seed's handle_demo_kick or the robust one.</param>
    /// <param name="vhostOptions">The vhost device's weights and limits (Linux's defaults when null).</param>
    /// <param name="traceId">The frontend device's source id in traces.</param>
    /// <param name="vhostTraceId">The vhost worker's source id in traces.</param>
    public VhostDemoFrontendDevice(
        Simulation simulation,
        Flavour backendFlavour = Flavour.Robust,
        VhostOptions? vhostOptions = null,
        uint traceId = TraceIdDefault,
        uint vhostTraceId = VhostTraceIdDefault
    )
        : base(VirtioDemoDevice.VirtioIdDemo, [VirtioDemoDevice.QueueSize], 0, VirtioDemoDevice.ConfigBytes, traceId)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        Vmm = new VmmAddressSpace(simulation.Memory);
        Backend = new VhostDemo(simulation, Vmm, backendFlavour, vhostOptions, vhostTraceId);
        VhostResult r = VhostBackendStarter.Init(Backend, out ulong offered, out VhostStartStep step);
        // A fresh vhost device cannot refuse SET_OWNER/GET_FEATURES; the seed exit(1)s if it did.
        if (r != VhostResult.Ok)
            throw new InvalidOperationException($"vhost_demo_init failed at {step}: {r}");
        VhostOfferedFeatures = offered;
        _guestNotifiers = new VhostGuestNotifier[QueueCount];
        _callPaths = new VhostCallPath[QueueCount];
        _lastAvail = new ushort[QueueCount];
        for (int q = 0; q < QueueCount; q++)
        {
            int queue = q;
            _guestNotifiers[q] = new VhostGuestNotifier(simulation, traceId, q, () => RaiseFromGuestNotifier(queue));
        }
    }

    /// <summary>The in-kernel backend (its <see cref="VhostDemo.Device"/> is the vhost fd).</summary>
    public VhostDemo Backend { get; }

    /// <summary>QEMU's userspace address space as vhost sees it.</summary>
    public VmmAddressSpace Vmm { get; }

    /// <summary>What VHOST_GET_FEATURES returned at realize.</summary>
    public ulong VhostOfferedFeatures { get; }

    /// <summary>Backend flavour.</summary>
    public Flavour BackendFlavour => Backend.Flavour;

    /// <summary>VirtIODemo.vhost_started.</summary>
    public bool VhostStarted { get; private set; }

    /// <summary>Successful vhost starts and stops.</summary>
    public long Starts { get; private set; }

    /// <summary>vhost stops (the backend handed back to userspace).</summary>
    public long Stops { get; private set; }

    /// <summary>Failed starts; <see cref="LastStartResult"/> / <see cref="LastStartStep"/> say why.</summary>
    public long StartFailures { get; private set; }

    /// <summary>What the last failed start returned.</summary>
    public VhostResult LastStartResult { get; private set; }

    /// <summary>Which step the last failed start failed at.</summary>
    public VhostStartStep LastStartStep { get; private set; }

    /// <summary>Why the last start failed before any ioctl (no host notifier, queue not ready), or null.</summary>
    public string? LastStartError { get; private set; }

    /// <summary>Kicks that reached QEMU's (empty) handler: none while vhost owns the kick fd.</summary>
    public long QemuHandlerRuns { get; private set; }

    /// <summary>The device's printf output (seed: virtio_demo_vhost_status).</summary>
    public DeviceLog Log { get; } = new();

    /// <summary>How queue <paramref name="queueIndex"/>'s completions reach the guest while started.</summary>
    public VhostCallPath GetCallPath(int queueIndex) => _callPaths[queueIndex];

    /// <summary>Interrupts raised by QEMU's userspace guest notifier of queue <paramref name="queueIndex"/>.</summary>
    public long GetUserspaceCalls(int queueIndex) => _guestNotifiers[queueIndex].Raised;

    /// <summary>last_avail_idx that the last stop read back with GET_VRING_BASE.</summary>
    public ushort GetStoppedAvailIdx(int queueIndex) => _lastAvail[queueIndex];

    /// <summary>The seed's vhost_demo_handle: empty. The kick is counted, nothing else.</summary>
    protected override void HandleQueueNotify(int queueIndex) => QemuHandlerRuns++;

    /// <summary>virtio_demo_set_status → virtio_demo_vhost_status.</summary>
    protected override void OnStatusChanged(VirtioStatus oldStatus, VirtioStatus newStatus)
    {
        Log.Add("virtio_demo_vhost_status() begin");
        // virtio_demo_started: DRIVER_OK (and the VM running, which it always is here).
        bool shouldStart = (newStatus & VirtioStatus.DriverOk) != 0;
        if (shouldStart == VhostStarted)
        {
            Log.Add("virtio_demo_vhost_status() return 2");
            return;
        }
        if (!VhostStarted)
        {
            VhostStarted = true;
            bool ok = StartVhost();
            Log.Add("virtio_demo_vhost_status() after vhost_demo_start");
            if (!ok)
            {
                string reason = LastStartError ?? LastStartStep + ": " + LastStartResult;
                Log.Add(
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"unable to start vhost demo: {reason}: falling back on userspace virtio"
                    )
                );
                VhostStarted = false;
            }
        }
        else
        {
            StopVhost();
            VhostStarted = false;
        }
        Log.Add("virtio_demo_vhost_status() end normal");
    }

    /// <summary>vhost_demo_start: guest notifiers, host notifiers, vhost_dev_start, backend run.</summary>
    private bool StartVhost()
    {
        LastStartError = null;
        LastStartResult = VhostResult.Ok;
        LastStartStep = VhostStartStep.None;
        // Robust, unlike QEMU (whose vhost reaches guest RAM through the memory table whatever the PCI command
        // register says): no DMA without bus mastering (PCI 3.0 §6.2.2), so no vhost start either; the next DRIVER_OK
        // transition tries again.
        if (!Transport.DmaEnabled)
            return FailStart("bus mastering is off");
        if (!TryCollectRings(out VhostRingStart[] ringArray))
            return false;
        SetGuestNotifiers(ringArray);

        ulong acked = DriverFeatures & VhostOfferedFeatures;
        VhostResult r;
        VhostStartStep step;
        using (new BackendContext(this))
        {
            r = VhostBackendStarter.Start(Backend, acked, ringArray, out step);
        }
        Simulation.Emit(
            TraceEventKind.DeviceResult,
            TraceId,
            ResultVhostStart,
            r == VhostResult.Ok ? 0 : (Narrow.AsUInt64Bits((int)step) << 32) | Narrow.AsUInt64Bits((int)r),
            default
        );
        if (r != VhostResult.Ok)
        {
            LastStartResult = r;
            LastStartStep = step;
            StartFailures++;
            // vhost_dev_start's error path: unbind what was bound and give the notifiers back.
            using (new BackendContext(this))
                UnbindVrings();
            ReleaseNotifiers(deliver: true);
            return false;
        }
        Starts++;
        return true;
    }

    /// <summary>What vhost_dev_start hands the backend for each queue (QEMU vhost_virtqueue_start: size, the three
    /// ring addresses, last_avail_idx as the vring base) with its host notifier (the ioeventfd the kick lands on);
    /// the call eventfd comes from <see cref="SetGuestNotifiers"/>. False (through FailStart) when a queue is not set
    /// up or the binding has no host notifiers.</summary>
    private bool TryCollectRings(out VhostRingStart[] ringArray)
    {
        IVirtioTransport transport = Transport;
        ringArray = new VhostRingStart[QueueCount];
        for (int q = 0; q < QueueCount; q++)
        {
            SplitQueue queue = GetQueue(q);
            if (!queue.Ready)
                return FailStart($"queue {q} is not set up");
            EventFd? kick = transport.GetHostNotifier(q);
            if (kick is null)
                return FailStart("binding does not support host notifiers (ioeventfd off)");
            ringArray[q] = new VhostRingStart(
                queue.Size,
                queue.DescTable,
                queue.AvailRing,
                queue.UsedRing,
                queue.NextAvail.Value,
                kick,
                null
            );
        }
        return true;
    }

    /// <summary>set_guest_notifiers: each queue's call eventfd is an irqfd for its vector when the binding offers
    /// one, else QEMU's userspace handler reading a guest notifier; then vhost_dev_enable_notifiers: the backend
    /// polls the host notifier, QEMU stops reading it.</summary>
    private void SetGuestNotifiers(VhostRingStart[] ringArray)
    {
        IVirtioTransport transport = Transport;
        for (int q = 0; q < QueueCount; q++)
        {
            EventFd? call = transport.UseVectorIrqFd(GetQueueVector(q));
            if (call is not null)
            {
                _callPaths[q] = VhostCallPath.IrqFd;
            }
            else
            {
                _guestNotifiers[q].Attach();
                call = _guestNotifiers[q].Fd;
                _callPaths[q] = VhostCallPath.Userspace;
            }
            ringArray[q] = ringArray[q] with { Call = call };
            transport.SetHostNotifierHandler(q, false);
        }
    }

    /// <summary>vhost_demo_stop: vhost_dev_stop (backend stop, GET_VRING_BASE → last_avail_idx), disable notifiers,
    /// set_guest_notifiers(false).</summary>
    private void StopVhost()
    {
        VhostResult r;
        VhostStartStep step;
        using (new BackendContext(this))
        {
            r = VhostBackendStarter.Stop(Backend, _lastAvail, out step);
            for (int q = 0; q < QueueCount; q++)
                Backend.Device.SetVringCall(Narrow.AsUInt32Bits(q), null);
        }
        Simulation.Emit(
            TraceEventKind.DeviceResult,
            TraceId,
            ResultVhostStop,
            r == VhostResult.Ok
                ? _lastAvail[0]
                : (1UL << 63) | (Narrow.AsUInt64Bits((int)step) << 32) | Narrow.AsUInt64Bits((int)r),
            default
        );
        if (r == VhostResult.Ok)
        {
            for (int q = 0; q < QueueCount; q++)
                RestoreQueue(q, _lastAvail[q]);
        }
        ReleaseNotifiers(deliver: true);
        Stops++;
    }

    /// <summary>QEMU vhost_virtqueue_stop's hand-back: virtio_queue_set_last_avail_idx (last_avail and
    /// shadow_avail), virtio_queue_invalidate_signalled_used, virtio_queue_update_used_idx. A queue that a reset
    /// already cleared keeps its reset state.</summary>
    private void RestoreQueue(int q, ushort lastAvail)
    {
        SplitQueue queue = GetQueue(q);
        if (!queue.Ready)
            return;
        ushort usedIdx;
        using (Memory.As(MemoryActor.Device))
        {
            if (!Memory.TryReadUInt16(new GuestAddress(queue.UsedRing.Value + VirtioSpec.UsedIdxOffset), out usedIdx))
                return;
        }
        SplitQueueState state = queue.Capture() with
        {
            NextAvail = new RingIndex(lastAvail),
            ShadowAvail = new RingIndex(lastAvail),
            UsedIdx = new RingIndex(usedIdx),
            SignalledUsedValid = false,
        };
        // The rings were validated at enable and are unchanged; a refusal would be a model bug.
        if (!queue.TryRestore(Memory, state, out QueueConfigError error))
            throw new InvalidOperationException($"queue {q} hand-back refused: {error}");
    }

    private void UnbindVrings()
    {
        Backend.SetRunning(false);
        for (int q = 0; q < QueueCount; q++)
        {
            Backend.Device.SetVringKick(Narrow.AsUInt32Bits(q), null);
            Backend.Device.SetVringCall(Narrow.AsUInt32Bits(q), null);
        }
    }

    private void ReleaseNotifiers(bool deliver)
    {
        for (int q = 0; q < QueueCount; q++)
        {
            Transport.SetHostNotifierHandler(q, true);
            if (_callPaths[q] == VhostCallPath.Userspace)
                _guestNotifiers[q].Detach(deliver && GetQueue(q).Ready);
            _callPaths[q] = VhostCallPath.None;
        }
    }

    private void RaiseFromGuestNotifier(int queueIndex)
    {
        if (!GetQueue(queueIndex).Ready)
            return; // reset under it: nothing to notify about
        RaiseQueueInterrupt(queueIndex);
    }

    private bool FailStart(string reason)
    {
        LastStartError = reason;
        StartFailures++;
        Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultVhostStart, ulong.MaxValue, default);
        return false;
    }

    /// <summary>Memory accesses of the vhost ioctls (InitAccess writes used-&gt;flags) are the backend's.</summary>
    private readonly ref struct BackendContext
    {
        private readonly Simulation _sim;
        private readonly uint _savedSource;
        private readonly MemoryActor _savedActor;

        public BackendContext(VhostDemoFrontendDevice device)
        {
            _sim = device.Simulation;
            _savedSource = _sim.MemoryTraceSource;
            _sim.MemoryTraceSource = device.Backend.Device.TraceId;
            _savedActor = _sim.Memory.Actor;
            _sim.Memory.Actor = MemoryActor.Device;
        }

        public void Dispose()
        {
            _sim.Memory.Actor = _savedActor;
            _sim.MemoryTraceSource = _savedSource;
        }
    }
}
