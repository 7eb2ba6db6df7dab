using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Guest.Drivers;

/// <summary>
/// The guest's virtio-pci transport driver, modern or legacy (Linux drivers/virtio/virtio_pci_modern.c,
/// virtio_pci_legacy.c, virtio_pci_common.c and virtio.c's probe sequence), written as helpers a
/// <see cref="GuestProgram"/> calls. Typical use inside <c>Run</c>:
/// <code>
/// var pci = PciEnumerator.Find(guest, ...) / Setup(...);
/// var drv = VirtioPciDriver.Probe(pci, VirtioDriverTransport.Modern, VirtioInterruptMode.Msix);
/// if (!drv.TryNegotiate(wanted)) ...;          // reset, ACK, DRIVER, features, FEATURES_OK
/// drv.SetupInterrupts(queueCount: 1);          // MSI-X table + config vector (or INTx)
/// var vq = drv.SetupQueue(0, dma);             // select, size, addresses / PFN, vector, enable
/// vq.Callback = q =&gt; q.DrainUsed(...);
/// drv.DriverOk();
/// ... vq.Ring.TryAdd(...); vq.Kick(); while (!done) yield return VcpuStep.Halt;
/// </code>
/// and in <c>OnInterrupt</c>: <c>drv.HandleInterrupt(gsi); guest.Eoi(gsi);</c>. Every register
/// access is a real MMIO or PIO access of the simulated vCPU, so exits are counted and charged.
/// Device misbehaviour (bad capability, refused features) is reported as false/null; misuse by the
/// caller (wrong order, bad index) throws.
/// </summary>
public sealed class VirtioPciDriver
{
    /// <summary>Queues one driver sets up at most.</summary>
    public const int QueuesMax = 16;

    /// <summary>First GSI the guest gives MSI-X vectors (above the 24 IOAPIC pins, as Linux's vector domain
    /// does).</summary>
    public const uint MsixGsiBaseDefault = 24;

    /// <summary>Most MSI-X vectors programmed (config + queues).</summary>
    public const int MsixVectorsUsedMax = 1 + QueuesMax;

    /// <summary>Status reads while waiting for a reset to complete (Linux vp_reset polls until 0).</summary>
    public const int ResetPollsMax = 16;

    /// <summary>VIRTIO 1.2 §4.1.2: transitional devices are 0x1000..0x103F, modern 0x1040..0x107F.</summary>
    public const ushort PciDeviceIdFirst = 0x1000;

    /// <summary>The last virtio-pci device id (VIRTIO 1.2 §4.1.2: modern ids end at 0x1040 + 63).</summary>
    public const ushort PciDeviceIdLast = 0x107F;

    private readonly List<VirtioDriverQueue> _queues = new();
    private readonly ulong _commonBase;
    private readonly ulong _isrBase;
    private readonly ulong _deviceBase;
    private readonly ulong _notifyBase;
    private readonly uint _notifyMultiplier;
    private readonly ushort _ioBase;
    private readonly int _msixCap;
    private readonly ulong _msixTable;
    private readonly int _msixTableSize;
    private readonly uint _msixGsiBase;
    private int _msixVectorsUsed;
    private bool _msixEnabled;

    private VirtioPciDriver(
        GuestPciFunction pci,
        VirtioDriverTransport transport,
        VirtioInterruptMode mode,
        uint msixGsiBase,
        ulong commonBase,
        ulong isrBase,
        ulong deviceBase,
        ulong notifyBase,
        uint notifyMultiplier,
        ushort ioBase,
        int msixCap,
        ulong msixTable,
        int msixTableSize
    )
    {
        Pci = pci;
        Transport = transport;
        InterruptMode = mode;
        _msixGsiBase = msixGsiBase;
        _commonBase = commonBase;
        _isrBase = isrBase;
        _deviceBase = deviceBase;
        _notifyBase = notifyBase;
        _notifyMultiplier = notifyMultiplier;
        _ioBase = ioBase;
        _msixCap = msixCap;
        _msixTable = msixTable;
        _msixTableSize = msixTableSize;
        VirtioDeviceId = VirtioIdOf(pci);
    }

    /// <summary>The guest whose port and MMIO accesses this driver makes.</summary>
    public GuestContext Guest => Pci.Guest;

    /// <summary>The PCI function this driver was probed on.</summary>
    public GuestPciFunction Pci { get; }

