using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Devices.Tests.Pci;
using Sim.Devices.Vhost;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Sim.Devices.Tests.VhostFrontend;

/// <summary>
/// A virtio-demo-shaped device (the QEMU-style <see cref="VirtioDemoDevice"/> or the vhost frontend
/// <see cref="VhostDemoFrontendDevice"/>) behind a modern virtio-pci transport with ioeventfds and, by default,
/// MSI-X through irqfds — what QEMU sets up for vhost. The test acts as firmware and driver with register accesses
/// and a <see cref="DriverQueue"/>; kicks are notify writes, which after DRIVER_OK signal the host notifier.
/// </summary>
internal sealed class FrontendRig
{
    public const int Slot = 3;
    public const ulong MsixBase = 0xFEB0_0000;
    public const ulong ModernBase = 0xFE00_0000;
    public const ulong RingBase = 0x10000;
    public const ulong BufferBase = 0x40000;
    public const uint QueueGsi = 40;
    public const uint ConfigGsi = 41;
    public const int QueueSize = 16;

    private int _nextSlot;

    private FrontendRig(Func<Simulation, VirtioDevice> device, bool msix, bool ioEventFd, long eventsMax)
    {
        Sim = new Simulation(
            new SimulationOptions
            {
                Seed = 1,
                CheckpointInterval = 0,
                EventsMax = eventsMax,
                StopOnGuestExit = false,
            }
        );
        Bridge = new PciHostBridge(new KvmBarHost(Sim.Kvm), new PciIntxRouter(Sim.Kvm.Irqchip));
        Assert.True(
            Sim.Kvm.Pio.TryRegister(PciHostBridge.ConfigAddressPort, PciHostBridge.PortCount, Bridge, "pci-host")
        );
        Device = device(Sim);
        Transport = new VirtioPciTransport(
            Sim,
            Device,
            new VirtioPciOptions
            {
                Mode = VirtioPciMode.Modern,
                MsixVectors = msix ? 2 : 0,
                UseIoEventFd = ioEventFd,
                UseIrqFd = true,
            }
        );
        Bridge.Attach(Slot, Transport);
        Msix = msix;
    }

    /// <summary>The vhost frontend with the given backend flavour.</summary>
    public static FrontendRig Vhost(
        Flavour flavour = Flavour.Robust,
        bool msix = true,
        bool ioEventFd = true,
        long eventsMax = 200_000
    ) => new(sim => new VhostDemoFrontendDevice(sim, flavour), msix, ioEventFd, eventsMax);

    /// <summary>The QEMU-style virtio-demo device.</summary>
    public static FrontendRig Qemu(Flavour flavour = Flavour.Robust, bool msix = true) =>
        new(_ => new VirtioDemoDevice(flavour), msix, true, 200_000);

    public Simulation Sim { get; }

    public PciHostBridge Bridge { get; }

    public VirtioDevice Device { get; }

    public VhostDemoFrontendDevice Frontend => Assert.IsType<VhostDemoFrontendDevice>(Device);

    public VhostVirtqueue Vq => Frontend.Backend.Device.Vqs[0];

    public VirtioPciTransport Transport { get; }

    public bool Msix { get; }

    public GuestMemory Memory => Sim.Memory;

    public DriverQueue Queue { get; private set; } = null!;

    public void WriteConfig(int register, int size, uint value) =>
        ConfigMechanism1.WriteConfig(Bridge, Slot, register, size, value);

    public void Common(int offset, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Sim.Kvm.Mmio.Write(ModernBase + L.ModernCommonOffset + (ulong)offset, b[..size]);
    }

    public ulong CommonRead(int offset, int size)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        Sim.Kvm.Mmio.Read(ModernBase + L.ModernCommonOffset + (ulong)offset, b[..size]);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public void SetStatus(S status) => Common(L.CommonDeviceStatus, 1, (byte)status);

    public const S Ready = S.Acknowledge | S.Driver | S.FeaturesOk | S.DriverOk;

