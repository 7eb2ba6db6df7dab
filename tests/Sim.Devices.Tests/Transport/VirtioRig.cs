using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Devices.Tests.Pci;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Tests.Transport;

/// <summary>
/// A machine with a host bridge, one <see cref="EchoDevice"/> behind a virtio-pci transport in slot 3,
/// and helpers that act as the guest firmware and driver. Accesses go straight to the buses (no vCPU)
/// unless a test runs a guest program.
/// </summary>
internal sealed class VirtioRig
{
    public const int Slot = 3;
    public const ushort LegacyPort = 0xC000;
    public const ulong MsixBase = 0xFEB0_0000;
    public const ulong ModernBase = 0xFE00_0000;
    public const ulong RingBase = 0x10000;
    public const ulong BufferBase = 0x40000;

    public VirtioRig(VirtioPciOptions? options = null, ulong seed = 1)
    {
        Sim = new Simulation(new SimulationOptions { Seed = seed, CheckpointInterval = 0 });
        Trace = new Recorder();
        Sim.AddSink(Trace);
        BarHost = new KvmBarHost(Sim.Kvm);
        Intx = new PciIntxRouter(Sim.Kvm.Irqchip);
        Bridge = new PciHostBridge(BarHost, Intx);
        Assert.True(
            Sim.Kvm.Pio.TryRegister(PciHostBridge.ConfigAddressPort, PciHostBridge.PortCount, Bridge, "pci-host")
        );
        Device = new EchoDevice();
        Transport = new VirtioPciTransport(Sim, Device, options);
        Bridge.Attach(Slot, Transport);
    }

    public Simulation Sim { get; }

    public Recorder Trace { get; }

    public KvmBarHost BarHost { get; }

    public PciIntxRouter Intx { get; }

    public PciHostBridge Bridge { get; }

    public EchoDevice Device { get; }

    public VirtioPciTransport Transport { get; }

    public GuestMemory Memory => Sim.Memory;

    public uint IntxGsi => Intx.GsiFor(Slot, 1);

    // ---- raw bus accesses (what a vCPU exit would do, without ioeventfd matching)

    public ulong Read(BusKind bus, ulong address, int size)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        Sim.Kvm.Bus(bus).Read(address, b[..size]);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public void Write(BusKind bus, ulong address, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Sim.Kvm.Bus(bus).Write(address, b[..size]);
    }

    public uint ReadConfig(int register, int size) => ConfigMechanism1.ReadConfig(Bridge, Slot, register, size);

    public void WriteConfig(int register, int size, uint value) =>
        ConfigMechanism1.WriteConfig(Bridge, Slot, register, size, value);

    /// <summary>Firmware: place the BARs and enable I/O, memory and bus mastering.</summary>
    public void Enumerate()
    {
        if (Transport.GetBar(L.LegacyBar) != null)
            WriteConfig(R.Bar0, 4, LegacyPort);
        if (Transport.GetBar(L.MsixBar) != null)
            WriteConfig(R.Bar0 + 4, 4, (uint)MsixBase);
        if (Transport.GetBar(L.ModernBar) != null)
        {
            WriteConfig(R.Bar0 + 16, 4, (uint)ModernBase);
            WriteConfig(R.Bar0 + 20, 4, 0);
        }
        WriteConfig(R.Command, 2, R.CommandIoSpace | R.CommandMemorySpace | R.CommandBusMaster);
    }

    // ---- modern registers

    public ulong Common(int offset, int size) =>
        Read(BusKind.Mmio, ModernBase + L.ModernCommonOffset + (ulong)offset, size);

    public void Common(int offset, int size, ulong value) =>
        Write(BusKind.Mmio, ModernBase + L.ModernCommonOffset + (ulong)offset, size, value);

    public VirtioStatus Status => (VirtioStatus)Common(L.CommonDeviceStatus, 1);

    public void SetStatus(VirtioStatus s) => Common(L.CommonDeviceStatus, 1, (byte)s);

    public ulong DeviceFeatures()
    {
        Common(L.CommonDeviceFeatureSelect, 4, 0);
        ulong lo = Common(L.CommonDeviceFeature, 4);
        Common(L.CommonDeviceFeatureSelect, 4, 1);
        return lo | (Common(L.CommonDeviceFeature, 4) << 32);
    }