    /// <summary>Modern (capabilities in a memory BAR) or legacy (I/O BAR registers), as probed (VIRTIO 1.2 §4.1.4,
    /// §4.1.5).</summary>
    public VirtioDriverTransport Transport { get; }

    /// <summary>MSI-X or INTx (INTx when MSI-X was asked for but the function has no usable MSI-X).</summary>
    public VirtioInterruptMode InterruptMode { get; private set; }

    /// <summary>Virtio device id (modern: PCI device id − 0x1040; transitional: the subsystem id).</summary>
    public ushort VirtioDeviceId { get; }

    /// <summary>Features the device offered (read during <see cref="TryNegotiate"/>).</summary>
    public ulong DeviceFeatures { get; private set; }

    /// <summary>Features written back (offered ∩ supported).</summary>
    public ulong NegotiatedFeatures { get; private set; }

    /// <summary>The INTx GSI (the interrupt line the firmware programmed).</summary>
    public uint IntxGsi => Pci.InterruptLine;

    /// <summary>Runs on a configuration-change interrupt (Linux vp_config_changed → driver config_changed).</summary>
    public Action? ConfigChanged { get; set; }

    /// <summary>Interrupts this driver claimed in <see cref="HandleInterrupt"/>.</summary>
    public long InterruptsHandled { get; private set; }

    /// <summary>The virtqueues set up so far, in queue-index order.</summary>
    public IReadOnlyList<VirtioDriverQueue> Queues => _queues;

    /// <summary>True when <paramref name="vendorId"/>:<paramref name="deviceId"/> is a virtio-pci function (Linux
    /// virtio_pci_id_table).</summary>
    public static bool IsVirtioPci(ushort vendorId, ushort deviceId) =>
        vendorId == L.VendorId && deviceId is >= PciDeviceIdFirst and <= PciDeviceIdLast;

    /// <summary>Scans bus 0 for the virtio device with <paramref name="virtioDeviceId"/> (modern id
    /// 0x1040 + id, or a transitional id whose subsystem id is the virtio id) and sets it up.</summary>
    public static GuestPciFunction? FindDevice(
        GuestContext guest,
        ushort virtioDeviceId,
        PciResourceWindows windows,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(guest);
        for (int start = 0; start < PciConfigMechanism.SlotCount; start++)
        {
            uint id = PciConfigPorts.Read(guest, start, R.VendorId, 4);
            if (!IsVirtioPci(Narrow.LowUInt16(id), Narrow.LowUInt16(id >> 16)))
                continue; // low half: vendor id
            ushort device = Narrow.LowUInt16(id >> 16);
            ushort virtioId =
                device >= L.ModernDeviceIdBase
                    ? Narrow.ToUInt16Wrapping(device - L.ModernDeviceIdBase)
                    : Narrow.LowUInt16(PciConfigPorts.Read(guest, start, R.SubsystemId, 2));
            if (virtioId == virtioDeviceId)
                return PciEnumerator.Setup(guest, start, windows, intxGsi);
        }
        return null;
    }

    private static ushort VirtioIdOf(GuestPciFunction pci) =>
        pci.DeviceId >= L.ModernDeviceIdBase
            ? Narrow.ToUInt16Wrapping(pci.DeviceId - L.ModernDeviceIdBase)
            : pci.SubsystemId;

    /// <summary>
    /// Linux virtio_pci_probe: enables the function (decoding and bus mastering), then locates the
    /// interface: modern — the common, ISR, device and notify vendor capabilities (VIRTIO 1.2 §4.1.4:
    /// the first of each type) and their BARs; legacy — I/O BAR 0. Finds MSI-X when asked for.
    /// Null when the function does not offer the requested interface.
    /// </summary>
    public static VirtioPciDriver? Probe(
        GuestPciFunction pci,
        VirtioDriverTransport transport,
        VirtioInterruptMode mode,
        uint msixGsiBase = MsixGsiBaseDefault
    )
    {
        ArgumentNullException.ThrowIfNull(pci);
        if (!IsVirtioPci(pci.VendorId, pci.DeviceId))
            return null;
        pci.Enable(busMaster: true);
        var caps = default(ModernCapabilities);
        ushort ioBase = 0;
        if (transport == VirtioDriverTransport.Modern)
        {
            if (!TryFindModernCapabilities(pci, out caps))
                return null;
        }
        else
        {
            if (pci.GetBar(L.LegacyBar) is not { IsIo: true } io)
                return null;
            ioBase = Narrow.LowUInt16(io.Address);
        }
        int msixCap = 0;
        ulong table = 0;
        int tableSize = 0;
        if (mode == VirtioInterruptMode.Msix)
        {
            FindMsixTable(pci, out msixCap, out table, out tableSize);
            // Linux vp_find_vqs: fewer than two vectors (config + a shared queue vector) → INTx.
            if (msixCap == 0 || tableSize < 2)
                mode = VirtioInterruptMode.Intx;
        }
        return new VirtioPciDriver(
            pci,
            transport,
            mode,
            msixGsiBase,
            caps.Common,
            caps.Isr,
            caps.Device,
            caps.Notify,
            caps.NotifyMultiplier,
            ioBase,
            msixCap,
            table,
            tableSize
        );
    }

