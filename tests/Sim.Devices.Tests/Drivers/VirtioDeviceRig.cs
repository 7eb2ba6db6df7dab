using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Devices.Virtio;
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

namespace Sim.Devices.Tests.Drivers;

/// <summary>
/// One virtio device behind a modern virtio-pci transport (no ioeventfd, so a kick runs the handler at
/// once), driven by direct bus accesses and a <see cref="DriverQueue"/> acting as the driver. For device
/// unit tests; the guest driver library has its own tests that run real guest programs.
/// </summary>
internal sealed class VirtioDeviceRig
{
    public const int Slot = 3;
    public const ulong ModernBase = 0xFE00_0000;
    public const ulong RingBase = 0x10000;
    public const ulong BufferBase = 0x40000;

    public VirtioDeviceRig(VirtioDevice device, bool ioEventFd = false)
    {
        Sim = new Simulation(new SimulationOptions { Seed = 1, CheckpointInterval = 0 });
        var barHost = new KvmBarHost(Sim.Kvm);
        Bridge = new PciHostBridge(barHost, new PciIntxRouter(Sim.Kvm.Irqchip));
        Device = device;
        Transport = new VirtioPciTransport(
            Sim,
            device,
            new VirtioPciOptions { Mode = VirtioPciMode.Modern, UseIoEventFd = ioEventFd }
        );
        Bridge.Attach(Slot, Transport);
    }

    public Simulation Sim { get; }

    public PciHostBridge Bridge { get; }

    public VirtioDevice Device { get; }

    public VirtioPciTransport Transport { get; }

    public GuestMemory Memory => Sim.Memory;

    public DriverQueue Queue { get; private set; } = null!;

    /// <summary>Every queue <see cref="Init"/> set up (<see cref="Queue"/> is the first).</summary>
    public DriverQueue[] Queues { get; private set; } = [];

    /// <summary>Guest bytes between the rings of consecutive queues.</summary>
    public const ulong QueueRingStride = 0x4000;

    public void WriteConfig(int register, int size, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(
            b,
            PciHostBridge.ConfigAddressEnable | ((uint)Slot << 11) | (uint)(register & 0xFC)
        );
        Bridge.Write(BusKind.Pio, 0, b);
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Bridge.Write(BusKind.Pio, (ulong)(4 + (register & 3)), b[..size]);
    }

    public void Common(int offset, int size, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Sim.Kvm.Mmio.Write(ModernBase + L.ModernCommonOffset + (ulong)offset, b[..size]);
    }

    /// <summary>Places BAR 4, enables decoding and bus mastering, negotiates VERSION_1 (+ <paramref name="features"/>),
    /// sets up queues 0..<paramref name="queues"/>-1 with <paramref name="size"/> entries each and sets
    /// DRIVER_OK.</summary>
    public DriverQueue Init(ulong features = 0, int size = 16, int queues = 1)
    {
        WriteConfig(R.Bar0 + 16, 4, (uint)ModernBase);
        WriteConfig(R.Bar0 + 20, 4, 0);
        WriteConfig(R.Command, 2, R.CommandMemorySpace | R.CommandBusMaster);
        Common(L.CommonDeviceStatus, 1, 0);
        Common(L.CommonDeviceStatus, 1, (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver));
        ulong all = features | (1UL << VirtioSpec.FVersion1);
        Common(L.CommonDriverFeatureSelect, 4, 0);
        Common(L.CommonDriverFeature, 4, (uint)all);
        Common(L.CommonDriverFeatureSelect, 4, 1);
        Common(L.CommonDriverFeature, 4, all >> 32);
        Common(
            L.CommonDeviceStatus,
            1,
            (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk)
        );
        Queues = new DriverQueue[queues];
        for (int q = 0; q < queues; q++)
        {
            var layout = SplitRingLayout.Modern(new GuestAddress(RingBase + ((ulong)q * QueueRingStride)), size);
            Queues[q] = new DriverQueue(layout, eventIdx: false);
            Queues[q].Initialize(Memory);
            Common(L.CommonQueueSelect, 2, (ulong)q);
            Common(L.CommonQueueSize, 2, (ulong)size);
            Common(L.CommonQueueDesc, 8, layout.DescTable.Value);
            Common(L.CommonQueueDriver, 8, layout.AvailRing.Value);
            Common(L.CommonQueueDevice, 8, layout.UsedRing.Value);
            Common(L.CommonQueueEnable, 2, 1);
        }
        Queue = Queues[0];
        Common(
            L.CommonDeviceStatus,
            1,
            (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk)
        );
        Assert.True(Device.DriverOk);
        return Queue;
    }

    /// <summary>Guest address of byte <paramref name="offset"/> of the buffer area.</summary>
    public static GuestAddress Buf(ulong offset) => new(BufferBase + offset);

    public void Fill(GuestAddress at, ReadOnlySpan<byte> bytes) => Assert.True(Memory.TryWrite(at, bytes));

    public byte[] ReadBytes(GuestAddress at, int length)
    {
        var b = new byte[length];
        Assert.True(Memory.TryRead(at, b));
        return b;
    }

    /// <summary>Adds a chain of the given buffers and kicks queue 0 (a userspace exit: the handler runs now).</summary>
    public ushort PostAndKick(GuestBuffer[] readable, GuestBuffer[] writable)
    {
        Assert.True(Queue.TryAdd(Memory, readable, writable, out ushort head));
        Queue.Publish(Memory);
        Kick();
        return head;
    }

    /// <summary>Adds a chain of the given buffers to queue <paramref name="queue"/> and kicks it.</summary>
    public ushort PostAndKick(int queue, GuestBuffer[] readable, GuestBuffer[] writable)
    {
        Assert.True(Queues[queue].TryAdd(Memory, readable, writable, out ushort head));
        Queues[queue].Publish(Memory);
        Kick(queue);
        return head;
    }

    public void Kick(int queue = 0)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)queue);
        Sim.Kvm.Mmio.Write(ModernBase + L.ModernNotifyOffset + ((ulong)queue * L.NotifyOffMultiplier), b);
    }

    public bool TryUsed(out ushort head, out uint len) => Queue.TryGetUsed(Memory, out head, out len);

    public static byte[] Le32Pair(uint a, uint b)
    {
        var r = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(r, a);
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(4), b);
        return r;
    }
}
