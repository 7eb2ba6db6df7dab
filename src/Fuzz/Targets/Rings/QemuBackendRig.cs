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

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The QEMU-style side of the virtqueue targets, built once per execution: a <see cref="VirtioDevice"/> behind the
/// modern <see cref="VirtioPciTransport"/> on a PCI host bridge (slot <see cref="Slot"/>, BAR at
/// <see cref="ModernBase"/>, memory space and bus mastering on), on the KVM model, and the guest's register accesses
/// to it (config mechanism #1, MMIO). Shared by <see cref="VirtioBackendTarget"/> and <see cref="DemoDiffTarget"/>.
/// </summary>
internal sealed class QemuBackendRig
{
    public const ulong ModernBase = 0xFE00_0000;

    public const int Slot = 3;

    private readonly PciHostBridge _bridge;
    private readonly FuzzContext? _context;

    /// <param name="simulation">The simulation the rig's machine and device run in.</param>
    /// <param name="device">The device model, placed behind a virtio-pci transport at <see cref="Slot"/>.</param>
    /// <param name="context">When given, a recorded finding trace shows the driver's register accesses as the exits
    /// they would be (port I/O for configuration mechanism #1, MMIO for the capabilities); the rig calls the buses
    /// directly, so nothing else records them.</param>
    public QemuBackendRig(Simulation simulation, VirtioDevice device, FuzzContext? context = null)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        ArgumentNullException.ThrowIfNull(device);
        _context = context;
        Simulation = simulation;
        Device = device;
        _bridge = new PciHostBridge(new KvmBarHost(simulation.Kvm), new PciIntxRouter(simulation.Kvm.Irqchip));
        Transport = new VirtioPciTransport(simulation, device, new VirtioPciOptions { Mode = VirtioPciMode.Modern });
        _bridge.Attach(Slot, Transport);
        ConfigWrite(R.Bar0 + 16, 4, (uint)ModernBase);
        ConfigWrite(R.Bar0 + 20, 4, 0);
        ConfigWrite(R.Command, 2, R.CommandMemorySpace | R.CommandBusMaster);
    }

    public Simulation Simulation { get; }

    public VirtioDevice Device { get; }

    public VirtioPciTransport Transport { get; }

    /// <summary>The driver's initialisation (VIRTIO 1.2 §3.1.1) of queue 0 with the given ring and features (a
    /// multi-queue device's other queues first, on their fixed rings:
    /// <see cref="QueueGuests.SetUpSecondary"/>).</summary>
    public void Initialize(bool eventIdx, bool indirect, int size, ulong desc, ulong avail, ulong used)
    {
        Common(L.CommonDeviceStatus, 1, 0);
        Common(L.CommonDeviceStatus, 1, (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver));
        ulong features =
            (1UL << VirtioSpec.FVersion1)
            | (eventIdx ? 1UL << VirtioSpec.FEventIdx : 0)
            | (indirect ? 1UL << VirtioSpec.FIndirectDesc : 0);
        Common(L.CommonDriverFeatureSelect, 4, 0);
        Common(L.CommonDriverFeature, 4, (uint)features);
        Common(L.CommonDriverFeatureSelect, 4, 1);
        Common(L.CommonDriverFeature, 4, features >> 32);
        Common(
            L.CommonDeviceStatus,
            1,
            (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk)
        );
        QueueGuests.SetUpSecondary(Device, size, (desc, avail, used), Common);
        Common(L.CommonQueueSelect, 2, 0);
        Common(L.CommonQueueSize, 2, (ulong)size);
        Common(L.CommonQueueDesc, 8, desc);
        Common(L.CommonQueueDriver, 8, avail);
        Common(L.CommonQueueDevice, 8, used);
        Common(L.CommonQueueEnable, 2, 1);
        Common(
            L.CommonDeviceStatus,
            1,
            (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk)
        );
    }

    public void ConfigWrite(int register, int size, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(
            b,
            PciHostBridge.ConfigAddressEnable | ((uint)Slot << 11) | (uint)(register & 0xFC)
        );
        _bridge.Write(BusKind.Pio, 0, b);
        _context?.EmitBusAccess(Simulation, BusKind.Pio, write: true, PciHostBridge.ConfigAddressPort, b);
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _bridge.Write(BusKind.Pio, (ulong)(4 + (register & 3)), b[..size]);
        _context?.EmitBusAccess(
            Simulation,
            BusKind.Pio,
            write: true,
            PciHostBridge.ConfigDataPort + (ulong)(register & 3),
            b[..size]
        );
    }

    public void Common(int offset, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Simulation.Kvm.Mmio.Write(ModernBase + L.ModernCommonOffset + (ulong)offset, b[..size]);
        _context?.EmitBusAccess(
            Simulation,
            BusKind.Mmio,
            write: true,
            ModernBase + L.ModernCommonOffset + (ulong)offset,
            b[..size]
        );
    }

    /// <summary>Reads <paramref name="data"/>.Length bytes of common configuration at <paramref name="offset"/> (one
    /// access; common-configuration reads have no side effect, VIRTIO 1.2 §4.1.4.3).</summary>
    public void CommonRead(int offset, Span<byte> data)
    {
        ulong at = ModernBase + L.ModernCommonOffset + (ulong)offset;
        Simulation.Kvm.Mmio.Read(at, data);
        _context?.EmitBusAccess(Simulation, BusKind.Mmio, write: false, at, data);
    }

    /// <summary>The driver's 4-byte read of the common-configuration register at <paramref name="offset"/>.</summary>
    public uint CommonRead32(int offset)
    {
        Span<byte> b = stackalloc byte[4];
        CommonRead(offset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>The driver's read of device_status.</summary>
    public VirtioStatus ReadStatus()
    {
        Span<byte> b = stackalloc byte[1];
        CommonRead(L.CommonDeviceStatus, b);
        return (VirtioStatus)b[0];
    }

    public void DeviceConfigWrite(int offset, int size, uint value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Simulation.Kvm.Mmio.Write(ModernBase + L.ModernDeviceOffset + (ulong)offset, b[..size]);
        _context?.EmitBusAccess(
            Simulation,
            BusKind.Mmio,
            write: true,
            ModernBase + L.ModernDeviceOffset + (ulong)offset,
            b[..size]
        );
    }

    public void DeviceConfigRead(int offset, int size)
    {
        Span<byte> b = stackalloc byte[8];
        DeviceConfigRead(offset, b[..size]);
    }

    /// <summary>Reads <paramref name="data"/>.Length bytes of device configuration at <paramref name="offset"/> (one
    /// access).</summary>
    public void DeviceConfigRead(int offset, Span<byte> data)
    {
        ulong at = ModernBase + L.ModernDeviceOffset + (ulong)offset;
        Simulation.Kvm.Mmio.Read(at, data);
        _context?.EmitBusAccess(Simulation, BusKind.Mmio, write: false, at, data);
    }

    /// <summary>The driver's read of config_generation (VIRTIO 1.2 §4.1.4.3).</summary>
    public byte ConfigGeneration()
    {
        Span<byte> b = stackalloc byte[1];
        ulong at = ModernBase + L.ModernCommonOffset + L.CommonConfigGeneration;
        Simulation.Kvm.Mmio.Read(at, b);
        _context?.EmitBusAccess(Simulation, BusKind.Mmio, write: false, at, b);
        return b[0];
    }

    /// <summary>The driver's read of the whole device configuration into <paramref name="into"/> the VIRTIO 1.2 §2.5.1
    /// way: config_generation, the fields (4-byte accesses, then single bytes), config_generation again. Returns the
    /// second generation; <paramref name="stable"/> is false when the two differ (a driver would retry).</summary>
    public byte ReadDeviceConfig(Span<byte> into, out bool stable)
    {
        byte before = ConfigGeneration();
        int at = 0;
        for (; at + 4 <= into.Length; at += 4)
            DeviceConfigRead(at, into.Slice(at, 4));
        for (; at < into.Length; at++)
            DeviceConfigRead(at, into.Slice(at, 1));
        byte after = ConfigGeneration();
        stable = before == after;
        return after;
    }

    /// <summary>Queue <paramref name="queueIndex"/>'s notify register (queue_notify_off = the index, times the
    /// multiplier; the value written is the index, as a driver without notification data writes).</summary>
    public void Kick(int queueIndex)
    {
        if (queueIndex == 0)
        {
            Kick();
            return;
        }
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, Sim.Engine.Narrow.LowUInt16(queueIndex));
        Simulation.Kvm.Mmio.Write(ModernBase + L.ModernNotifyOffset + (ulong)(queueIndex * L.NotifyOffMultiplier), b);
    }

    /// <summary>Queue 0's notify register.</summary>
    public void Kick()
    {
        Span<byte> b = stackalloc byte[2];
        b.Clear();
        Simulation.Kvm.Mmio.Write(ModernBase + L.ModernNotifyOffset, b);
    }

    /// <summary>The guest's interrupt handler: reads (and so clears, VIRTIO 1.2 §4.1.4.5.1) the ISR; true when the
    /// queue bit was set, i.e. a used-buffer interrupt was delivered (INTx; no MSI-X vector is programmed).</summary>
    public bool TakeQueueInterrupt()
    {
        if ((Device.Isr & L.IsrQueue) == 0)
            return false;
        Span<byte> b = stackalloc byte[1];
        Simulation.Kvm.Mmio.Read(ModernBase + L.ModernIsrOffset, b);
        _context?.EmitBusAccess(Simulation, BusKind.Mmio, write: false, ModernBase + L.ModernIsrOffset, b);
        return (b[0] & L.IsrQueue) != 0;
    }
}