    public void SetDriverFeatures(ulong features)
    {
        Common(L.CommonDriverFeatureSelect, 4, 0);
        Common(L.CommonDriverFeature, 4, (uint)features);
        Common(L.CommonDriverFeatureSelect, 4, 1);
        Common(L.CommonDriverFeature, 4, features >> 32);
    }

    /// <summary>Sets up queue <paramref name="q"/> through common cfg and returns the driver's view of it.</summary>
    public DriverQueue SetupModernQueue(int q, int size, bool eventIdx)
    {
        var layout = SplitRingLayout.Modern(new GuestAddress(RingBase + ((ulong)q * 0x4000)), size);
        var driver = new DriverQueue(layout, eventIdx);
        driver.Initialize(Memory);
        Common(L.CommonQueueSelect, 2, (ulong)q);
        Common(L.CommonQueueSize, 2, (ulong)size);
        Common(L.CommonQueueDesc, 8, layout.DescTable.Value);
        Common(L.CommonQueueDriver, 8, layout.AvailRing.Value);
        Common(L.CommonQueueDevice, 8, layout.UsedRing.Value);
        Common(L.CommonQueueEnable, 2, 1);
        return driver;
    }

    /// <summary>Linux virtio_pci_modern probe order: reset, ACK, DRIVER, features, FEATURES_OK, queues,
    /// DRIVER_OK.</summary>
    public DriverQueue ModernInit(ulong features, bool eventIdx = false)
    {
        Enumerate();
        SetStatus(VirtioStatus.None);
        SetStatus(VirtioStatus.Acknowledge);
        SetStatus(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        SetDriverFeatures(features);
        SetStatus(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk);
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk, Status);
        DriverQueue dq = SetupModernQueue(0, 16, eventIdx);
        SetStatus(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk);
        return dq;
    }

    public static ulong Version1 => 1UL << VirtioSpec.FVersion1;

    // ---- legacy registers

    public ulong Legacy(int offset, int size) => Read(BusKind.Pio, LegacyPort + (ulong)offset, size);

    public void Legacy(int offset, int size, ulong value) =>
        Write(BusKind.Pio, LegacyPort + (ulong)offset, size, value);

    // ---- requests

    /// <summary>Posts an 8-byte request {a, b} with an 8-byte response buffer; returns the head.</summary>
    public ushort Post(DriverQueue dq, uint a, uint b, int slot = 0)
    {
        var request = new GuestAddress(BufferBase + ((ulong)slot * 0x100));
        var response = new GuestAddress(request.Value + 0x80);
        Assert.True(Memory.TryWriteUInt32(request, a));
        Assert.True(Memory.TryWriteUInt32(new GuestAddress(request.Value + 4), b));
        Assert.True(dq.TryAdd(Memory, [new GuestBuffer(request, 8)], [new GuestBuffer(response, 8)], out ushort head));
        dq.Publish(Memory);
        return head;
    }

    public ulong ResponseOf(int slot = 0)
    {
        Assert.True(Memory.TryReadUInt64(new GuestAddress(BufferBase + ((ulong)slot * 0x100) + 0x80), out ulong v));
        return v;
    }

    /// <summary>Records trace events with data copied.</summary>
    internal sealed class Recorder : ITraceSink
    {
        public List<(TraceEventKind Kind, long Time, uint Source, ulong Address, ulong Value)> Events { get; } = [];

        public void Write(in TraceEvent ev) => Events.Add((ev.Kind, ev.Time, ev.Source, ev.Address, ev.Value));

        public int Count(TraceEventKind kind) => Events.Count(e => e.Kind == kind);
    }
}

/// <summary>A guest program made of an iterator function; interrupts are recorded and EOI'd.</summary>
internal sealed class ScriptProgram(
    Func<GuestContext, IEnumerable<VcpuStep>> body,
    Action<GuestContext, uint>? handler = null
) : GuestProgram
{
    public List<(uint Gsi, long Time)> Interrupts { get; } = [];

    public override IEnumerator<VcpuStep> Run(GuestContext guest) => body(guest).GetEnumerator();

    public override void OnInterrupt(GuestContext guest, uint gsi)
    {
        Interrupts.Add((gsi, guest.Now));
        handler?.Invoke(guest, gsi);
        guest.Eoi(gsi);
    }
}
