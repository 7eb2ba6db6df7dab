using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Pci;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Pci;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The model half of a differential pair against real QEMU: one of our virtio devices behind the modern
/// <see cref="VirtioPciTransport"/> with ioeventfd off, the configuration the QEMU half runs
/// (<see cref="QemuCommandLine"/>: <c>ioeventfd=off</c>), so a kick is handled inside the notify write on both sides.
/// Like <see cref="Targets.Rings.QemuBackendRig"/> otherwise (slot 3, BAR at 0xFE000000, memory and bus mastering on).
/// Shared by the blk (<see cref="ModelBlkRig"/>) and rng (<see cref="ModelRngRig"/>) targets.
/// </summary>
internal class ModelVirtioRig
{
    public const ulong ModernBase = 0xFE00_0000;
    public const int Slot = 3;

    private readonly PciHostBridge _bridge;
    private readonly Targets.FuzzContext? _context;

    /// <param name="simulation">The simulation the rig's machine and device run in.</param>
    /// <param name="device">The device model, placed behind a virtio-pci transport at <see cref="Slot"/>.</param>
    /// <param name="classCode">The PCI class code the function reports (PCI_CLASS_*, as QEMU's device sets it).</param>
    /// <param name="context">When given, a recorded finding trace shows the driver's register accesses as the exits
    /// they would be (the rig calls the buses directly, so nothing else records them).</param>
    public ModelVirtioRig(
        Simulation simulation,
        VirtioDevice device,
        uint classCode,
        Targets.FuzzContext? context = null
    )
    {
        ArgumentNullException.ThrowIfNull(simulation);
        _context = context;
        Simulation = simulation;
        VirtioDevice = device;
        _bridge = new PciHostBridge(new KvmBarHost(simulation.Kvm), new PciIntxRouter(simulation.Kvm.Irqchip));
        Transport = new VirtioPciTransport(
            simulation,
            device,
            new VirtioPciOptions
            {
                Mode = VirtioPciMode.Modern,
                UseIoEventFd = false,
                ClassCode = classCode,
            }
        );
        _bridge.Attach(Slot, Transport);
        ConfigWrite(R.Bar0 + 16, (uint)ModernBase);
        ConfigWrite(R.Bar0 + 20, 0);
        ConfigWrite(R.Command, R.CommandMemorySpace | R.CommandBusMaster);
    }

    public Simulation Simulation { get; }

    public VirtioDevice VirtioDevice { get; }

    public VirtioPciTransport Transport { get; }

    private void ConfigWrite(int register, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(
            b,
            PciHostBridge.ConfigAddressEnable | ((uint)Slot << 11) | (uint)(register & 0xFC)
        );
        _bridge.Write(BusKind.Pio, 0, b);
        _context?.EmitBusAccess(Simulation, BusKind.Pio, write: true, PciHostBridge.ConfigAddressPort, b);
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _bridge.Write(BusKind.Pio, 4, b);
        _context?.EmitBusAccess(Simulation, BusKind.Pio, write: true, PciHostBridge.ConfigDataPort, b);
    }

    public void Common(int offset, int size, ulong value) => Mmio(L.ModernCommonOffset + offset, size, value);

    public ulong CommonRead(int offset, int size) => MmioRead(L.ModernCommonOffset + offset, size);

    public void DeviceConfigWrite(int offset, int size, ulong value) =>
        Mmio(L.ModernDeviceOffset + offset, size, value);

    public ulong DeviceConfigRead(int offset, int size) => MmioRead(L.ModernDeviceOffset + offset, size);

    public void Kick() => Mmio(L.ModernNotifyOffset, 2, 0);

    /// <summary>Kicks queue <paramref name="queueIndex"/> (its doorbell: queue_notify_off = the index, times the
    /// multiplier).</summary>
    public void Kick(int queueIndex) =>
        Mmio(L.ModernNotifyOffset + (queueIndex * L.NotifyOffMultiplier), 2, (ulong)queueIndex);

    /// <summary>Reads (and so clears, VIRTIO 1.2 §4.1.4.5.1) the ISR.</summary>
    public byte ReadIsr() => Narrow.LowByte(MmioRead(L.ModernIsrOffset, 1));

    private void Mmio(int offset, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Simulation.Kvm.Mmio.Write(ModernBase + (ulong)offset, b[..size]);
        _context?.EmitBusAccess(Simulation, BusKind.Mmio, write: true, ModernBase + (ulong)offset, b[..size]);
    }

    private ulong MmioRead(int offset, int size)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        Simulation.Kvm.Mmio.Read(ModernBase + (ulong)offset, b[..size]);
        _context?.EmitBusAccess(Simulation, BusKind.Mmio, write: false, ModernBase + (ulong)offset, b[..size]);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }
}
