using Sim.Engine;
using System.Buffers.Binary;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Targets.Rings;
using Sim.Devices;
using Sim.Devices.Pci;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Machine.Simulation;
using Sim.Machine.Kvm;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The virtio PCI transport itself (<see cref="VirtioPciTransport"/>, transitional: legacy I/O BAR 0, MSI-X BAR 1,
/// modern BAR 4) with robust virtio-demo behind it, driven by arbitrary register sequences
/// (<see cref="VirtioPciInput"/>): common configuration, ISR, device configuration and notify accesses of any size and
/// offset, the legacy registers, PCI configuration writes (BAR sizing and moves, the command register, MSI-X control,
/// the PCI configuration access window), MSI-X table writes, resets (status 0, legacy QUEUE_PFN 0, PCI reset) and
/// feature changes at any time — also while requests a guest actor posted are in flight.
/// Oracles: <see cref="VirtioPciRegisterModel"/> (registers read back what the driver's writes say, queue_size a power
/// of two within the maximum, status rules of VIRTIO 1.2 §2.1 / §3.1.1, reset values, ISR read clears, config
/// generation); <see cref="DeviceAccessGate"/> (no device memory access without DRIVER_OK and bus mastering, so none
/// after a reset until the driver sets up again); <see cref="VirtqueueChecker"/> (permission and used-ring rules on the
/// rings the driver published); hang (event budget); liveness; host exceptions and assertions.
/// Each execution builds a fresh simulation in <see cref="CreateSimulation"/>.
/// </summary>
public sealed class VirtioPciTarget : IFuzzTarget
{
    /// <summary>The device part of the name (<c>virtio-pci-qemu-robust</c>).</summary>
    public const string DeviceName = "virtio-pci";

    public const int OperationsMax = 160;

    /// <summary>Simulated nanoseconds one run op lets pass.</summary>
    public const long RunWindowNs = 200_000;

    /// <summary>Events per execution before the run counts as a hang.</summary>
    public const long EventsMax = 200_000;

    public const ulong IoBase = 0xC000;
    public const ulong MsixBase = 0xFE10_0000;
    public const ulong ModernBase = 0xFE00_0000;
    private const int Slot = 3;
    private const int Queue = 0;

    private readonly GuestActor _guest = new();
    private readonly VirtqueueChecker _checker = new(RingInput.SizeMax);
    private readonly DeviceAccessGate _gate = new();
    private readonly byte[] _buffer = new byte[8];

    // Per execution.
    private Simulation _sim = null!;
    private PciHostBridge _bridge = null!;
    private VirtioPciTransport _transport = null!;
    private VirtioDevice _device = null!;
    private VirtioPciRegisterModel _model = null!;
    private FuzzContext _context = null!;
    private bool _modelValid;
    private int _pciCfgCap;
    private SplitQueueState _synced;
    private bool _syncedReady;
    private bool _guestReady;
    private bool _resync;
    private long _resetCount;
    private ulong _guestDesc;
    private ulong _guestAvailRing;
    private int _guestSize;

    /// <param name="flavour">The transport's and virtio core's flavour (<see cref="VirtioPciOptions.Flavour"/>): robust
    /// must run clean; seed is QEMU's letter, which the spec oracles catch (a queue processed before DRIVER_OK, a
    /// driver-written DEVICE_NEEDS_RESET kept, legacy-only feature bits accepted by a modern driver). The demo device
    /// behind it is robust in both.</param>
    public VirtioPciTarget(Flavour flavour)
    {
        Flavour = flavour;
        Name = FuzzTargetName.Compose(DeviceName, FuzzTargetName.BackendQemu, flavour);
        _gate.Probe = GateProbe;
    }

    public Flavour Flavour { get; }

    public string Name { get; }

    public string Description => "virtio-pci transport (transitional: common/ISR/device/notify caps, legacy I/O BAR, MSI-X, PCI config) with virtio-demo and a guest posting requests; oracles transport (register model, status machine, reset, ISR, generation, DMA gate), permission, used-ring, hang, liveness";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new FixedOpMutator(VirtioPciInput.HeaderLength, VirtioPciInput.OpLength, VirtioPciInput.OpCount);

    public IInputMinimizer? Minimizer { get; } = VirtioPciInputMinimizer.Create(OperationsMax);

    public IEnumerable<byte[]> SeedCorpus() => VirtioPciInput.Seeds();

    /// <summary>The one place a simulation is made (trace hooks attach here).</summary>
    private Simulation CreateSimulation() =>
        RingSimulation.Create(EventsMax);

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var reader = new FuzzInputReader(input);
        byte options = reader.ReadByte();
        int msixVectors = (options & 1) != 0 ? 2 : 0;
        bool ioEventFd = (options & 2) == 0;
        _sim = CreateSimulation();
        context.Attach(_sim);
        _bridge = new PciHostBridge(new KvmBarHost(_sim.Kvm), new PciIntxRouter(_sim.Kvm.Irqchip));
        _device = new VirtioDemoDevice(Flavour.Robust);
        _transport = new VirtioPciTransport(_sim, _device, new VirtioPciOptions { Mode = VirtioPciMode.Transitional, MsixVectors = msixVectors, UseIoEventFd = ioEventFd, Flavour = Flavour });
        _bridge.Attach(Slot, _transport);
        _context = context;
        _model = new VirtioPciRegisterModel([_device.GetQueue(Queue).MaxSize], _device.HostFeatures & ~VirtioDevice.LegacyOnlyFeatures, Narrow.LowUInt32(_device.HostFeatures), msixVectors) { Context = context };
        _modelValid = true;
        _pciCfgCap = FindPciCfgCap();
        _checker.Context = context;
        _checker.Deactivate();
        _gate.Context = context;
        _syncedReady = false;
        _guestReady = false;
        _resync = false;
        _resetCount = _device.ResetCount;
        _sim.AddMemoryObserver(_checker);
        _sim.AddMemoryObserver(_gate);
        Enumerate();
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            VirtioPciInput.Op op = VirtioPciInput.ReadOp(ref reader);
            if (!Apply(op)) return FuzzOutcome.Completed;
            Sync();
        }
        if (context.Finding is null) Liveness();
        return FuzzOutcome.Completed;
    }

    private bool Apply(in VirtioPciInput.Op op)
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
                if ((op.A & 4) != 0)
                {
                    BarWrite(L.ModernBar, L.ModernDeviceOffset + (ulong)(op.Reg % 8), Math.Min(size, 4), op.Value);
                    _model.ForgetConfig(); // the driver's own write: no generation change is owed for it
                }
                else
                {
                    ConfigSnapshot();
                }
                break;
            case VirtioPciInput.OpNotify:
                Notify((op.A & 4) != 0, op.Reg % 2);
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
                BarWrite(L.MsixBar, (ulong)(op.Reg % 0x1000) & ~3UL, 4, (uint)op.Value);
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
                return Run(1 + (op.A % 8));
            case VirtioPciInput.OpReset:
                Reset(op.A % 4);
                break;
            default:
                if ((op.A & 1) != 0)
                {
                    _transport.Reset();
                    AfterReset();
                }
                Enumerate();
                break;
        }
        return true;
    }

    // ------------------------------------------------------------------ the driver's register accesses

    /// <summary>Where BAR <paramref name="bar"/>'s byte <paramref name="offset"/> is, if the guest can reach it there:
    /// the BAR is mapped and the bus resolves the whole access to this BAR at that offset (overlapping BARs and
    /// unmapped ones make the access impossible for the driver, so it is skipped).</summary>
    private bool Reach(int bar, ulong offset, int size, out IoBus bus, out ulong address)
    {
        PciBar? b = _transport.GetBar(bar);
        bus = null!;
        address = 0;
        if (b is not { IsMapped: true } || offset > b.Size - (ulong)size) return false;
        bus = _sim.Kvm.Bus(b.Bus);
        address = b.MappedAddress + offset;
        return bus.TryFind(address, size, out IBusDevice? device, out ulong found) && ReferenceEquals(device, b.Region) && found == offset;
    }

    private bool BarWrite(int bar, ulong offset, int size, ulong value)
    {
        if (!Reach(bar, offset, size, out IoBus bus, out ulong address)) return false;
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer, value);
        bus.Write(address, _buffer.AsSpan(0, size));
        _context.EmitBusAccess(_sim, bus.Kind, write: true, address, _buffer.AsSpan(0, size));
        return true;
    }

    private bool BarRead(int bar, ulong offset, int size, out uint value)
    {
        value = 0;
        if (!Reach(bar, offset, size, out IoBus bus, out ulong address)) return false;
        Span<byte> b = _buffer.AsSpan(0, 8);
        b.Clear();
        bus.Read(address, b[..size]);
        _context.EmitBusAccess(_sim, bus.Kind, write: false, address, b[..size]);
        value = BinaryPrimitives.ReadUInt32LittleEndian(b);
        return true;
    }

    /// <summary>The device status as the driver would read it, without going through the bus (the gate and the status
    /// rules need it even while the BAR is unmapped). Reading device_status has no side effect.</summary>
    private VirtioStatus PeekStatus()
    {
        Span<byte> b = stackalloc byte[1];
        _transport.GetBar(L.ModernBar)!.Region.Read(BusKind.Mmio, L.ModernCommonOffset + L.CommonDeviceStatus, b);
        return (VirtioStatus)b[0];
    }

    private string? GateProbe()
    {
        if (!_transport.BusMasterEnabled) return "bus mastering is off";
        if ((PeekStatus() & VirtioStatus.DriverOk) == 0) return "DRIVER_OK is not set";
        return null;
    }

    private bool MsixEnabled => _transport.Msix is { Enabled: true };

    /// <summary>A common-config write split into QEMU's pieces; each piece goes to the model, a device_status piece
    /// through the status rules.</summary>
    private void CommonWrite(int offset, int size, ulong value)
    {
        if (!Reach(L.ModernBar, L.ModernCommonOffset + (ulong)offset, size, out _, out _)) return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            uint part = unchecked((uint)(value & (piece >= 4 ? 0xFFFF_FFFFUL : (1UL << (8 * piece)) - 1)));
            int o = (int)at;
            if (o == L.CommonDeviceStatus)
            {
                StatusWrite(L.ModernBar, L.ModernCommonOffset + at, piece, part);
            }
            else
            {
                if (o == L.CommonQueueEnable) _resync = true; // a re-enable restarts the ring's indices
                _model.CommonWrite(o, part, PeekStatus());
                BarWrite(L.ModernBar, L.ModernCommonOffset + at, piece, part);
            }
            value >>= 8 * piece;
            at += (ulong)piece;
            left -= piece;
        }
    }

    private void CommonRead(int offset, int size)
    {
        if (!Reach(L.ModernBar, L.ModernCommonOffset + (ulong)offset, size, out _, out _)) return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            BarRead(L.ModernBar, L.ModernCommonOffset + at, piece, out uint v);
            if (_modelValid) _model.CommonRead((int)at, piece, v);
            at += (ulong)piece;
            left -= piece;
        }
    }

    private void LegacyWrite(int offset, int size, ulong value)
    {
        if (!Reach(L.LegacyBar, (ulong)offset, size, out _, out _)) return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            uint part = unchecked((uint)(value & (piece >= 4 ? 0xFFFF_FFFFUL : (1UL << (8 * piece)) - 1)));
            int o = (int)at;
            int configOffset = MsixEnabled ? L.LegacyConfigMsix : L.LegacyConfigNoMsix;
            if (o == L.LegacyStatus)
            {
                StatusWrite(L.LegacyBar, at, piece, part);
            }
            else if (o == L.LegacyQueuePfn && part == 0)
            {
                // QEMU virtio_ioport_write: a QUEUE_PFN of 0 resets the device.
                BarWrite(L.LegacyBar, at, piece, part);
                AfterReset();
            }
            else
            {
                if (o == L.LegacyQueuePfn) _resync = true;
                if (o < configOffset) _model.LegacyWrite(o, part, MsixEnabled, PeekStatus());
                else _model.ForgetConfig();
                BarWrite(L.LegacyBar, at, piece, part);
            }
            value >>= 8 * piece;
            at += (ulong)piece;
            left -= piece;
        }
    }

    private void LegacyRead(int offset, int size)
    {
        if (!Reach(L.LegacyBar, (ulong)offset, size, out _, out _)) return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            int configOffset = MsixEnabled ? L.LegacyConfigMsix : L.LegacyConfigNoMsix;
            bool msix = MsixEnabled;
            BarRead(L.LegacyBar, at, piece, out uint v);
            if (_modelValid && (int)at < configOffset) _model.LegacyRead((int)at, piece, v, msix);
            at += (ulong)piece;
            left -= piece;
        }
    }

    /// <summary>One driver write of device_status (modern or legacy) judged by the status rules: the status is read
    /// just before and just after, with nothing else running in between.</summary>
    private void StatusWrite(int bar, ulong offset, int size, uint value)
    {
        var written = (VirtioStatus)(byte)value; // device_status / VIRTIO_PCI_STATUS is 8 bits
        VirtioStatus before = PeekStatus();
        long accesses = _gate.DeviceAccesses;
        BarWrite(bar, offset, size, value);
        VirtioStatus after = PeekStatus();
        if (_modelValid) _model.StatusWrite(before, written, after, _gate.DeviceAccesses != accesses);
        if (written == VirtioStatus.None) AfterReset();
    }

    /// <summary>A reset happened: the model forgets everything, and the reset values are checked (VIRTIO 1.2
    /// §2.4).</summary>
    private void AfterReset()
    {
        _model.Reset();
        _model.ForgetConfig();
        _modelValid = true;
        _guestReady = false;
        Span<byte> b = stackalloc byte[2];
        IBusDevice common = _transport.GetBar(L.ModernBar)!.Region;
        ushort select = _model.QueueSelect;
        common.Read(BusKind.Mmio, L.CommonQueueSize, b);
        ushort queueSize = BinaryPrimitives.ReadUInt16LittleEndian(b);
        common.Read(BusKind.Mmio, L.CommonQueueEnable, b);
        ushort enable = BinaryPrimitives.ReadUInt16LittleEndian(b);
        if (select < _device.QueueCount) _model.AfterReset(PeekStatus(), select, queueSize, enable);
    }

    private void IsrRead(bool legacy, int offset)
    {
        uint first, second;
        if (legacy)
        {
            if (!BarRead(L.LegacyBar, L.LegacyIsr, 1, out first)) return;
            BarRead(L.LegacyBar, L.LegacyIsr, 1, out second);
        }
        else
        {
            if (!BarRead(L.ModernBar, L.ModernIsrOffset + (ulong)offset, 1, out first)) return;
            if (offset != 0) return; // robust: only byte 0 is the ISR
            BarRead(L.ModernBar, L.ModernIsrOffset, 1, out second);
        }
        _model.IsrReadTwice(first, second, !MsixEnabled && _transport.IntxAsserted);
    }

    /// <summary>The driver's consistent read of device configuration (VIRTIO 1.2 §4.1.4.3.1): generation, fields,
    /// generation.</summary>
    private void ConfigSnapshot()
    {
        if (!BarRead(L.ModernBar, L.ModernCommonOffset + L.CommonConfigGeneration, 1, out uint g1)) return;
        if (!BarRead(L.ModernBar, L.ModernDeviceOffset, 4, out uint config)) return;
        BarRead(L.ModernBar, L.ModernCommonOffset + L.CommonConfigGeneration, 1, out uint g2);
        _model.ConfigSnapshot((byte)g1, config, (byte)g2);
    }

    /// <summary>A queue kick; false when the driver cannot reach the register (BAR unmapped or shadowed).</summary>
    private bool Notify(bool legacy, int queue) => legacy
        ? BarWrite(L.LegacyBar, L.LegacyQueueNotify, 2, (ulong)queue)
        : BarWrite(L.ModernBar, L.ModernNotifyOffset + ((ulong)queue * L.NotifyOffMultiplier), 2, 0);

    // ------------------------------------------------------------------ PCI configuration space

    private void PciConfigWrite(in VirtioPciInput.Op op)
    {
        int width = Math.Min(1 << (op.A & 3), 4);
        int register = op.Reg & 0xFF & ~(width - 1);
        uint value = (uint)op.Value;
        switch ((op.A >> 4) & 3)
        {
            case 1:
                // BAR sizing (PCI 3.0 §6.2.5.1): all-ones, read back, then an address (often the old one).
                register = R.Bar0 + (4 * (op.Reg % R.BarCount));
                width = 4;
                ConfigAccess(register, 4, uint.MaxValue, write: true);
                ConfigAccess(register, 4, 0, write: false);
                break;
            case 2:
                register = R.Command;
                width = 2;
                break;
            case 3 when _transport.Msix is { } msix:
                register = msix.CapabilityOffset + MsixCapability.ControlOffset;
                width = 2;
                value = (value & 1) != 0 ? MsixCapability.ControlEnable : (value & 2) != 0 ? (uint)(MsixCapability.ControlEnable | MsixCapability.ControlFunctionMask) : 0;
                break;
            default:
                break;
        }
        // The PCI configuration access window writes the BAR behind the model's back (VIRTIO 1.2 §4.1.4.9).
        if (_pciCfgCap != 0 && register < _pciCfgCap + L.PciCfgCapLength && register + width > _pciCfgCap + L.CapPciCfgDataOffset) _modelValid = false;
        ConfigAccess(register, width, value, write: true);
    }

    private uint PciConfigRead(int register, int width)
    {
        // A read of the access window performs the BAR read it describes (an ISR read clears it): harmless to the
        // model.
        return ConfigAccess(register, width, 0, write: false);
    }

    /// <summary>Configuration mechanism #1 through the host bridge (ports 0xCF8 / 0xCFC).</summary>
    private uint ConfigAccess(int register, int width, uint value, bool write)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, PciHostBridge.ConfigAddressEnable | ((uint)Slot << 11) | (uint)(register & 0xFC));
        _bridge.Write(BusKind.Pio, 0, b);
        _context.EmitBusAccess(_sim, BusKind.Pio, write: true, PciHostBridge.ConfigAddressPort, b);
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        if (write)
        {
            _bridge.Write(BusKind.Pio, (ulong)(4 + (register & 3)), b[..width]);
            _context.EmitBusAccess(_sim, BusKind.Pio, write: true, PciHostBridge.ConfigDataPort + (ulong)(register & 3), b[..width]);
            return 0;
        }
        b.Clear();
        _bridge.Read(BusKind.Pio, (ulong)(4 + (register & 3)), b[..width]);
        _context.EmitBusAccess(_sim, BusKind.Pio, write: false, PciHostBridge.ConfigDataPort + (ulong)(register & 3), b[..width]);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Firmware's enumeration: BARs at fixed addresses, I/O + memory decoding and bus mastering on.</summary>
    private void Enumerate()
    {
        ConfigAccess(R.Bar0 + (4 * L.LegacyBar), 4, (uint)IoBase, write: true);
        if (_transport.GetBar(L.MsixBar) is not null) ConfigAccess(R.Bar0 + (4 * L.MsixBar), 4, (uint)MsixBase, write: true);
        ConfigAccess(R.Bar0 + (4 * L.ModernBar), 4, (uint)ModernBase, write: true);
        ConfigAccess(R.Bar0 + (4 * L.ModernBar) + 4, 4, 0, write: true);
        ConfigAccess(R.Command, 2, R.CommandIoSpace | R.CommandMemorySpace | R.CommandBusMaster, write: true);
    }

    private int FindPciCfgCap()
    {
        int cap = _transport.Config.GetByte(R.CapabilitiesPointer);
        for (int i = 0; i < 48 && cap != 0; i++)
        {
            if (_transport.Config.GetByte(cap) == R.CapabilityIdVendor && _transport.Config.GetByte(cap + L.CapCfgTypeOffset) == L.CapPciCfg) return cap;
            cap = _transport.Config.GetByte(cap + 1);
        }
        return 0;
    }

    // ------------------------------------------------------------------ driver sequences and the guest

    /// <summary>VIRTIO 1.2 §3.1.1 through the modern interface, with a feature choice (sometimes unoffered bits,
    /// sometimes no VERSION_1) and a ring placement.</summary>
    private void ModernInit(in VirtioPciInput.Op op)
    {
        const VirtioStatus ad = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        CommonWrite(L.CommonDeviceStatus, 1, 0);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)VirtioStatus.Acknowledge);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)ad);
        ulong features = _model.OfferedModern & op.Value;
        if ((op.A & 0x10) == 0) features |= 1UL << VirtioSpec.FVersion1;
        if ((op.A & 0x20) != 0) features |= 1UL << (int)(op.Value >> 58); // one bit the device may not offer
        CommonWrite(L.CommonDriverFeatureSelect, 4, 0);
        CommonWrite(L.CommonDriverFeature, 4, (uint)features);
        CommonWrite(L.CommonDriverFeatureSelect, 4, 1);
        CommonWrite(L.CommonDriverFeature, 4, features >> 32);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)(ad | VirtioStatus.FeaturesOk));
        if ((PeekStatus() & VirtioStatus.FeaturesOk) == 0 && (op.A & 0x40) == 0) return; // §3.1.1 step 6: the driver gives up
        int size = 1 << (op.Reg % (RingInput.SizeLogMax + 1));
        CommonWrite(L.CommonQueueSelect, 2, Queue);
        CommonWrite(L.CommonQueueSize, 2, (ulong)size);
        size = _device.GetQueue(Queue).Size;
        (ulong desc, ulong avail, ulong used) = RingInput.Place((op.A & 0x80) != 0 ? (op.A >> 2) & 7 : 0, size, op.Value);
        CommonWrite(L.CommonQueueDesc, 8, desc);
        CommonWrite(L.CommonQueueDriver, 8, avail);
        CommonWrite(L.CommonQueueDevice, 8, used);
        CommonWrite(L.CommonQueueMsixVector, 2, 0);
        CommonWrite(L.CommonConfigMsixVector, 2, 1);
        CommonWrite(L.CommonQueueEnable, 2, 1);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)(ad | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk));
        GuestSetUp(desc, avail, size);
    }

    /// <summary>A legacy driver (VIRTIO 1.2 §4.1.5.1.3 legacy, QEMU virtio_ioport_write): status, 32 feature bits,
    /// QUEUE_PFN of a 4 KiB-aligned ring (descriptors, available ring, used ring at the next 4 KiB),
    /// DRIVER_OK.</summary>
    private void LegacyInit(in VirtioPciInput.Op op)
    {
        const VirtioStatus ad = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        LegacyWrite(L.LegacyStatus, 1, 0);
        LegacyWrite(L.LegacyStatus, 1, (byte)ad);
        LegacyWrite(L.LegacyGuestFeatures, 4, (uint)(_model.HostFeaturesLow & op.Value));
        LegacyWrite(L.LegacyQueueSel, 2, Queue);
        int size = _device.GetQueue(Queue).Size;
        ulong page = 1 + (ulong)(op.Reg % 3);
        LegacyWrite(L.LegacyQueuePfn, 4, page);
        LegacyWrite(L.LegacyStatus, 1, (byte)(ad | VirtioStatus.DriverOk));
        ulong desc = page << L.LegacyQueueAddressShift;
        ulong avail = desc + VirtioSpec.DescTableSize(size);
        GuestSetUp(desc, avail, size);
    }

    private void GuestSetUp(ulong desc, ulong avail, int size)
    {
        _guest.Reset(_sim.Memory, desc, avail, size);
        _guestDesc = desc;
        _guestAvailRing = avail;
        _guestSize = size;
        _guestReady = true;
    }

    /// <summary>The guest posts a request: a well-formed demo request (one 8-byte out buffer {opt, buff}, one 8-byte in
    /// buffer) or another chain shape, or a raw ring edit; then maybe kicks.</summary>
    private void Post(in VirtioPciInput.Op op)
    {
        if (!_guestReady) return;
        if ((op.A & 1) != 0)
        {
            _guest.Apply(new RingInput.Op(RingInput.OpAddChain, 0, 0, 0, 0, 4, 0, DemoProtocol.RequestSize - 1));
            WriteRequest((uint)(op.Value & 1), (uint)(op.Value >> 32));
        }
        else
        {
            int code = (op.A >> 4) & 7;
            _guest.Apply(new RingInput.Op(code, RingInput.Address(op.Reg, op.Value), RingInput.Length(op.Reg >> 3, (uint)op.Value), (ushort)((op.Reg >> 6) & 7), (ushort)(op.Value >> 16), (byte)(op.Value >> 40), op.Value, (uint)(op.Value >> 8)));
        }
        if ((op.A & 2) != 0) Notify((op.A & 4) != 0, Queue);
    }

    /// <summary>Writes {opt, buff} into the out buffer of the chain just published (its head's first
    /// descriptor).</summary>
    private void WriteRequest(uint opt, uint buff)
    {
        GuestMemory memory = _sim.Memory;
        using GuestMemory.ActorScope scope = memory.As(MemoryActor.Guest);
        ushort idx = _guest.AvailIdx;
        if (!memory.TryReadUInt16(new GuestAddress(_guestAvailRing + 4 + (2UL * (ulong)((idx - 1) & (_guestSize - 1)))), out ushort head)) return;
        if (!memory.TryReadUInt64(new GuestAddress(_guestDesc + (16UL * (ulong)(head % _guestSize))), out ulong addr)) return;
        Span<byte> request = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(request, opt);
        BinaryPrimitives.WriteUInt32LittleEndian(request[4..], buff);
        memory.TryWrite(new GuestAddress(addr), request);
    }

    private bool Run(int windows)
    {
        StopReason reason = _sim.Loop.Run(_sim.Now + (windows * RunWindowNs));
        if (reason != StopReason.EventLimit) return true;
        _context.ReportHang("hang/event-budget", $"the simulation used its {EventsMax} events without the guest acting");
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
                _transport.Reset();
                AfterReset();
                Enumerate();
                break;
        }
    }

    /// <summary>Follows the queue the device uses: the checker judges the rings the driver published.</summary>
    private void Sync()
    {
        SplitQueue q = _device.GetQueue(Queue);
        bool ready = q.Ready && _device.DriverOk && !_device.IsBroken;
        if (!ready)
        {
            if (_syncedReady) _checker.Deactivate();
            _syncedReady = false;
            return;
        }
        SplitQueueState state = q.Capture();
        bool restarted = _resync || _resetCount != _device.ResetCount;
        _resync = false;
        _resetCount = _device.ResetCount;
        if (_syncedReady && !restarted && state.Size == _synced.Size && state.DescTable == _synced.DescTable && state.AvailRing == _synced.AvailRing && state.UsedRing == _synced.UsedRing) return;
        _checker.Configure(_sim.Memory, state.DescTable.Value, state.AvailRing.Value, state.UsedRing.Value, state.Size, state.UsedIdx.Value);
        _synced = state;
        _syncedReady = true;
    }

    /// <summary>The guest stops and kicks once; after the device ran, every available chain is consumed unless the
    /// device is broken or may not run (VIRTIO 1.2 §2.7.13.3: a notified device processes the ring).</summary>
    private void Liveness()
    {
        if (!_syncedReady || !_transport.BusMasterEnabled) return;
        bool kicked = Notify(false, Queue) | Notify(true, Queue);
        if (!kicked) return; // the driver cannot reach a notify register: nothing is owed
        if (!Run(8)) return;
        Sync();
        if (_device.IsBroken || !_syncedReady || _context.Finding is not null || !_transport.BusMasterEnabled) return;
        SplitQueue q = _device.GetQueue(Queue);
        if (!_sim.Memory.TryGetSpan(new GuestAddress(q.AvailRing.Value + 2), 2, out Span<byte> raw)) return;
        ushort availIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
        if (q.NextAvail.Value != availIdx && RingIndex.Distance(q.NextAvail, new RingIndex(availIdx)) <= q.Size)
        {
            _context.Report("liveness", "liveness/available-chain-not-consumed", $"after the guest stopped and kicked, avail.idx is {availIdx} but the device stopped at {q.NextAvail.Value} and is not broken");
        }
    }
}