    /// <summary>Where the modern interface's structures lie: guest-physical addresses (BAR address + the
    /// capability's offset), 0 for one the function does not offer, and notify_off_multiplier.</summary>
    private readonly record struct ModernCapabilities(
        ulong Common,
        ulong Isr,
        ulong Device,
        ulong Notify,
        uint NotifyMultiplier
    );

    /// <summary>
    /// Linux vp_modern_probe (virtio_pci_find_capability per type): walks the vendor capabilities (VIRTIO 1.2
    /// §4.1.4) and takes the first of each type whose BAR is a memory BAR. False when the common, ISR or notify
    /// structure is missing (the device-specific one is optional, as for Linux).
    /// </summary>
    private static bool TryFindModernCapabilities(GuestPciFunction pci, out ModernCapabilities caps)
    {
        ulong common = 0,
            isr = 0,
            device = 0,
            notify = 0;
        uint multiplier = 0;
        bool haveCommon = false,
            haveIsr = false,
            haveDevice = false,
            haveNotify = false;
        for (
            int cap = pci.FindCapability(R.CapabilityIdVendor);
            cap != 0;
            cap = pci.FindCapability(R.CapabilityIdVendor, cap)
        )
        {
            byte type = unchecked((byte)pci.ReadConfig(cap + L.CapCfgTypeOffset, 1));
            int bar = unchecked((int)pci.ReadConfig(cap + L.CapBarOffset, 1));
            uint offset = pci.ReadConfig(cap + L.CapOffsetOffset, 4);
            if (pci.GetBar(bar) is not { IsIo: false } b)
                continue;
            ulong at = b.Address + offset;
            switch (type)
            {
                case L.CapCommonCfg when !haveCommon:
                    common = at;
                    haveCommon = true;
                    break;
                case L.CapIsrCfg when !haveIsr:
                    isr = at;
                    haveIsr = true;
                    break;
                case L.CapDeviceCfg when !haveDevice:
                    device = at;
                    haveDevice = true;
                    break;
                case L.CapNotifyCfg when !haveNotify:
                    notify = at;
                    multiplier = pci.ReadConfig(cap + L.CapNotifyMultiplierOffset, 4);
                    haveNotify = true;
                    break;
                default:
                    break;
            }
        }
        caps = new ModernCapabilities(common, isr, device, notify, multiplier);
        return haveCommon && haveIsr && haveNotify;
    }

    /// <summary>The MSI-X capability (PCI MSI-X: Table Size in Message Control bits 10:0, N - 1 encoded; the table's
    /// BAR indicator and offset in one register) and its table's guest-physical address; <paramref name="msixCap"/>
    /// 0 when there is none or its table is not in a memory BAR (Linux pci_msix_vec_count / msix_map_region).</summary>
    private static void FindMsixTable(GuestPciFunction pci, out int msixCap, out ulong table, out int tableSize)
    {
        table = 0;
        tableSize = 0;
        msixCap = pci.FindCapability(R.CapabilityIdMsix);
        if (msixCap == 0)
            return;
        tableSize = unchecked((int)(pci.ReadConfig(msixCap + MsixSpec.ControlOffset, 2) & 0x7FF)) + 1;
        uint tableReg = pci.ReadConfig(msixCap + MsixSpec.TableOffsetOffset, 4);
        if (pci.GetBar(Narrow.AsInt32Bits(tableReg & 7)) is { IsIo: false } tb)
            table = tb.Address + (tableReg & ~7u);
        else
            msixCap = 0;
    }

