using System.Text;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Transport;

/// <summary>
/// The device side of virtio, independent of the transport (QEMU's VirtIODevice and hw/virtio/virtio.c):
/// device id, offered features, queues, device-specific configuration, the status field, ISR,
/// config generation, MSI-X vector numbers, and the broken state. Concrete devices derive from it,
/// pass their identity and queue sizes to the constructor, and implement
/// <see cref="HandleQueueNotify"/> (QEMU handle_output). Inside it they use <see cref="TryPop"/>,
/// <see cref="TryPush"/> and <see cref="NotifyQueue"/>; guest misbehaviour becomes
/// <see cref="SetBroken(string)"/>, never an exception.
/// <para>
/// Lifecycle: the transport (e.g. <see cref="VirtioPciTransport"/>) calls <see cref="Attach"/> once;
/// the guest then drives status, features and queues through the transport's registers. Reset (status
/// 0, QEMU virtio_reset) may come at any time, also while requests are in flight: every queue forgets
/// its rings and in-use elements, <see cref="ResetCount"/> increments, and <see cref="OnReset"/> lets the
/// device drop what it holds. A device that completes requests later (a timer) must check that
/// <see cref="ResetCount"/> has not moved since it popped them.
/// </para>
/// </summary>
public abstract class VirtioDevice
{
    /// <summary>Most queues a device may have (QEMU VIRTIO_QUEUE_MAX is 1024; the devices here need a few).</summary>
    public const int QueuesMax = 64;

    /// <summary>Largest device-specific configuration (one 4 KiB modern region).</summary>
    public const int ConfigSizeMax = 0x1000;

    /// <summary>DeviceResult code emitted when the device becomes broken (Value = the <see cref="QueueError"/>, if
    /// any).</summary>
    public const ulong ResultBroken = 1;

    /// <summary>Features every device offers through the transport (QEMU DEFINE_VIRTIO_COMMON_FEATURES):
    /// indirect descriptors, event index, and the legacy-only NOTIFY_ON_EMPTY and ANY_LAYOUT.</summary>
    public const ulong CommonFeatures =
        (1UL << VirtioSpec.FIndirectDesc)
        | (1UL << VirtioSpec.FEventIdx)
        | (1UL << VirtioSpec.FNotifyOnEmpty)
        | (1UL << VirtioPciLayout.FAnyLayout);

    /// <summary>Feature bits only a legacy driver sees (QEMU VIRTIO_LEGACY_FEATURES; hidden from
    /// device_feature).</summary>
    public const ulong LegacyOnlyFeatures = (1UL << VirtioSpec.FNotifyOnEmpty) | (1UL << VirtioPciLayout.FAnyLayout);

    private readonly SplitQueue[] _queues;
    private readonly ushort[] _queueVectors;
    private readonly byte[] _config;
    private IVirtioTransport? _transport;
    private Simulation? _simulation;

    /// <param name="deviceId">Virtio device id (VIRTIO 1.2 §5; e.g. 2 for block).</param>
    /// <param name="queueMaxSizes">Maximum size of each queue (QEMU virtio_add_queue), a power of two.</param>
    /// <param name="deviceFeatures">Device-specific feature bits offered (bits 0..23 and any others the
    /// device implements); the transport adds <see cref="CommonFeatures"/> and VERSION_1.</param>
    /// <param name="configSize">Bytes of device-specific configuration (QEMU virtio_init's config_size).</param>
    /// <param name="traceId">Source of this device's trace events (DeviceResult, device memory accesses).</param>
    protected VirtioDevice(ushort deviceId, int[] queueMaxSizes, ulong deviceFeatures, int configSize, uint traceId)
    {
        ArgumentNullException.ThrowIfNull(queueMaxSizes);
        if (queueMaxSizes.Length == 0 || queueMaxSizes.Length > QueuesMax)
            throw new ArgumentOutOfRangeException(nameof(queueMaxSizes), $"1..{QueuesMax} queues");
        if (Narrow.AsUInt32Bits(configSize) > ConfigSizeMax)
            throw new ArgumentOutOfRangeException(nameof(configSize), $"0..{ConfigSizeMax} bytes");
        DeviceId = deviceId;
        DeviceFeatures = deviceFeatures;
        TraceId = traceId;
        _queues = new SplitQueue[queueMaxSizes.Length];
        _queueVectors = new ushort[queueMaxSizes.Length];
        for (int i = 0; i < _queues.Length; i++)
            _queues[i] = new SplitQueue(queueMaxSizes[i]);
        _config = new byte[configSize];
        ResetState();
    }

