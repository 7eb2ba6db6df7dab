using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Transport;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Virtsim.Fuzz.Targets.Transport;

/// <summary>
/// A register-level driver of one <see cref="VirtioPciTransport"/>, built once per execution: the transport (any
/// mode: legacy I/O BAR 0, MSI-X BAR 1, modern BAR 4) with its device on a PCI host bridge at slot
/// <see cref="Slot"/>, on the KVM model, and the accesses a driver can make to it: BAR reads and writes of any size
/// and offset through the buses (only where the guest could reach them), PCI configuration through mechanism #1,
/// firmware's enumeration at fixed addresses and queue kicks. Every access is recorded on the context as the exit it
/// would be. Carries no oracle: a target judges what it drives (<see cref="VirtioPciTarget"/>). The fixed-layout
/// modern-only sibling is <see cref="Rings.QemuBackendRig"/>.
/// </summary>
internal sealed class VirtioPciDriverRig
{
    /// <summary>Where firmware maps the legacy I/O BAR.</summary>
    public const ulong IoBase = 0xC000;

    /// <summary>Where firmware maps the MSI-X BAR.</summary>
    public const ulong MsixBase = 0xFE10_0000;

    /// <summary>Where firmware maps the modern (64-bit memory) BAR.</summary>
    public const ulong ModernBase = 0xFE00_0000;

    /// <summary>The device's slot on bus 0.</summary>
    public const int Slot = 3;

    private readonly PciHostBridge _bridge;

    /// <summary>Builds the host bridge, then the device and the transport's options, then the transport, in that order:
    /// the order in which instrumented constructors run is part of the coverage an execution records, so a target
    /// keeps it from one build of the rig to the next.</summary>
    /// <param name="simulation">This execution's simulation (attached to <paramref name="context"/> already).</param>
    /// <param name="createDevice">Makes the device behind the transport.</param>
    /// <param name="createOptions">Makes the transport's mode, vectors, ioeventfd use and flavour.</param>
    /// <param name="context">Where the driver's accesses are recorded.</param>
    public VirtioPciDriverRig(
        Simulation simulation,
        Func<VirtioDevice> createDevice,
        Func<VirtioPciOptions> createOptions,
        FuzzContext context
    )
    {
        ArgumentNullException.ThrowIfNull(simulation);
        ArgumentNullException.ThrowIfNull(createDevice);
        ArgumentNullException.ThrowIfNull(createOptions);
        ArgumentNullException.ThrowIfNull(context);
        Simulation = simulation;
        Context = context;
        _bridge = new PciHostBridge(new KvmBarHost(simulation.Kvm), new PciIntxRouter(simulation.Kvm.Irqchip));
        Device = createDevice();
        Transport = new VirtioPciTransport(simulation, Device, createOptions());
        _bridge.Attach(Slot, Transport);
    }

    /// <summary>This execution's simulation.</summary>
    public Simulation Simulation { get; }

    /// <summary>The device behind the transport.</summary>
    public VirtioDevice Device { get; }

    /// <summary>The transport under test.</summary>
    public VirtioPciTransport Transport { get; }

    /// <summary>Where accesses are recorded and findings go.</summary>
    public FuzzContext Context { get; }

    /// <summary>MSI-X is enabled in the capability's control word (the legacy layout moves with it).</summary>
    public bool MsixEnabled => Transport.Msix is { Enabled: true };

    /// <summary>Where BAR <paramref name="bar"/>'s byte <paramref name="offset"/> is, if the guest can reach it there:
    /// the BAR is mapped and the bus resolves the whole access to this BAR at that offset (overlapping BARs and
    /// unmapped ones make the access impossible for the driver, so it is skipped).</summary>
    public bool Reach(int bar, ulong offset, int size, out IoBus bus, out ulong address)
    {
        PciBar? b = Transport.GetBar(bar);
        bus = null!;
        address = 0;
        if (b is not { IsMapped: true } || offset > b.Size - (ulong)size)
            return false;
        bus = Simulation.Kvm.Bus(b.Bus);
        address = b.MappedAddress + offset;
        return bus.TryFind(address, size, out IBusDevice? device, out ulong found)
            && ReferenceEquals(device, b.Region)
            && found == offset;
    }

    /// <summary>A driver write of <paramref name="size"/> bytes (at most 8) at a BAR offset; false when the driver
    /// cannot reach it.</summary>
    public bool BarWrite(int bar, ulong offset, int size, ulong value)
    {
        if (!Reach(bar, offset, size, out IoBus bus, out ulong address))
            return false;
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        bus.Write(address, b[..size]);
        Context.EmitBusAccess(Simulation, bus.Kind, write: true, address, b[..size]);
        return true;
    }