    // ------------------------------------------------------------------ registers

    private ulong CommonRead(int offset, int size) => Guest.MmioRead(_commonBase + Narrow.AsUInt64Bits(offset), size);

    private void CommonWrite(int offset, int size, ulong value) =>
        Guest.MmioWrite(_commonBase + Narrow.AsUInt64Bits(offset), size, value);

    private ulong LegacyRead(int offset, int size) => Guest.PioIn(unchecked((ushort)(_ioBase + offset)), size);

    private void LegacyWrite(int offset, int size, ulong value) =>
        Guest.PioOut(unchecked((ushort)(_ioBase + offset)), size, value);

    /// <summary>The device status register.</summary>
    public VirtioStatus GetStatus() =>
        (VirtioStatus)(
            Transport == VirtioDriverTransport.Modern
                ? CommonRead(L.CommonDeviceStatus, 1)
                : LegacyRead(L.LegacyStatus, 1)
        );

    /// <summary>Writes device_status (VIRTIO 1.2 §2.1; §3.1.1 gives the order of the bits a driver sets).</summary>
    public void SetStatus(VirtioStatus status)
    {
        if (Transport == VirtioDriverTransport.Modern)
            CommonWrite(L.CommonDeviceStatus, 1, (byte)status);
        else
            LegacyWrite(L.LegacyStatus, 1, (byte)status);
    }

    /// <summary>Linux virtio_add_status: read, OR, write.</summary>
    public void AddStatus(VirtioStatus bits) => SetStatus(GetStatus() | bits);

    /// <summary>Linux vp_reset: write 0, then (modern) poll until the device reads back 0, (legacy)
    /// read the status to flush the write. Drops the queues the driver had set up.</summary>
    public void Reset()
    {
        SetStatus(VirtioStatus.None);
        for (int i = 0; i < ResetPollsMax && GetStatus() != VirtioStatus.None; i++) { }
        _queues.Clear();
    }

    /// <summary>Device features: modern reads both 32-bit halves through device_feature_select; legacy has 32
    /// bits.</summary>
    public ulong ReadDeviceFeatures()
    {
        if (Transport == VirtioDriverTransport.Legacy)
            return LegacyRead(L.LegacyHostFeatures, 4);
        CommonWrite(L.CommonDeviceFeatureSelect, 4, 0);
        ulong low = CommonRead(L.CommonDeviceFeature, 4);
        CommonWrite(L.CommonDeviceFeatureSelect, 4, 1);
        ulong high = CommonRead(L.CommonDeviceFeature, 4);
        return low | (high << 32);
    }

    /// <summary>Writes the features the driver accepts (VIRTIO 1.2 §3.1.1 step 5): both 32-bit halves on modern, the
    /// low half on legacy.</summary>
    public void WriteDriverFeatures(ulong features)
    {
        if (Transport == VirtioDriverTransport.Legacy)
        {
            LegacyWrite(L.LegacyGuestFeatures, 4, Narrow.LowUInt32(features)); // legacy: bits 0..31
            return;
        }
        CommonWrite(L.CommonDriverFeatureSelect, 4, 0);
        CommonWrite(L.CommonDriverFeature, 4, Narrow.LowUInt32(features)); // low dword
        CommonWrite(L.CommonDriverFeatureSelect, 4, 1);
        CommonWrite(L.CommonDriverFeature, 4, features >> 32);
    }

    /// <summary>
    /// Linux register_virtio_device + virtio_dev_probe (VIRTIO 1.2 §3.1.1 steps 1-6): reset,
    /// ACKNOWLEDGE, DRIVER, read the device features, write offered ∩ <paramref name="supported"/>
    /// (modern: VERSION_1 is required and always kept), then — VERSION_1 only — FEATURES_OK and
    /// re-read it. False (status FAILED written) when the device lacks VERSION_1 on the modern
    /// interface or refuses the features.
    /// </summary>
    public bool TryNegotiate(ulong supported)
    {
        Reset();
        AddStatus(VirtioStatus.Acknowledge);
        AddStatus(VirtioStatus.Driver);
        DeviceFeatures = ReadDeviceFeatures();
        ulong version1 = 1UL << VirtioSpec.FVersion1;
        if (Transport == VirtioDriverTransport.Modern)
        {
            // Linux virtio_pci_modern: "virtio: device uses modern interface but does not have VIRTIO_F_VERSION_1".
            if ((DeviceFeatures & version1) == 0)
            {
                AddStatus(VirtioStatus.Failed);
                return false;
            }
            supported |= version1;
        }
        else
        {
            supported &= uint.MaxValue;
        }
        NegotiatedFeatures = DeviceFeatures & supported;
        WriteDriverFeatures(NegotiatedFeatures);
        if ((NegotiatedFeatures & version1) != 0)
        {
            AddStatus(VirtioStatus.FeaturesOk);
            if ((GetStatus() & VirtioStatus.FeaturesOk) == 0)
            {
                AddStatus(VirtioStatus.Failed);
                return false;
            }
        }
        return true;
    }

