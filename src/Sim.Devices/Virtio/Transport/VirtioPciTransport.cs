using System.Numerics;
using Sim.Devices.Pci;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Virtio.Transport;

/// <summary>
/// The virtio PCI transport (VIRTIO 1.2 §4.1; QEMU hw/virtio/virtio-pci.c, VirtIOPCIProxy): a PCI
/// function that exposes a <see cref="VirtioDevice"/> through the legacy I/O BAR 0, the modern
/// capabilities in BAR 4 (common, ISR, device, notify, PCI configuration access), and optionally
/// MSI-X in BAR 1. Queue notifications arrive through an ioeventfd per queue after DRIVER_OK (when
/// <see cref="VirtioPciOptions.UseIoEventFd"/>) or as userspace exits; interrupts leave as MSI-X
/// messages (direct or through irqfds) or as INTx driven by the ISR.
/// </summary>
public sealed class VirtioPciTransport : PciDevice, IVirtioTransport, IMsixDelivery, IEventHandler
{
    /// <summary>Highest queue index the registers accept (QEMU VIRTIO_QUEUE_MAX); queues beyond the
    /// device's count read as absent.</summary>
    public const int QueueSelectMax = 1024;

    private readonly Simulation _simulation;
    private readonly VirtioPciOptions _options;
    private readonly bool _legacy;
    private readonly bool _modern;
    private readonly VirtioHostNotifier[] _notifiers;
    private readonly ulong[] _queueDesc;
    private readonly ulong[] _queueDriver;
    private readonly ulong[] _queueDevice;
    private readonly bool[] _queueEnabled;
    private readonly EventFd?[] _vectorFds;
    private readonly uint[] _vectorGsis;
    private readonly int _pciCfgCap;
    private uint _deviceFeatureSelect;
    private uint _driverFeatureSelect;
    private readonly uint[] _driverFeatureWords = new uint[2];
    private ushort _queueSelect;
    private bool _ioEventFdStarted;

    /// <summary>A virtio-pci function for <paramref name="device"/> on <paramref name="simulation"/>.</summary>
    public VirtioPciTransport(Simulation simulation, VirtioDevice device, VirtioPciOptions? options = null)
        : base(IdsFor(device, options ?? new VirtioPciOptions()))
    {
        ArgumentNullException.ThrowIfNull(simulation);
        options ??= new VirtioPciOptions();
        if (options.MsixVectors is < 0 or > MsixCapability.VectorsMax)
            throw new ArgumentOutOfRangeException(nameof(options), "MSI-X vectors must be 0..2048");
        _simulation = simulation;
        _options = options;
        Device = device;
        _legacy = options.Mode != VirtioPciMode.Modern;
        _modern = options.Mode != VirtioPciMode.Legacy;
        int queues = device.QueueCount;
        _queueDesc = new ulong[queues];
        _queueDriver = new ulong[queues];
        _queueDevice = new ulong[queues];
        _queueEnabled = new bool[queues];
        _vectorFds = new EventFd?[options.MsixVectors];
        _vectorGsis = new uint[options.MsixVectors];
        _notifiers = new VirtioHostNotifier[options.UseIoEventFd ? queues : 0];
        for (int q = 0; q < _notifiers.Length; q++)
            _notifiers[q] = new VirtioHostNotifier(simulation, device, q);

        if (_legacy)
        {
            int header = options.MsixVectors > 0 ? L.LegacyConfigMsix : L.LegacyConfigNoMsix;
            ulong size = BitOperations.RoundUpToPowerOf2(unchecked((ulong)(header + device.ConfigSize)));
            if (size > IoBarSizeMax)
                throw new ArgumentException(
                    $"a legacy I/O BAR holds at most {IoBarSizeMax - Narrow.AsUInt64Bits(header)} config bytes",
                    nameof(device)
                );
            RegisterBar(L.LegacyBar, PciBarKind.Io, size, new VirtioPciLegacyRegion(this));
        }
        if (_modern)
        {
            RegisterBar(
                L.ModernBar,
                PciBarKind.Memory64,
                L.ModernBarSize,
                new VirtioPciModernRegion(this),
                prefetchable: true
            );
            AddVirtioCapability(L.CapCommonCfg, L.CapLength, L.ModernCommonOffset);
            AddVirtioCapability(L.CapIsrCfg, L.CapLength, L.ModernIsrOffset);
            AddVirtioCapability(L.CapDeviceCfg, L.CapLength, L.ModernDeviceOffset);
            int notify = AddVirtioCapability(L.CapNotifyCfg, L.NotifyCapLength, L.ModernNotifyOffset);
            Config.SetUInt32(notify + L.CapNotifyMultiplierOffset, L.NotifyOffMultiplier);
            // VIRTIO 1.2 §4.1.4.9: the PCI configuration access window; bar, offset, length and data
            // are guest-writable (QEMU sets their wmask).
            _pciCfgCap = AddCapability(R.CapabilityIdVendor, L.PciCfgCapLength);
            Config.SetByte(_pciCfgCap + L.CapLenOffset, L.PciCfgCapLength);
            Config.SetByte(_pciCfgCap + L.CapCfgTypeOffset, L.CapPciCfg);
            Config.SetWriteMask(_pciCfgCap + L.CapBarOffset, 0xFF);
            Config.FillWriteMask(_pciCfgCap + L.CapOffsetOffset, 8, 0xFF);
            Config.FillWriteMask(_pciCfgCap + L.CapPciCfgDataOffset, 4, 0xFF);
        }
        if (options.MsixVectors > 0)
            AddMsix(options.MsixVectors, L.MsixBar, this);

        ulong host = device.DeviceFeatures | VirtioDevice.CommonFeatures;
        if (_modern)
            host |= 1UL << VirtioSpec.FVersion1;
        device.Attach(this, simulation, host, options.Flavour);
    }