    /// <summary>Virtio device id.</summary>
    public ushort DeviceId { get; }

    /// <summary>Device-specific features given to the constructor.</summary>
    public ulong DeviceFeatures { get; }

    /// <summary>Everything offered to the driver (QEMU host_features), set by the transport at attach.</summary>
    public ulong HostFeatures { get; private set; }

    /// <summary>What the driver has written as its features (QEMU guest_features). Bits the device did
    /// not offer are kept only until FEATURES_OK is refused (robust) or are dropped at once (seed).</summary>
    public ulong DriverFeatures { get; private set; }

    /// <summary>The device status field.</summary>
    public VirtioStatus Status { get; private set; }

    /// <summary>ISR status bits not yet read by the driver (VIRTIO 1.2 §4.1.4.5).</summary>
    public byte Isr { get; private set; }

    /// <summary>config_generation (VIRTIO 1.2 §4.1.4.3.1).</summary>
    public byte ConfigGeneration { get; private set; }

    /// <summary>MSI-X vector for configuration changes.</summary>
    public ushort ConfigVector { get; internal set; }

    /// <summary>True after <see cref="SetBroken(string)"/> until reset (QEMU vdev-&gt;broken).</summary>
    public bool IsBroken { get; private set; }

    /// <summary>Why the device is broken (null when it is not).</summary>
    public string? BrokenReason { get; private set; }

    /// <summary>Resets so far: an asynchronous completion is stale when this has moved.</summary>
    public long ResetCount { get; private set; }

    /// <summary>Source of this device's trace events.</summary>
    public uint TraceId { get; }

    /// <summary>Flavour of the virtio core behaviour (status, features, ISR), chosen by the transport.</summary>
    public Flavour CoreFlavour { get; private set; }

    /// <summary>How many virtqueues the device has.</summary>
    public int QueueCount => _queues.Length;

    /// <summary>Bytes of device-specific configuration.</summary>
    public int ConfigSize => _config.Length;

    /// <summary>True once plugged into a transport.</summary>
    public bool IsAttached => _transport != null;

    /// <summary>The simulation this device runs in (timers, eventfds, tracing). Throws before attach.</summary>
    public Simulation Simulation =>
        _simulation ?? throw new InvalidOperationException("the device is not attached to a transport");

    /// <summary>Guest memory the device's queues live in.</summary>
    public GuestMemory Memory => Simulation.Memory;

    /// <summary>QEMU's VIRTIO_CONFIG_S_DRIVER_OK test.</summary>
    public bool DriverOk => (Status & VirtioStatus.DriverOk) != 0;

    /// <summary>The device's configuration bytes (QEMU vdev-&gt;config): devices keep them current, or
    /// override <see cref="ReadConfig"/>.</summary>
    protected Span<byte> Config => _config;

    /// <summary>Queue <paramref name="index"/> (device side).</summary>
    public SplitQueue GetQueue(int index) => _queues[index];

    /// <summary>MSI-X vector of queue <paramref name="index"/>.</summary>
    public ushort GetQueueVector(int index) => _queueVectors[index];

    /// <summary>True when feature <paramref name="bit"/> was negotiated (QEMU virtio_vdev_has_feature).</summary>
    public bool HasFeature(int bit) => Narrow.AsUInt32Bits(bit) < 64 && (DriverFeatures & (1UL << bit)) != 0;