    /// <summary>True when feature <paramref name="bit"/> was negotiated.</summary>
    public bool HasFeature(int bit) => Narrow.AsUInt32Bits(bit) < 64 && (NegotiatedFeatures & (1UL << bit)) != 0;

    /// <summary>DRIVER_OK (Linux virtio_device_ready).</summary>
    public void DriverOk() => AddStatus(VirtioStatus.DriverOk);

    // ------------------------------------------------------------------ interrupts

    /// <summary>
    /// Linux vp_request_msix_vectors for <paramref name="queueCount"/> queues: programs and unmasks
    /// up to 1 + queueCount table entries (vector v → GSI base + v, address 0xFEE00000), enables
    /// MSI-X, and assigns vector 0 to configuration changes (read back; VIRTIO_MSI_NO_VECTOR means
    /// the device refused it, and the driver falls back to INTx). With INTx nothing is written.
    /// </summary>
    public void SetupInterrupts(int queueCount)
    {
        if (queueCount is < 0 or > QueuesMax)
            throw new ArgumentOutOfRangeException(nameof(queueCount));
        if (InterruptMode != VirtioInterruptMode.Msix)
            return;
        _msixVectorsUsed = Math.Min(Math.Min(_msixTableSize, 1 + queueCount), MsixVectorsUsedMax);
        if (_msixVectorsUsed < 2)
            _msixVectorsUsed = 2;
        int control = _msixCap + MsixSpec.ControlOffset;
        ushort ctl = Narrow.LowUInt16(Pci.ReadConfig(control, 2));
        Pci.WriteConfig(control, 2, Narrow.AsUInt32Bits(ctl | MsixSpec.ControlEnable | MsixSpec.ControlFunctionMask));
        for (int v = 0; v < _msixVectorsUsed; v++)
        {
            MsiMessage message = MsiMessage.ForGsi(_msixGsiBase + Narrow.AsUInt32Bits(v));
            ulong entry = _msixTable + (Narrow.AsUInt64Bits(v) * MsixSpec.EntrySize);
            Guest.MmioWrite(entry, 4, Narrow.LowUInt32(message.Address));
            Guest.MmioWrite(entry + 4, 4, message.Address >> 32);
            Guest.MmioWrite(entry + 8, 4, message.Data);
            Guest.MmioWrite(entry + MsixSpec.EntryVectorControl, 4, 0);
        }
        int enabled = (ctl | MsixSpec.ControlEnable) & ~MsixSpec.ControlFunctionMask;
        Pci.WriteConfig(control, 2, Narrow.AsUInt32Bits(enabled));
        _msixEnabled = true;
        if (WriteConfigVector(0) == L.NoVector)
            DisableMsix();
    }

    private ushort WriteConfigVector(ushort vector)
    {
        if (Transport == VirtioDriverTransport.Modern)
        {
            CommonWrite(L.CommonConfigMsixVector, 2, vector);
            return Narrow.LowUInt16(CommonRead(L.CommonConfigMsixVector, 2));
        }
        LegacyWrite(L.LegacyConfigVector, 2, vector);
        return Narrow.LowUInt16(LegacyRead(L.LegacyConfigVector, 2));
    }

    private void DisableMsix()
    {
        int control = _msixCap + MsixSpec.ControlOffset;
        ushort ctl = Narrow.LowUInt16(Pci.ReadConfig(control, 2));
        Pci.WriteConfig(control, 2, Narrow.AsUInt32Bits(ctl & ~MsixSpec.ControlEnable));
        _msixEnabled = false;
        InterruptMode = VirtioInterruptMode.Intx;
    }