    /// <summary>The device behind the transport.</summary>
    public VirtioDevice Device { get; }

    /// <summary>The options it was built with.</summary>
    public VirtioPciOptions Options => _options;

    /// <summary>The queue selected by queue_select / QUEUE_SEL.</summary>
    public ushort QueueSelect => _queueSelect;

    /// <summary>True while queue kicks go through ioeventfds (QEMU ioeventfd_started).</summary>
    public bool IoEventFdStarted => _ioEventFdStarted;

    /// <summary>MSI messages that named no GSI (bad address or vector) and went nowhere.</summary>
    public long MsiDropped { get; private set; }

    /// <summary>Userspace exits that kicked a queue (the slow path), counted per transport.</summary>
    public long NotifyExits { get; private set; }

    /// <summary>The host notifier eventfd of <paramref name="queueIndex"/> (null without ioeventfd):
    /// what KVM_IOEVENTFD signals, and what a vhost backend would poll.</summary>
    public EventFd? GetHostNotifier(int queueIndex) =>
        Narrow.AsUInt32Bits(queueIndex) < Narrow.AsUInt32Bits(_notifiers.Length) ? _notifiers[queueIndex].Fd : null;

    /// <summary>The irqfd eventfd of MSI-X <paramref name="vector"/> once it has been used (irqfd mode).</summary>
    public EventFd? GetVectorEventFd(int vector) =>
        Narrow.AsUInt32Bits(vector) < Narrow.AsUInt32Bits(_vectorFds.Length) ? _vectorFds[vector] : null;

    bool IVirtioTransport.DmaEnabled => BusMasterEnabled;

    int IVirtioTransport.VectorCount => _options.MsixVectors;

    /// <summary>Legacy device-config offset: 24 while MSI-X is enabled, else 20 (VIRTIO_PCI_CONFIG_OFF).</summary>
    internal int LegacyConfigOffset => Msix is { Enabled: true } ? L.LegacyConfigMsix : L.LegacyConfigNoMsix;