    /// <summary>Plugs the device into its transport (QEMU virtio_bus_device_plugged). Once only.</summary>
    public void Attach(IVirtioTransport transport, Simulation simulation, ulong hostFeatures, Flavour coreFlavour)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(simulation);
        if (_transport != null)
            throw new InvalidOperationException("the device is already attached");
        _transport = transport;
        _simulation = simulation;
        HostFeatures = hostFeatures;
        CoreFlavour = coreFlavour;
    }

    // ------------------------------------------------------------------ for device authors

    /// <summary>QEMU handle_output: the driver kicked queue <paramref name="queueIndex"/>. Called only for a
    /// ready queue of a device that is not broken, with guest-memory accesses attributed to this device.</summary>
    protected abstract void HandleQueueNotify(int queueIndex);

    /// <summary>Device-specific reset (QEMU VirtioDeviceClass.reset): drop in-flight requests, reset
    /// device state. Called after the queues were reset and the status cleared.</summary>
    protected virtual void OnReset() { }

    /// <summary>QEMU VirtioDeviceClass.set_status: the driver (or reset) changed the status.</summary>
    protected virtual void OnStatusChanged(VirtioStatus oldStatus, VirtioStatus newStatus) { }

    /// <summary>QEMU VirtioDeviceClass.validate_features: a last say on the negotiated features when
    /// the driver sets FEATURES_OK. Return false to refuse them.</summary>
    protected virtual bool ValidateFeatures(ulong driverFeatures) => true;

    /// <summary>Reads device configuration (QEMU virtio_config_readX: get_config, then the bytes).
    /// The default copies from <see cref="Config"/>; an access that does not fit reads all-ones.</summary>
    protected virtual void ReadConfig(int offset, Span<byte> data)
    {
        if (offset < 0 || offset > _config.Length - data.Length)
        {
            data.Fill(0xFF);
            return;
        }
        _config.AsSpan(offset, data.Length).CopyTo(data);
    }

    /// <summary>Writes device configuration (QEMU virtio_config_writeX: the bytes, then set_config).
    /// The default stores into <see cref="Config"/> as QEMU does; an access that does not fit is dropped.</summary>
    protected virtual void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || offset > _config.Length - data.Length)
            return;
        data.CopyTo(_config.AsSpan(offset));
    }

    /// <summary>QEMU virtqueue_pop: the next available request of queue <paramref name="queueIndex"/>, or
    /// false when there is none, the queue is not ready, the device is broken or may not DMA. A guest
    /// error in the ring breaks the device (QEMU virtio_error) and returns false.</summary>
    public bool TryPop(int queueIndex, QueueElement element)
    {
        ArgumentNullException.ThrowIfNull(element);
        if (IsBroken || !_transport!.DmaEnabled)
            return false;
        SplitQueue q = _queues[queueIndex];
        if (!q.Ready)
            return false;
        if (q.TryPop(Memory, element, out QueueError error))
            return true;
        if (error != QueueError.None)
            SetBroken(error);
        return false;
    }

    /// <summary>QEMU virtqueue_get_avail_bytes (<see cref="SplitQueue.GetAvailBytes"/>): the device-writable bytes of
    /// every available chain of queue <paramref name="queueIndex"/>, summed up to <paramref name="inBytesMax"/>,
    /// without popping. A guest error the walk finds breaks the device (QEMU virtio_error) and returns false; 0 bytes
    /// when the
    /// device is broken, may not DMA or the queue is not ready.</summary>
    public bool TryGetAvailBytes(int queueIndex, uint inBytesMax, out uint inBytes)
    {
        inBytes = 0;
        if (IsBroken || !_transport!.DmaEnabled)
            return !IsBroken;
        QueueError error;
        // The walk only peeks (QEMU virtqueue_get_avail_bytes maps and pops nothing), so its reads are the host's:
        // observers take a device read of an available entry for a pop (virtqueue_get_head) and judge each pop's
        // descriptor reads, and must see only the pops that follow. GetAvailBytes bounds the walk itself.
        using (Memory.As(MemoryActor.Host))
        {
            error = _queues[queueIndex].GetAvailBytes(Memory, inBytesMax, out inBytes, out _);
        }
        if (error == QueueError.None)
            return true;
        SetBroken(error);
        return false;
    }

    /// <summary>QEMU virtqueue_push: completes <paramref name="element"/> with <paramref name="len"/> bytes
    /// written. False (nothing written) when the queue has been reset or disabled since the element was
    /// popped, or holds nothing in use: a late completion after a reset is dropped, as QEMU devices drop
    /// their requests in reset.</summary>
    public bool TryPush(int queueIndex, QueueElement element, uint len)
    {
        ArgumentNullException.ThrowIfNull(element);
        SplitQueue q = _queues[queueIndex];
        if (!q.Ready || q.InUse == 0 || element.Head >= q.Size)
            return false;
        if (Interleaving is not { } interleaving)
        {
            q.Push(Memory, element.Head, len);
            return true;
        }
        // virtqueue_push is virtqueue_fill then virtqueue_flush: the guest may act between the two.
        q.Fill(Memory, element.Head, len, 0);
        interleaving.At(HandlerPoint.BetweenFillAndFlush);
        if (q.Ready)
            q.Flush(Memory, 1);
        return true;
    }

    /// <summary>Told at the points inside this device's handlers where the guest may act (a fuzz target's scheduler);
    /// null: nobody.</summary>
    public IHandlerInterleaving? Interleaving { get; set; }

    /// <summary>Poisons the host buffers this device reuses across requests before each request (a fuzz target's
    /// taint oracle); null: nobody, the buffers keep what the device left.</summary>
    public IHostPoison? Poison { get; set; }

    /// <summary>QEMU virtio_notify: interrupts the driver for queue <paramref name="queueIndex"/> if the
    /// suppression rules allow (<see cref="SplitQueue.ShouldNotify"/>): sets ISR bit 0 and raises the
    /// queue's vector.</summary>
    public void NotifyQueue(int queueIndex)
    {
        SplitQueue q = _queues[queueIndex];
        Interleaving?.At(HandlerPoint.BeforeInterruptDecision);
        if (!q.Ready || !q.ShouldNotify(Memory))
            return;
        Isr |= VirtioPciLayout.IsrQueue;
        _transport!.NotifyVector(_queueVectors[queueIndex]);
    }

    /// <summary>QEMU virtio_irq: sets ISR bit 0 and raises queue <paramref name="queueIndex"/>'s vector without
    /// consulting the suppression rules (whoever signalled already did: a vhost backend's call eventfd read by
    /// the userspace guest-notifier handler, virtio_queue_guest_notifier_read).</summary>
    protected void RaiseQueueInterrupt(int queueIndex)
    {
        Isr |= VirtioPciLayout.IsrQueue;
        _transport!.NotifyVector(_queueVectors[queueIndex]);
    }

    /// <summary>The transport this device is plugged into. Throws before attach.</summary>
    protected IVirtioTransport Transport =>
        _transport ?? throw new InvalidOperationException("the device is not attached to a transport");

    /// <summary>
    /// QEMU virtio_notify_config: the configuration changed. Seed flavour is QEMU: nothing at all before
    /// DRIVER_OK; otherwise ISR |= 3 (QEMU sets the queue bit too), generation + 1, config vector.
    /// Robust flavour bumps the generation even before DRIVER_OK (VIRTIO 1.2 §4.1.4.3.1: the driver must
    /// see a new generation after any change) and sets only ISR bit 1 (§4.1.4.5).
    /// </summary>
    public void NotifyConfigChanged()
    {
        if (CoreFlavour == Flavour.Robust)
            ConfigGeneration = Narrow.ToByteWrapping(ConfigGeneration + 1);
        if (!DriverOk)
            return;
        if (CoreFlavour == Flavour.Seed)
        {
            Isr |= VirtioPciLayout.IsrQueue | VirtioPciLayout.IsrConfig;
            ConfigGeneration = Narrow.ToByteWrapping(ConfigGeneration + 1);
        }
        else
        {
            Isr |= VirtioPciLayout.IsrConfig;
        }
        _transport!.NotifyVector(ConfigVector);
    }

    /// <summary>
    /// The configuration changed as a side effect of a request the driver itself made (virtio-demo's opt 1 stores
    /// buff, which the configuration mirrors): the driver is owed a new config_generation (VIRTIO 1.2 §4.1.4.3.1: "the
    /// device MUST present a changed config_generation after the driver has read a device-configuration field if any
    /// part of the device configuration space has changed since the last read") but no configuration change
    /// interrupt, which would announce a change the driver did not cause. QEMU has no such call (seed devices just
    /// change the bytes).
    /// </summary>
    protected void AdvanceConfigGeneration() => ConfigGeneration = Narrow.ToByteWrapping(ConfigGeneration + 1);

    /// <summary>
    /// QEMU virtio_error: the device cannot go on. With VERSION_1 negotiated, DEVICE_NEEDS_RESET is set
    /// and a configuration interrupt raised (VIRTIO 1.2 §2.1.2); in every case queue processing stops
    /// (kicks are ignored, pops return nothing) until the driver resets the device. Emits a DeviceResult
    /// trace event (Address = <see cref="ResultBroken"/>, Data = the reason in UTF-8). A second error
    /// while broken changes nothing.
    /// </summary>
    public void SetBroken(string reason) => SetBroken(reason, QueueError.None);

    /// <summary><see cref="SetBroken(string)"/> for a guest ring error.</summary>
    public void SetBroken(QueueError error) => SetBroken(error.ToString(), error);

    private void SetBroken(string reason, QueueError error)
    {
        ArgumentNullException.ThrowIfNull(reason);
        if (IsBroken)
            return;
        IsBroken = true;
        BrokenReason = reason;
        Simulation sim = Simulation;
        ReadOnlySpan<byte> text = sim.IsTracing ? Encoding.UTF8.GetBytes(reason) : default;
        sim.Emit(TraceEventKind.DeviceResult, TraceId, ResultBroken, (ulong)error, text);
        if (HasFeature(VirtioSpec.FVersion1))
        {
            VirtioStatus old = Status;
            Status |= VirtioStatus.DeviceNeedsReset;
            OnStatusChanged(old, Status);
            NotifyConfigChanged();
        }
    }

    // ------------------------------------------------------------------ for the transport

    /// <summary>QEMU virtio_set_features: false (nothing changes) once FEATURES_OK is set. Seed flavour
    /// keeps only offered bits, as QEMU does; robust keeps what the driver wrote so that FEATURES_OK can
    /// refuse an unoffered bit (VIRTIO 1.2 §3.1.1 step 6).</summary>
    internal bool TrySetDriverFeatures(ulong features)
    {
        if ((Status & VirtioStatus.FeaturesOk) != 0)
            return false;
        DriverFeatures = CoreFlavour == Flavour.Seed ? features & HostFeatures : features;
        bool eventIdx = HasFeature(VirtioSpec.FEventIdx);
        bool notifyOnEmpty = HasFeature(VirtioSpec.FNotifyOnEmpty);
        foreach (SplitQueue q in _queues)
        {
            q.EventIdx = eventIdx;
            q.NotifyOnEmpty = notifyOnEmpty;
        }
        return true;
    }

    /// <summary>
    /// QEMU virtio_set_status. Setting FEATURES_OK on a VERSION_1 negotiation validates the features:
    /// robust flavour refuses bits the device did not offer (through device_feature, so legacy-only bits
    /// too), both flavours ask
    /// <see cref="ValidateFeatures"/>; on refusal the status is left unchanged (so the driver reads
    /// FEATURES_OK back as clear) and false is returned. Writing 0 is a reset (the transport calls
    /// <see cref="Reset"/>). DEVICE_NEEDS_RESET belongs to the device (VIRTIO 1.2 §2.1.1, §2.1.2): the
    /// robust flavour keeps its own bit whatever the driver writes there; QEMU stores the driver's byte as
    /// it is (seed), so a driver can set or clear it.
    /// </summary>
    internal bool TrySetStatus(VirtioStatus value)
    {
        VirtioStatus old = Status;
        if (CoreFlavour == Flavour.Robust && value != VirtioStatus.None)
            value = (value & ~VirtioStatus.DeviceNeedsReset) | (old & VirtioStatus.DeviceNeedsReset);
        bool settingFeaturesOk = (old & VirtioStatus.FeaturesOk) == 0 && (value & VirtioStatus.FeaturesOk) != 0;
        if (settingFeaturesOk && HasFeature(VirtioSpec.FVersion1))
        {
            // A VERSION_1 driver saw device_feature, which hides the legacy-only bits (QEMU
            // VIRTIO_LEGACY_FEATURES): accepting one of them is accepting a bit that was never offered.
            bool subset = (DriverFeatures & ~(HostFeatures & ~LegacyOnlyFeatures)) == 0;
            if ((CoreFlavour == Flavour.Robust && !subset) || !ValidateFeatures(DriverFeatures))
                return false;
        }
        Status = value;
        OnStatusChanged(old, value);
        return true;
    }

    /// <summary>QEMU virtio_reset: status 0 (set_status hook), features 0, ISR 0, vectors none, not
    /// broken, every queue reset (rings and in-use elements forgotten), then <see cref="OnReset"/>.
    /// Host code resets through the transport (status 0, or a PCI reset), which also stops ioeventfds.</summary>
    internal void Reset()
    {
        VirtioStatus old = Status;
        ResetState();
        ResetCount++;
        if (old != VirtioStatus.None)
            OnStatusChanged(old, VirtioStatus.None);
        OnReset();
    }

    private void ResetState()
    {
        Status = VirtioStatus.None;
        DriverFeatures = 0;
        Isr = 0;
        ConfigVector = VirtioPciLayout.NoVector;
        IsBroken = false;
        BrokenReason = null;
        for (int i = 0; i < _queues.Length; i++)
        {
            _queues[i].Reset();
            _queueVectors[i] = VirtioPciLayout.NoVector;
        }
    }

    /// <summary>Reads the ISR and clears it (VIRTIO 1.2 §4.1.4.5.1).</summary>
    internal byte ReadAndClearIsr()
    {
        byte isr = Isr;
        Isr = 0;
        return isr;
    }

    internal void SetQueueVector(int index, ushort vector) => _queueVectors[index] = vector;

    /// <summary>QEMU virtio_queue_notify on a ready queue of a device that is not broken.</summary>
    internal void DispatchQueueNotify(int queueIndex)
    {
        if (
            Narrow.AsUInt32Bits(queueIndex) >= Narrow.AsUInt32Bits(_queues.Length)
            || IsBroken
            || !_queues[queueIndex].Ready
        )
            return;
        Simulation sim = Simulation;
        uint previous = sim.MemoryTraceSource;
        sim.MemoryTraceSource = TraceId;
        using (sim.Memory.As(MemoryActor.Device))
            HandleQueueNotify(queueIndex);
        sim.MemoryTraceSource = previous;
    }

    internal void ConfigRead(int offset, Span<byte> data) => ReadConfig(offset, data);

    internal void ConfigWrite(int offset, ReadOnlySpan<byte> data) => WriteConfig(offset, data);
}