    /// <summary>GSI of MSI-X vector <paramref name="vector"/> as this driver programmed it.</summary>
    public uint GsiOfVector(ushort vector) => _msixGsiBase + vector;

    /// <summary>
    /// The interrupt handler (Linux vp_interrupt / vp_vring_interrupt / vp_config_changed): for MSI-X,
    /// the vector's GSI selects the config callback or the queue callbacks sharing it; for INTx the ISR
    /// is read (which clears it and lowers the line) and bit 0 runs every queue callback, bit 1 the
    /// config callback. Returns true when the interrupt was this device's. Does not EOI: the program
    /// does, once per GSI (INTx lines are shared).
    /// </summary>
    public bool HandleInterrupt(uint gsi)
    {
        bool mine = false;
        if (InterruptMode == VirtioInterruptMode.Msix && _msixEnabled)
        {
            if (gsi < _msixGsiBase || gsi >= _msixGsiBase + Narrow.AsUInt32Bits(_msixVectorsUsed))
                return false;
            ushort vector = unchecked((ushort)(gsi - _msixGsiBase));
            if (vector == 0)
            {
                mine = true;
                ConfigChanged?.Invoke();
            }
            foreach (VirtioDriverQueue q in _queues)
            {
                if (q.Vector != vector)
                    continue;
                mine = true;
                q.Callback?.Invoke(q);
            }
        }
        else
        {
            if (gsi != IntxGsi)
                return false;
            byte isr = ReadIsr();
            if ((isr & L.IsrQueue) != 0)
            {
                foreach (VirtioDriverQueue q in _queues)
                    q.Callback?.Invoke(q);
            }
            if ((isr & L.IsrConfig) != 0)
                ConfigChanged?.Invoke();
            mine = isr != 0;
        }
        if (mine)
            InterruptsHandled++;
        return mine;
    }

    /// <summary>Reads (and so clears) the ISR status byte.</summary>
    public byte ReadIsr() =>
        Narrow.LowByte(
            Transport == VirtioDriverTransport.Modern ? Guest.MmioRead(_isrBase, 1) : LegacyRead(L.LegacyIsr, 1)
        );

    // ------------------------------------------------------------------ queues

    /// <summary>
    /// Linux setup_vq (modern or legacy): selects queue <paramref name="index"/>, reads its size (0 →
    /// absent: null), optionally shrinks it to <paramref name="sizeMax"/> (modern only; legacy sizes are
    /// fixed), allocates and zeroes the rings from <paramref name="dma"/> (legacy: the §2.7.2 layout,
    /// 4096-aligned, announced through QUEUE_PFN; modern: packed, written as desc/driver/device
    /// addresses), assigns its MSI-X vector (read back; NO_VECTOR → null), and enables it (modern).
    /// </summary>
    public VirtioDriverQueue? SetupQueue(int index, GuestDmaAllocator dma, int sizeMax = 0)
    {
        ArgumentNullException.ThrowIfNull(dma);
        if (Narrow.AsUInt32Bits(index) >= QueuesMax)
            throw new ArgumentOutOfRangeException(nameof(index));
        ushort vector = L.NoVector;
        if (InterruptMode == VirtioInterruptMode.Msix && _msixEnabled)
            vector = unchecked((ushort)Math.Min(1 + _queues.Count, _msixVectorsUsed - 1));
        bool eventIdx = HasFeature(VirtioSpec.FEventIdx);
        VirtioDriverQueue queue;
        if (Transport == VirtioDriverTransport.Modern)
        {
            CommonWrite(L.CommonQueueSelect, 2, Narrow.AsUInt32Bits(index));
            int size = Narrow.LowInt32(CommonRead(L.CommonQueueSize, 2));
            if (size == 0 || !VirtioSpec.IsValidQueueSize(size) || CommonRead(L.CommonQueueEnable, 2) != 0)
                return null;
            if (sizeMax > 0 && sizeMax < size && VirtioSpec.IsValidQueueSize(sizeMax))
            {
                size = sizeMax;
                CommonWrite(L.CommonQueueSize, 2, Narrow.AsUInt32Bits(size));
            }
            var layout = SplitRingLayout.Modern(
                dma.Allocate(
                    SplitRingLayout.Modern(default, size).TotalBytes + VirtioSpec.DescAlign,
                    VirtioSpec.DescAlign
                ),
                size
            );
            var ring = new DriverQueue(layout, eventIdx);
            ring.Initialize(Guest.Memory);
            WriteTwoPart(L.CommonQueueDesc, layout.DescTable.Value);
            WriteTwoPart(L.CommonQueueDriver, layout.AvailRing.Value);
            WriteTwoPart(L.CommonQueueDevice, layout.UsedRing.Value);
            ulong notifyOff = CommonRead(L.CommonQueueNotifyOff, 2);
            if (vector != L.NoVector)
            {
                CommonWrite(L.CommonQueueMsixVector, 2, vector);
                if (CommonRead(L.CommonQueueMsixVector, 2) == L.NoVector)
                    return null;
            }
            CommonWrite(L.CommonQueueEnable, 2, 1);
            queue = new VirtioDriverQueue(this, index, ring, _notifyBase + (notifyOff * _notifyMultiplier), vector);
        }
        else
        {
            LegacyWrite(L.LegacyQueueSel, 2, Narrow.AsUInt32Bits(index));
            int size = Narrow.LowInt32(LegacyRead(L.LegacyQueueNum, 2));
            if (size == 0 || !VirtioSpec.IsValidQueueSize(size) || LegacyRead(L.LegacyQueuePfn, 4) != 0)
                return null;
            var probe = SplitRingLayout.Legacy(default, size);
            GuestAddress start = dma.Allocate(probe.TotalBytes, VirtioSpec.LegacyQueueAlign);
            var layout = SplitRingLayout.Legacy(start, size);
            var ring = new DriverQueue(layout, eventIdx);
            ring.Initialize(Guest.Memory);
            LegacyWrite(L.LegacyQueuePfn, 4, start.Value >> L.LegacyQueueAddressShift);
            if (vector != L.NoVector)
            {
                LegacyWrite(L.LegacyQueueVector, 2, vector);
                if (LegacyRead(L.LegacyQueueVector, 2) == L.NoVector)
                    return null;
            }
            queue = new VirtioDriverQueue(this, index, ring, (ulong)_ioBase + L.LegacyQueueNotify, vector);
        }
        _queues.Add(queue);
        return queue;
    }