    private static PciDeviceIds IdsFor(VirtioDevice device, VirtioPciOptions options)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        if (device.IsAttached)
            throw new InvalidOperationException("the device is already attached to a transport");
        bool modernOnly = options.Mode == VirtioPciMode.Modern;
        ushort pciDevice =
            modernOnly ? checked((ushort)(L.ModernDeviceIdBase + device.DeviceId))
            : options.LegacyPciDeviceId != 0 ? options.LegacyPciDeviceId
            : checked((ushort)(0x1000 + device.DeviceId - 1));
        // QEMU virtio_pci_device_plugged: subsystem vendor = vendor, subsystem id = virtio id, pin INTA#,
        // revision 1 for modern-only devices, 0 otherwise.
        return new PciDeviceIds(
            L.VendorId,
            pciDevice,
            options.ClassCode,
            Narrow.LowByte(modernOnly ? 1 : 0),
            L.VendorId,
            device.DeviceId,
            1
        );
    }

    private int AddVirtioCapability(byte cfgType, int length, int barOffset)
    {
        int cap = AddCapability(R.CapabilityIdVendor, length);
        Config.SetByte(cap + L.CapLenOffset, Narrow.LowByte(length));
        Config.SetByte(cap + L.CapCfgTypeOffset, cfgType);
        Config.SetByte(cap + L.CapBarOffset, L.ModernBar);
        Config.SetUInt32(cap + L.CapOffsetOffset, Narrow.AsUInt32Bits(barOffset));
        Config.SetUInt32(cap + L.CapLengthOffset, L.ModernRegionSize);
        return cap;
    }

    // ------------------------------------------------------------------ PCI hooks

    /// <summary>QEMU virtio_read_config: a read of the PCI configuration access window first performs
    /// the BAR read it describes (1, 2 or 4 bytes at cap.offset in the modern BAR).</summary>
    public override void ConfigRead(int offset, Span<byte> data)
    {
        if (_modern && Overlaps(offset, data.Length, _pciCfgCap + L.CapPciCfgDataOffset, 4))
        {
            uint off = Config.GetUInt32(_pciCfgCap + L.CapOffsetOffset);
            int len = unchecked((int)Math.Min(Config.GetUInt32(_pciCfgCap + L.CapLengthOffset), 8u));
            if (len is 1 or 2 or 4 && off <= L.ModernBarSize - Narrow.AsUInt64Bits(len))
            {
                Span<byte> window = stackalloc byte[4];
                window.Clear();
                GetBar(L.ModernBar)!.Region.Read(BusKind.Mmio, off, window[..len]);
                for (int i = 0; i < 4; i++)
                    Config.SetByte(_pciCfgCap + L.CapPciCfgDataOffset + i, window[i]);
            }
        }
        base.ConfigRead(offset, data);
    }

    /// <summary>QEMU virtio_write_config: the PCI core write, then the access window's BAR write, and
    /// clearing bus master while DRIVER_OK stops ioeventfd and drops DRIVER_OK.</summary>
    public override void ConfigWrite(int offset, ReadOnlySpan<byte> data)
    {
        base.ConfigWrite(offset, data);
        if (_modern && Overlaps(offset, data.Length, _pciCfgCap + L.CapPciCfgDataOffset, 4))
        {
            uint off = Config.GetUInt32(_pciCfgCap + L.CapOffsetOffset);
            int len = unchecked((int)Math.Min(Config.GetUInt32(_pciCfgCap + L.CapLengthOffset), 8u));
            if (len is 1 or 2 or 4 && off <= L.ModernBarSize - Narrow.AsUInt64Bits(len))
            {
                Span<byte> window = stackalloc byte[4];
                for (int i = 0; i < 4; i++)
                    window[i] = Config.GetByte(_pciCfgCap + L.CapPciCfgDataOffset + i);
                GetBar(L.ModernBar)!.Region.Write(BusKind.Mmio, off, window[..len]);
            }
        }
        if (Overlaps(offset, data.Length, R.Command, 1) && !BusMasterEnabled && Device.DriverOk)
        {
            StopIoEventFd();
            Device.TrySetStatus(Device.Status & ~VirtioStatus.DriverOk);
        }
    }

    /// <summary>PCI reset: QEMU virtio_pci_reset (the PCI core then resets MSI-X and the header).</summary>
    protected override void OnReset() => ResetTransport();

    /// <inheritdoc/>
    protected override void OnBarMoved(PciBar bar, ulong oldAddress) => SyncIoEventFds();

    // ------------------------------------------------------------------ common configuration (§4.1.4.3)

    /// <summary>QEMU virtio_pci_common_read: the register at exactly <paramref name="offset"/>; others read
    /// 0.</summary>
    internal uint ReadCommon(int offset)
    {
        VirtioDevice d = Device;
        int q = _queueSelect;
        bool hasQueue = q < d.QueueCount;
        // unchecked: the 64-bit registers are read as their low and high halves (deliberate truncation).
        return unchecked(
            offset switch
            {
                L.CommonDeviceFeatureSelect => _deviceFeatureSelect,
                L.CommonDeviceFeature => _deviceFeatureSelect <= 1
                    ? (uint)((d.HostFeatures & ~VirtioDevice.LegacyOnlyFeatures) >> (32 * (int)_deviceFeatureSelect))
                    : 0,
                L.CommonDriverFeatureSelect => _driverFeatureSelect,
                L.CommonDriverFeature => _driverFeatureSelect <= 1 ? _driverFeatureWords[_driverFeatureSelect] : 0,
                L.CommonConfigMsixVector => d.ConfigVector,
                L.CommonNumQueues => (uint)d.QueueCount,
                L.CommonDeviceStatus => (uint)d.Status,
                L.CommonConfigGeneration => d.ConfigGeneration,
                L.CommonQueueSelect => _queueSelect,
                L.CommonQueueSize => hasQueue ? (uint)d.GetQueue(q).Size : 0,
                L.CommonQueueMsixVector => hasQueue ? d.GetQueueVector(q) : L.NoVector,
                L.CommonQueueEnable => hasQueue && _queueEnabled[q] ? 1u : 0,
                L.CommonQueueNotifyOff => _queueSelect,
                L.CommonQueueDesc => hasQueue ? (uint)_queueDesc[q] : 0,
                L.CommonQueueDesc + 4 => hasQueue ? (uint)(_queueDesc[q] >> 32) : 0,
                L.CommonQueueDriver => hasQueue ? (uint)_queueDriver[q] : 0,
                L.CommonQueueDriver + 4 => hasQueue ? (uint)(_queueDriver[q] >> 32) : 0,
                L.CommonQueueDevice => hasQueue ? (uint)_queueDevice[q] : 0,
                L.CommonQueueDevice + 4 => hasQueue ? (uint)(_queueDevice[q] >> 32) : 0,
                _ => 0,
            }
        );
    }

    /// <summary>QEMU virtio_pci_common_write: the register at exactly <paramref name="offset"/>; others are
    /// ignored. The device-wide registers are here, the selected queue's in <see cref="WriteQueueRegister"/>.</summary>
    internal void WriteCommon(int offset, uint value)
    {
        VirtioDevice d = Device;
        switch (offset)
        {
            case L.CommonDeviceFeatureSelect:
                _deviceFeatureSelect = value;
                break;
            case L.CommonDriverFeatureSelect:
                _driverFeatureSelect = value;
                break;
            case L.CommonDriverFeature:
                if (_driverFeatureSelect <= 1 && (d.Status & VirtioStatus.FeaturesOk) == 0)
                {
                    _driverFeatureWords[_driverFeatureSelect] = value;
                    d.TrySetDriverFeatures(((ulong)_driverFeatureWords[1] << 32) | _driverFeatureWords[0]);
                }
                break;
            case L.CommonConfigMsixVector:
                d.ConfigVector = UsableVector(value);
                break;
            case L.CommonDeviceStatus:
                WriteStatus(Narrow.LowByte(value), legacy: false); // device_status is 8 bits
                break;
            case L.CommonQueueSelect:
                if (value < QueueSelectMax)
                    _queueSelect = Narrow.LowUInt16(value);
                break;
            default:
                // The queue registers: ignored while queue_select names no queue the device has.
                if (_queueSelect < d.QueueCount)
                    WriteQueueRegister(offset, _queueSelect, value);
                break;
        }
    }

    /// <summary>The queue registers of virtio_pci_common_write (VIRTIO 1.2 §4.1.4.3) for the selected queue
    /// <paramref name="q"/>, which exists: size, vector, enable and the three ring addresses, each written as two
    /// 32-bit halves.</summary>
    private void WriteQueueRegister(int offset, int q, uint value)
    {
        VirtioDevice d = Device;
        switch (offset)
        {
            case L.CommonQueueSize:
                // A ready queue keeps its size (QEMU would resize a live ring; the spec forbids the write).
                if (!d.GetQueue(q).Ready)
                    d.GetQueue(q).TrySetSize(Narrow.AsInt32Bits(value & 0xFFFF), out _);
                break;
            case L.CommonQueueMsixVector:
                d.SetQueueVector(q, UsableVector(value));
                break;
            case L.CommonQueueEnable:
                if (value == 1)
                    EnableModernQueue(q);
                else
                    d.SetBroken($"wrong value for queue_enable {value:x}"); // QEMU virtio_pci_common_write
                break;
            case L.CommonQueueDesc:
                _queueDesc[q] = Low(_queueDesc[q], value);
                break;
            case L.CommonQueueDesc + 4:
                _queueDesc[q] = High(_queueDesc[q], value);
                break;
            case L.CommonQueueDriver:
                _queueDriver[q] = Low(_queueDriver[q], value);
                break;
            case L.CommonQueueDriver + 4:
                _queueDriver[q] = High(_queueDriver[q], value);
                break;
            case L.CommonQueueDevice:
                _queueDevice[q] = Low(_queueDevice[q], value);
                break;
            case L.CommonQueueDevice + 4:
                _queueDevice[q] = High(_queueDevice[q], value);
                break;
            default:
                break;
        }
    }

    private void EnableModernQueue(int q)
    {
        SplitQueue queue = Device.GetQueue(q);
        if (queue.Ready)
            queue.Disable();
        queue.DescTable = new GuestAddress(_queueDesc[q]);
        queue.AvailRing = new GuestAddress(_queueDriver[q]);
        queue.UsedRing = new GuestAddress(_queueDevice[q]);
        _queueEnabled[q] = true;
        if (!queue.TryEnable(_simulation.Memory, out QueueConfigError error))
        {
            // QEMU does not check ring placement and breaks at the first ring access; the model breaks
            // the device at enable instead (a defined NEEDS_RESET rather than later undefined reads).
            Device.SetBroken($"queue {q} rings rejected: {error}");
        }
    }

    /// <summary>ISR region read. Seed flavour is QEMU virtio_pci_isr_read: any offset and size returns
    /// the ISR and clears it. Robust flavour: only offset 0 is the ISR (VIRTIO 1.2 §4.1.4.5: one byte);
    /// other offsets read 0 and clear nothing.</summary>
    internal uint ReadIsrRegion(int offset)
    {
        if (_options.Flavour == Flavour.Robust && offset != 0)
            return 0;
        return ReadAndClearIsr();
    }

    private uint ReadAndClearIsr()
    {
        byte isr = Device.ReadAndClearIsr();
        SetIntxRequest(false); // QEMU pci_irq_deassert
        return isr;
    }

    // ------------------------------------------------------------------ legacy registers (§4.1.4.8)

    /// <summary>QEMU virtio_ioport_read: the register at exactly <paramref name="offset"/>, all-ones
    /// elsewhere.</summary>
    internal uint ReadLegacy(int offset)
    {
        VirtioDevice d = Device;
        int q = _queueSelect;
        bool hasQueue = q < d.QueueCount;
        bool msix = Msix is { Enabled: true };
        return offset switch
        {
            L.LegacyHostFeatures => Narrow.LowUInt32(d.HostFeatures), // legacy: features 0..31 only
            L.LegacyGuestFeatures => Narrow.LowUInt32(d.DriverFeatures),
            L.LegacyQueuePfn => hasQueue
                ? Narrow.LowUInt32(d.GetQueue(q).DescTable.Value >> L.LegacyQueueAddressShift)
                : 0,
            L.LegacyQueueNum => hasQueue ? Narrow.AsUInt32Bits(d.GetQueue(q).Size) : 0,
            L.LegacyQueueSel => _queueSelect,
            L.LegacyStatus => (uint)d.Status,
            L.LegacyIsr => ReadAndClearIsr(),
            L.LegacyConfigVector when msix => d.ConfigVector,
            L.LegacyQueueVector when msix => hasQueue ? d.GetQueueVector(q) : L.NoVector,
            _ => uint.MaxValue,
        };
    }

    /// <summary>QEMU virtio_ioport_write.</summary>
    internal void WriteLegacy(int offset, uint value)
    {
        VirtioDevice d = Device;
        int q = _queueSelect;
        bool hasQueue = q < d.QueueCount;
        bool msix = Msix is { Enabled: true };
        switch (offset)
        {
            case L.LegacyGuestFeatures:
                d.TrySetDriverFeatures(value);
                break;
            case L.LegacyQueuePfn:
                if (value == 0)
                    ResetTransport(); // QEMU: a PFN of 0 resets the whole device
                else if (hasQueue)
                    EnableLegacyQueue(q, (ulong)value << L.LegacyQueueAddressShift);
                break;
            case L.LegacyQueueSel:
                if (value < QueueSelectMax)
                    _queueSelect = Narrow.LowUInt16(value);
                break;
            case L.LegacyQueueNotify:
                if (value < QueueSelectMax)
                    NotifyFromGuest(Narrow.AsInt32Bits(value));
                break;
            case L.LegacyStatus:
                WriteStatus(Narrow.LowByte(value), legacy: true); // VIRTIO_PCI_STATUS is 8 bits
                break;
            case L.LegacyConfigVector when msix:
                d.ConfigVector = UsableVector(value & 0xFFFF);
                break;
            case L.LegacyQueueVector when msix:
                if (hasQueue)
                    d.SetQueueVector(q, UsableVector(value & 0xFFFF));
                break;
            default:
                break;
        }
    }

    /// <summary>QEMU virtio_queue_set_addr for a legacy ring: descriptors at the page, the available ring
    /// right after them, the used ring at the next 4 KiB boundary (VIRTIO 1.2 §2.7.2 legacy layout).</summary>
    private void EnableLegacyQueue(int q, ulong address)
    {
        SplitQueue queue = Device.GetQueue(q);
        if (queue.Ready)
            queue.Disable();
        ulong avail = address + VirtioSpec.DescTableSize(queue.Size);
        ulong availEnd =
            avail + VirtioSpec.AvailRingOffset + (Narrow.AsUInt64Bits(queue.Size) * VirtioSpec.AvailElemSize);
        ulong used = (availEnd + VirtioSpec.LegacyQueueAlign - 1) & ~((ulong)VirtioSpec.LegacyQueueAlign - 1);
        queue.DescTable = new GuestAddress(address);
        queue.AvailRing = new GuestAddress(avail);
        queue.UsedRing = new GuestAddress(used);
        if (!queue.TryEnable(_simulation.Memory, out QueueConfigError error))
            Device.SetBroken($"queue {q} rings rejected: {error}");
    }

    // ------------------------------------------------------------------ status, reset, notifications

    /// <summary>QEMU's device_status / VIRTIO_PCI_STATUS write: stop ioeventfd unless DRIVER_OK, set the
    /// status, start ioeventfd on DRIVER_OK, reset when the result is 0. Legacy: a driver writing
    /// ACKNOWLEDGE|DRIVER also gets bus mastering turned on (QEMU's workaround for Linux before 2.6.34).</summary>
    private void WriteStatus(byte value, bool legacy)
    {
        var status = (VirtioStatus)value;
        if ((status & VirtioStatus.DriverOk) == 0)
            StopIoEventFd();
        Device.TrySetStatus(status);
        if (Device.DriverOk)
            StartIoEventFd();
        // QEMU resets when the status it ended up with is 0 (seed); robust resets on a written 0 only, so that a
        // refused FEATURES_OK or a driver's lone NEEDS_RESET bit (both leaving status 0) is not a reset.
        if (_options.Flavour == Flavour.Seed ? Device.Status == VirtioStatus.None : status == VirtioStatus.None)
            ResetTransport();
        if (legacy && status == (VirtioStatus.Acknowledge | VirtioStatus.Driver) && !BusMasterEnabled)
        {
            ConfigWrite(R.Command, [Narrow.LowByte(Config.GetByte(R.Command) | R.CommandBusMaster)]);
        }
    }

    /// <summary>QEMU virtio_pci_reset: stop ioeventfd, reset the device (queues, status, features, ISR,
    /// vectors), forget the transport's queue registers and selectors. MSI-X state stays (PCI reset
    /// clears it).</summary>
    private void ResetTransport()
    {
        StopIoEventFd();
        Device.Reset();
        SetIntxRequest(false);
        _queueSelect = 0;
        _deviceFeatureSelect = 0;
        _driverFeatureSelect = 0;
        Array.Clear(_driverFeatureWords);
        Array.Clear(_queueDesc);
        Array.Clear(_queueDriver);
        Array.Clear(_queueDevice);
        Array.Clear(_queueEnabled);
    }

    /// <summary>QEMU virtio_queue_notify from a userspace exit: ignored for an absent or not-ready queue
    /// or a broken device; with the host notifier set up the kick is forwarded to its eventfd (processed
    /// later on the main loop); otherwise the handler runs now, on the vCPU. Robust flavour also ignores a
    /// kick before DRIVER_OK (VIRTIO 1.2 §3.1.2: "The device MUST NOT consume buffers ... before
    /// DRIVER_OK"); QEMU's core runs the handler for any queue with a descriptor table, so a modern driver
    /// that enables a queue and kicks before DRIVER_OK gets its buffers consumed (seed flavour). Buffers
    /// posted early are found at DRIVER_OK by the ioeventfd start kick, or by the driver's next kick.</summary>
    internal void NotifyFromGuest(int queueIndex)
    {
        VirtioDevice d = Device;
        if (
            Narrow.AsUInt32Bits(queueIndex) >= Narrow.AsUInt32Bits(d.QueueCount)
            || d.IsBroken
            || !d.GetQueue(queueIndex).Ready
        )
            return;
        if (_options.Flavour == Flavour.Robust && !d.DriverOk)
            return;
        NotifyExits++;
        if (_ioEventFdStarted && queueIndex < _notifiers.Length)
            _notifiers[queueIndex].Fd.Signal();
        else
            d.DispatchQueueNotify(queueIndex);
    }

    private void StartIoEventFd()
    {
        if (_ioEventFdStarted || _notifiers.Length == 0)
            return;
        _ioEventFdStarted = true;
        SyncIoEventFds();
        // QEMU virtio_device_start_ioeventfd_impl: "Kick right away to begin processing requests
        // already in vring".
        foreach (VirtioHostNotifier n in _notifiers)
            n.Fd.Signal();
    }

    private void StopIoEventFd()
    {
        if (!_ioEventFdStarted)
            return;
        _ioEventFdStarted = false;
        SyncIoEventFds();
        // QEMU virtio_device_stop_ioeventfd_impl: "Test and clear notifier after disabling event, in
        // case poll callback didn't have time to run."
        foreach (VirtioHostNotifier n in _notifiers)
            n.Drain();
    }

    /// <summary>Registers or removes each queue's KVM ioeventfds so that they match the current state:
    /// while started, at the mapped modern notify address (any length, no datamatch) and at the legacy
    /// QUEUE_NOTIFY port (2 bytes, datamatch = queue index), as QEMU virtio_pci_ioeventfd_assign does.
    /// A registration KVM refuses (another device's ioeventfd there) leaves that queue on the exit path.</summary>
    private void SyncIoEventFds()
    {
        KvmModel kvm = _simulation.Kvm;
        PciBar? modernBar = _modern ? GetBar(L.ModernBar) : null;
        PciBar? legacyBar = _legacy ? GetBar(L.LegacyBar) : null;
        foreach (VirtioHostNotifier n in _notifiers)
        {
            ulong modern =
                _ioEventFdStarted && modernBar is { IsMapped: true }
                    ? modernBar.MappedAddress
                        + L.ModernNotifyOffset
                        + (Narrow.AsUInt64Bits(n.QueueIndex) * L.NotifyOffMultiplier)
                    : PciBar.Unmapped;
            ulong legacy =
                _ioEventFdStarted && legacyBar is { IsMapped: true }
                    ? legacyBar.MappedAddress + L.LegacyQueueNotify
                    : PciBar.Unmapped;
            if (n.ModernAddress != modern)
            {
                if (n.ModernAddress != PciBar.Unmapped)
                    kvm.UnregisterIoEventFd(BusKind.Mmio, n.ModernAddress, 0, null, n.Fd);
                n.ModernAddress =
                    modern != PciBar.Unmapped && kvm.TryRegisterIoEventFd(BusKind.Mmio, modern, 0, null, n.Fd, out _)
                        ? modern
                        : PciBar.Unmapped;
            }
            if (n.LegacyAddress != legacy)
            {
                if (n.LegacyAddress != PciBar.Unmapped)
                    kvm.UnregisterIoEventFd(BusKind.Pio, n.LegacyAddress, 2, Narrow.AsUInt64Bits(n.QueueIndex), n.Fd);
                n.LegacyAddress =
                    legacy != PciBar.Unmapped
                    && kvm.TryRegisterIoEventFd(BusKind.Pio, legacy, 2, Narrow.AsUInt64Bits(n.QueueIndex), n.Fd, out _)
                        ? legacy
                        : PciBar.Unmapped;
            }
        }
    }

    // ------------------------------------------------------------------ interrupts

    /// <summary>QEMU virtio_pci_notify: with MSI-X enabled, the vector (masked → pending; none → nothing);
    /// otherwise INTx follows the ISR. Seed flavour asserts INTx from ISR bit 0 only (QEMU
    /// pci_set_irq(isr &amp; 1), fine because QEMU's config interrupt sets both bits); robust flavour
    /// asserts it for any ISR bit, since its config interrupt sets bit 1 alone.</summary>
    void IVirtioTransport.NotifyVector(ushort vector)
    {
        if (Msix is { Enabled: true } msix)
        {
            if (vector != L.NoVector)
                msix.Notify(vector);
            return;
        }
        byte isr = Device.Isr;
        SetIntxRequest(_options.Flavour == Flavour.Seed ? (isr & L.IsrQueue) != 0 : isr != 0);
    }

    /// <summary>Sends an unmasked MSI-X message: through the vector's irqfd (its KVM route follows the
    /// table entry, re-bound when the guest reprograms it), or injected directly (QEMU msix_notify →
    /// kvm_send_msi). A message that names no GSI is dropped and counted.</summary>
    private const int UserspaceMsiEvent = 1;

    /// <summary>A userspace MSI injection reaching the irqchip (scheduled by DeliverMsix).</summary>
    void IEventHandler.Handle(EventLoop loop, in ScheduledEvent ev)
    {
        if (ev.Kind == UserspaceMsiEvent)
            _simulation.Kvm.Irqchip.Pulse(Narrow.LowUInt32(ev.Argument));
    }

    void IMsixDelivery.DeliverMsix(int vector, MsiMessage message)
    {
        if (!message.TryGetGsi(out uint gsi))
        {
            MsiDropped++;
            return;
        }
        if (!_options.UseIrqFd)
        {
            // QEMU's userspace injection (KVM_SIGNAL_MSI) lands after the ioctl's cost.
            _simulation.Loop.Schedule(_simulation.Kvm.Latency.UserspaceMsiNs, this, UserspaceMsiEvent, gsi);
            return;
        }
        if (!TryBindVectorIrqFd(vector, gsi, out EventFd? fd))
        {
            MsiDropped++;
            return;
        }
        using (_simulation.Memory.As(MemoryActor.Device))
            fd.Signal();
    }

    /// <summary>The irqfd of <paramref name="vector"/>, created on first use and (re)bound to
    /// <paramref name="gsi"/> (QEMU kvm_irqchip_add_msi_route / update_msi_route + irqfd). False when KVM
    /// refuses the binding.</summary>
    private bool TryBindVectorIrqFd(
        int vector,
        uint gsi,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EventFd? fd
    )
    {
        KvmModel kvm = _simulation.Kvm;
        fd = _vectorFds[vector];
        if (fd == null)
        {
            fd = _simulation.CreateEventFd(false, "virtio-msix-irqfd");
            _vectorFds[vector] = fd;
            _vectorGsis[vector] = uint.MaxValue;
        }
        if (_vectorGsis[vector] != gsi)
        {
            if (_vectorGsis[vector] != uint.MaxValue)
                kvm.UnregisterIrqFd(fd, _vectorGsis[vector]);
            _vectorGsis[vector] = uint.MaxValue;
            if (!kvm.TryRegisterIrqFd(fd, gsi, null, out _))
                return false;
            _vectorGsis[vector] = gsi;
        }
        return true;
    }

    /// <summary>
    /// QEMU kvm_virtio_pci_vector_use for a vhost call fd: the irqfd of <paramref name="vector"/>, bound now to
    /// the GSI of the vector's current MSI-X message. Null (the caller falls back to a userspace handler) without
    /// irqfds, without MSI-X or with it disabled or function-masked, for no vector, a masked vector or a message
    /// that names no GSI. The binding follows the table as of this call: a later reprogramming or masking of the
    /// entry is not seen by a backend signalling the eventfd directly (QEMU re-routes through its MSI-X vector
    /// notifiers; the model does not).
    /// </summary>
    public EventFd? UseVectorIrqFd(ushort vector)
    {
        if (!_options.UseIrqFd || Msix is not { Enabled: true } msix || msix.FunctionMasked)
            return null;
        if (vector >= Narrow.AsUInt32Bits(_vectorFds.Length) || msix.IsMasked(vector))
            return null;
        if (!msix.GetMessage(vector).TryGetGsi(out uint gsi))
            return null;
        return TryBindVectorIrqFd(vector, gsi, out EventFd? fd) ? fd : null;
    }

    /// <summary>QEMU virtio_queue_set_host_notifier_fd_handler: attach or detach the main-loop handler of
    /// <paramref name="queueIndex"/>'s host notifier (no-op without ioeventfd or for an absent queue).</summary>
    public void SetHostNotifierHandler(int queueIndex, bool attached)
    {
        if (Narrow.AsUInt32Bits(queueIndex) < Narrow.AsUInt32Bits(_notifiers.Length))
            _notifiers[queueIndex].HandlerAttached = attached;
    }

    /// <summary>QEMU msix_vector_use: a vector the table does not have is recorded as none.</summary>
    private ushort UsableVector(uint value) =>
        value < Narrow.AsUInt32Bits(_options.MsixVectors) ? Narrow.LowUInt16(value) : L.NoVector;

    private static ulong Low(ulong current, uint value) => (current & 0xFFFF_FFFF_0000_0000) | value;

    private static ulong High(ulong current, uint value) => (current & 0xFFFF_FFFF) | ((ulong)value << 32);

    private static bool Overlaps(int offset, int length, int start, int count) =>
        offset < start + count && (long)offset + length > start;
}