    /// <summary>A driver read of <paramref name="size"/> bytes (at most 4 reach <paramref name="value"/>) at a BAR
    /// offset; false when the driver cannot reach it.</summary>
    public bool BarRead(int bar, ulong offset, int size, out uint value)
    {
        value = 0;
        if (!Reach(bar, offset, size, out IoBus bus, out ulong address))
            return false;
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        bus.Read(address, b[..size]);
        Context.EmitBusAccess(Simulation, bus.Kind, write: false, address, b[..size]);
        value = BinaryPrimitives.ReadUInt32LittleEndian(b);
        return true;
    }

    /// <summary>The device status as the driver would read it, without going through the bus (oracles need it even
    /// while the BAR is unmapped). Reading device_status has no side effect.</summary>
    public VirtioStatus PeekStatus()
    {
        Span<byte> b = stackalloc byte[1];
        ModernRegion.Read(BusKind.Mmio, L.ModernCommonOffset + L.CommonDeviceStatus, b);
        return (VirtioStatus)b[0];
    }

    /// <summary>The modern BAR's register region, for reads straight from it (no bus, no record), e.g. by oracles
    /// that check reset values.</summary>
    public IBusDevice ModernRegion => Transport.GetBar(L.ModernBar)!.Region;

    /// <summary>A queue kick; false when the driver cannot reach the register (BAR unmapped or shadowed).</summary>
    public bool Notify(bool legacy, int queue) =>
        legacy
            ? BarWrite(L.LegacyBar, L.LegacyQueueNotify, 2, (ulong)queue)
            : BarWrite(L.ModernBar, L.ModernNotifyOffset + ((ulong)queue * L.NotifyOffMultiplier), 2, 0);

    /// <summary>Configuration mechanism #1 through the host bridge (ports 0xCF8 / 0xCFC); a read returns the
    /// value.</summary>
    public uint ConfigAccess(int register, int width, uint value, bool write)
    {
        Span<byte> b = stackalloc byte[4];
        uint select = PciHostBridge.ConfigAddressEnable | ((uint)Slot << 11) | (uint)(register & 0xFC);
        BinaryPrimitives.WriteUInt32LittleEndian(b, select);
        _bridge.Write(BusKind.Pio, 0, b);
        Context.EmitBusAccess(Simulation, BusKind.Pio, write: true, PciHostBridge.ConfigAddressPort, b);
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        ulong port = PciHostBridge.ConfigDataPort + (ulong)(register & 3);
        if (write)
        {
            _bridge.Write(BusKind.Pio, (ulong)(4 + (register & 3)), b[..width]);
            Context.EmitBusAccess(Simulation, BusKind.Pio, write: true, port, b[..width]);
            return 0;
        }
        b.Clear();
        _bridge.Read(BusKind.Pio, (ulong)(4 + (register & 3)), b[..width]);
        Context.EmitBusAccess(Simulation, BusKind.Pio, write: false, port, b[..width]);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Firmware's enumeration: BARs at fixed addresses, I/O + memory decoding and bus mastering on.</summary>
    public void Enumerate()
    {
        ConfigAccess(R.Bar0 + (4 * L.LegacyBar), 4, (uint)IoBase, write: true);
        if (Transport.GetBar(L.MsixBar) is not null)
        {
            ConfigAccess(R.Bar0 + (4 * L.MsixBar), 4, (uint)MsixBase, write: true);
        }
        ConfigAccess(R.Bar0 + (4 * L.ModernBar), 4, (uint)ModernBase, write: true);
        ConfigAccess(R.Bar0 + (4 * L.ModernBar) + 4, 4, 0, write: true);
        ConfigAccess(R.Command, 2, R.CommandIoSpace | R.CommandMemorySpace | R.CommandBusMaster, write: true);
    }

    /// <summary>The offset of the PCI configuration access capability (VIRTIO 1.2 §4.1.4.9), 0 when there is
    /// none.</summary>
    public int FindPciCfgCap()
    {
        int cap = Transport.Config.GetByte(R.CapabilitiesPointer);
        for (int i = 0; i < 48 && cap != 0; i++)
        {
            if (
                Transport.Config.GetByte(cap) == R.CapabilityIdVendor
                && Transport.Config.GetByte(cap + L.CapCfgTypeOffset) == L.CapPciCfg
            )
            {
                return cap;
            }
            cap = Transport.Config.GetByte(cap + 1);
        }
        return 0;
    }
}