    /// <summary>Linux vp_iowrite64_twopart: low dword, then high dword.</summary>
    private void WriteTwoPart(int offset, ulong value)
    {
        CommonWrite(offset, 4, Narrow.LowUInt32(value)); // low dword
        CommonWrite(offset + 4, 4, value >> 32);
    }

    internal void NotifyQueue(VirtioDriverQueue queue)
    {
        if (Transport == VirtioDriverTransport.Modern)
            Guest.MmioWrite(queue.NotifyAddress, 2, Narrow.AsUInt32Bits(queue.Index));
        else
            Guest.PioOut(Narrow.LowUInt16(queue.NotifyAddress), 2, Narrow.AsUInt32Bits(queue.Index));
    }

    // ------------------------------------------------------------------ device configuration

    /// <summary>Reads <paramref name="size"/> bytes of device-specific configuration at <paramref name="offset"/>
    /// (modern: the device cfg region; legacy: after the 20- or 24-byte header).</summary>
    public ulong ReadDeviceConfig(int offset, int size)
    {
        if (Transport == VirtioDriverTransport.Modern)
            return Guest.MmioRead(_deviceBase + Narrow.AsUInt64Bits(offset), size);
        return LegacyRead(LegacyConfigOffset + offset, size);
    }

    /// <summary>Writes <paramref name="size"/> bytes of the device-specific configuration at <paramref name="offset"/>
    /// (VIRTIO 1.2 §4.1.4.6).</summary>
    public void WriteDeviceConfig(int offset, int size, ulong value)
    {
        if (Transport == VirtioDriverTransport.Modern)
            Guest.MmioWrite(_deviceBase + Narrow.AsUInt64Bits(offset), size, value);
        else
            LegacyWrite(LegacyConfigOffset + offset, size, value);
    }

    /// <summary>config_generation (modern; legacy has none and reads 0).</summary>
    public byte ReadConfigGeneration() =>
        Transport == VirtioDriverTransport.Modern ? Narrow.LowByte(CommonRead(L.CommonConfigGeneration, 1)) : (byte)0;

    private int LegacyConfigOffset => _msixEnabled ? L.LegacyConfigMsix : L.LegacyConfigNoMsix;
}
