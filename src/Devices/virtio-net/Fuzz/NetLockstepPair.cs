using System.Buffers.Binary;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Net;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Our robust virtio-net model (<see cref="ModelNetRig"/>) and QEMU 7.2's virtio-net-pci on a
/// <see cref="QemuNetLink"/>, set up identically (VERSION_1 and VIRTIO_NET_F_MAC; receiveq1 and transmitq1 of
/// <see cref="QueueSize"/> entries at fixed addresses) and driven in lockstep: every guest store into the model's
/// memory is mirrored into QEMU's RAM as a qtest write (as <see cref="VirtioRngLockstep"/> does), every register
/// write and kick goes to both. The building block of the net differential (docs/qemu-backend.md).
/// </summary>
internal sealed class NetLockstepPair : IMemoryObserver, IDisposable
{
    public const int QueueSize = 16;
    public const ulong RxRing = 0x1000;
    public const ulong TxRing = 0x2000;
    public const ulong RxBuffer = 0x4000;
    public const ulong TxHeader = 0x6000;
    public const ulong TxFrame = 0x6100;

    /// <summary>used.idx reads while waiting for QEMU (each is a qtest round trip that lets its main loop turn: the
    /// transmit bottom half, the socket backend's read handler).</summary>
    public const int SettleReadsMax = 2000;

    private readonly DriverQueue[] _queues = new DriverQueue[2];
    private readonly ulong[] _notify = new ulong[2];
    private readonly GuestMemory _memory;

    public NetLockstepPair(string program, TimeSpan timeout)
    {
        Link = QemuNetLink.Open();
        try
        {
            Qemu = QemuMachine.StartNet(program, Link.Netdev, timeout);
        }
        catch
        {
            Link.Dispose();
            throw;
        }
        Pci = QemuVirtioPci.Discover(Qemu.Qtest, NetSpec.DeviceId);
        Qemu.Qtest.Memset(0, RingInput.MemorySize, 0);
        var sim = RingSimulation.Create(VirtioBlkLockstep.EventsMax);
        Model = new ModelNetRig(sim);
        _memory = sim.Memory;
        sim.AddMemoryObserver(this);
        Initialize();
    }

    public QemuNetLink Link { get; }

    public QemuMachine Qemu { get; }

    public QemuVirtioPci Pci { get; }

    public ModelNetRig Model { get; }

    /// <summary>VIRTIO 1.2 §3.1.1 on both sides: reset, ACK, DRIVER, features, FEATURES_OK, both queues,
    /// DRIVER_OK.</summary>
    private void Initialize()
    {
        const byte s0 = (byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        const byte s1 = (byte)(s0 | (byte)VirtioStatus.FeaturesOk);
        ulong features = (1UL << VirtioSpec.FVersion1) | (1UL << NetSpec.FMac);
        Common(L.CommonDeviceStatus, 1, 0);
        Common(L.CommonDeviceStatus, 1, s0);
        Common(L.CommonDriverFeatureSelect, 4, 0);
        Common(L.CommonDriverFeature, 4, features & 0xFFFF_FFFF);
        Common(L.CommonDriverFeatureSelect, 4, 1);
        Common(L.CommonDriverFeature, 4, features >> 32);
        Common(L.CommonDeviceStatus, 1, s1);
        for (int q = 0; q < 2; q++)
        {
            var layout = SplitRingLayout.Modern(new GuestAddress(q == 0 ? RxRing : TxRing), QueueSize);
            _queues[q] = new DriverQueue(layout, eventIdx: false);
            using (_memory.As(MemoryActor.Guest))
                _queues[q].Initialize(_memory);
            Common(L.CommonQueueSelect, 2, (ulong)q);
            Common(L.CommonQueueSize, 2, QueueSize);
            Common(L.CommonQueueDesc, 8, layout.DescTable.Value);
            Common(L.CommonQueueDriver, 8, layout.AvailRing.Value);
            Common(L.CommonQueueDevice, 8, layout.UsedRing.Value);
            Common(L.CommonQueueEnable, 2, 1);
            _notify[q] = Pci.NotifyAddress((ushort)Pci.CommonRead(L.CommonQueueNotifyOff, 2));
        }
        Common(L.CommonDeviceStatus, 1, s1 | (byte)VirtioStatus.DriverOk);
        Qemu.Qtest.Sync();
    }

    private void Common(int offset, int size, ulong value)
    {
        Model.Common(offset, size, value);
        Pci.CommonWrite(offset, size, value);
    }

    /// <summary>The guest stores <paramref name="data"/> at <paramref name="address"/> (both memories).</summary>
    public void WriteGuest(ulong address, ReadOnlySpan<byte> data)
    {
        using (_memory.As(MemoryActor.Guest))
            _memory.TryWrite(new GuestAddress(address), data);
    }

    /// <summary>The guest adds a chain to queue <paramref name="queue"/> and publishes it (both memories).</summary>
    public void Post(int queue, ReadOnlySpan<GuestBuffer> readable, ReadOnlySpan<GuestBuffer> writable)
    {
        using (_memory.As(MemoryActor.Guest))
        {
            if (!_queues[queue].TryAdd(_memory, readable, writable, out _))
            {
                throw new InvalidOperationException("ring full");
            }
            _queues[queue].Publish(_memory);
        }
    }

    /// <summary>Kicks queue <paramref name="queue"/> on both sides.</summary>
    public void Kick(int queue)
    {
        Model.Kick(queue);
        Qemu.Qtest.Write(_notify[queue], 2, (ulong)queue);
        Qemu.Qtest.Sync();
    }

    /// <summary>The model's used entry <paramref name="slot"/> of <paramref name="queue"/>.</summary>
    public (int Id, uint Len) ModelUsed(int queue, int slot)
    {
        byte[] e = ModelBytes(UsedEntry(queue, slot), 8);
        return Entry(e);
    }

    private static (int Id, uint Len) Entry(byte[] e) =>
        ((int)BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e.AsSpan(4)));

    /// <summary>QEMU's used entry <paramref name="slot"/> of <paramref name="queue"/>, once its used.idx passed it
    /// (read until then, at most <see cref="SettleReadsMax"/> times); (-1, 0) when it never did.</summary>
    public (int Id, uint Len) QemuUsed(int queue, int slot)
    {
        ulong idx = _queues[queue].Layout.UsedRing.Value + 2;
        for (int n = 0; n < SettleReadsMax; n++)
        {
            if ((int)Qemu.Qtest.Read(idx, 2) > slot)
            {
                byte[] e = QemuBytes(UsedEntry(queue, slot), 8);
                return Entry(e);
            }
        }
        return (-1, 0);
    }

    private ulong UsedEntry(int queue, int slot) => _queues[queue].Layout.UsedRing.Value + 4 + (8UL * (ulong)slot);

    public byte[] ModelBytes(ulong address, int length)
    {
        var b = new byte[length];
        using (_memory.As(MemoryActor.Host))
            _memory.TryRead(new GuestAddress(address), b);
        return b;
    }

    public byte[] QemuBytes(ulong address, int length)
    {
        var b = new byte[length];
        if (!Qemu.Qtest.ReadBytes(address, b))
            throw new QemuDiedException("qtest refused to read guest RAM");
        return b;
    }

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor == MemoryActor.Guest)
            Qemu.Qtest.WriteBytes(address.Value, data);
    }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }

    public void Dispose()
    {
        Qemu.Dispose();
        Link.Dispose();
    }
}