    /// <summary>Firmware and Linux virtio_pci_modern probe: BARs, reset, ACK, DRIVER, VERSION_1 (+ features),
    /// FEATURES_OK, MSI-X table (queue → <see cref="QueueGsi"/>), queue 0, DRIVER_OK.</summary>
    public DriverQueue Init(ulong features = 0)
    {
        if (Msix)
            WriteConfig(R.Bar0 + 4, 4, (uint)MsixBase);
        WriteConfig(R.Bar0 + 16, 4, (uint)ModernBase);
        WriteConfig(R.Bar0 + 20, 4, 0);
        WriteConfig(R.Command, 2, R.CommandMemorySpace | R.CommandBusMaster);
        SetStatus(S.None);
        SetStatus(S.Acknowledge | S.Driver);
        ulong all = features | (1UL << VirtioSpec.FVersion1);
        Common(L.CommonDriverFeatureSelect, 4, 0);
        Common(L.CommonDriverFeature, 4, (uint)all);
        Common(L.CommonDriverFeatureSelect, 4, 1);
        Common(L.CommonDriverFeature, 4, all >> 32);
        SetStatus(S.Acknowledge | S.Driver | S.FeaturesOk);
        if (Msix)
        {
            MsiMessage q = MsiMessage.ForGsi(QueueGsi),
                c = MsiMessage.ForGsi(ConfigGsi);
            MmioWrite(MsixBase + 0, 8, q.Address);
            MmioWrite(MsixBase + 8, 4, q.Data);
            MmioWrite(MsixBase + 12, 4, 0);
            MmioWrite(MsixBase + 16, 8, c.Address);
            MmioWrite(MsixBase + 24, 4, c.Data);
            MmioWrite(MsixBase + 28, 4, 0);
            WriteConfig(
                Transport.Msix!.CapabilityOffset + MsixCapability.ControlOffset,
                2,
                MsixCapability.ControlEnable
            );
            Common(L.CommonConfigMsixVector, 2, 1);
        }
        var layout = SplitRingLayout.Modern(new GuestAddress(RingBase), QueueSize);
        Queue = new DriverQueue(layout, eventIdx: (features & (1UL << VirtioSpec.FEventIdx)) != 0);
        Queue.Initialize(Memory);
        Common(L.CommonQueueSelect, 2, 0);
        Common(L.CommonQueueSize, 2, QueueSize);
        Common(L.CommonQueueDesc, 8, layout.DescTable.Value);
        Common(L.CommonQueueDriver, 8, layout.AvailRing.Value);
        Common(L.CommonQueueDevice, 8, layout.UsedRing.Value);
        if (Msix)
            Common(L.CommonQueueMsixVector, 2, 0);
        Common(L.CommonQueueEnable, 2, 1);
        SetStatus(Ready);
        Assert.True(Device.DriverOk);
        return Queue;
    }

    public void MmioWrite(ulong address, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Sim.Kvm.Mmio.Write(address, b[..size]);
    }

    /// <summary>Adds one request {opt, buff} with an <paramref name="inLen"/>-byte response buffer (pre-filled with
    /// 0xEE) and publishes it; returns the response address.</summary>
    public GuestAddress Post(uint opt, uint buff, uint inLen = 8)
    {
        var request = new GuestAddress(BufferBase + ((ulong)(_nextSlot % 64) * 0x40));
        var response = new GuestAddress(request.Value + 0x20);
        _nextSlot++;
        Assert.True(Memory.TryWriteUInt32(request, opt));
        Assert.True(Memory.TryWriteUInt32(new GuestAddress(request.Value + 4), buff));
        Assert.True(Memory.TryWriteUInt64(response, 0xEEEE_EEEE_EEEE_EEEE));
        Assert.True(Queue.TryAdd(Memory, [new GuestBuffer(request, 8)], [new GuestBuffer(response, inLen)], out _));
        Queue.Publish(Memory);
        return response;
    }

    /// <summary>The driver's notify write (an exit here: the rig has no vCPU, so the access reaches the transport,
    /// which forwards it to the host notifier once ioeventfd is started).</summary>
    public void Kick() => MmioWrite(ModernBase + L.ModernNotifyOffset, 2, 0);

    public void KickIfNeeded()
    {
        if (Queue.NeedsNotify(Memory))
            Kick();
    }

    public Sim.Engine.Time.StopReason Run() => Sim.Run();

    public List<(ushort Id, uint Len)> Reap()
    {
        var list = new List<(ushort, uint)>();
        while (Queue.TryGetUsed(Memory, out ushort id, out uint len))
            list.Add((id, len));
        return list;
    }

    public ulong Response(GuestAddress at)
    {
        Assert.True(Memory.TryReadUInt64(at, out ulong v));
        return v;
    }

    public ushort UsedIdx()
    {
        Assert.True(Memory.TryReadUInt16(Queue.Layout.UsedIdx, out ushort v));
        return v;
    }
}
