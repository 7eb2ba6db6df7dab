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
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Sim.Devices.Tests.Blk;

/// <summary>
/// A virtio device on a virtio-pci transport driven directly through its BAR regions (no vCPU, no PCI
/// enumeration): the driver handshake on the legacy I/O BAR or the modern common configuration, queue 0 set up
/// with a driver-side <see cref="DriverQueue"/>, synchronous kicks (no ioeventfd). Used by the counter and blk tests.
/// </summary>
internal sealed class VirtioRig
{
    public const ulong RingAddress = 0x10000;

    public const ulong BufferBase = 0x40000;

    private ulong _next = BufferBase;

    private VirtioRig(Simulation sim, VirtioDevice device, VirtioPciTransport transport, bool modern)
    {
        Sim = sim;
        Device = device;
        Transport = transport;
        Modern = modern;
    }

    public Simulation Sim { get; }

    public GuestMemory Memory => Sim.Memory;

    public VirtioDevice Device { get; }

    public VirtioPciTransport Transport { get; }

    public bool Modern { get; }

    public DriverQueue Queue { get; private set; } = null!;

    public static VirtioRig Create(
        Func<Simulation, VirtioDevice> make,
        VirtioPciMode mode = VirtioPciMode.Legacy,
        Flavour coreFlavour = Flavour.Robust,
        ulong memorySize = 1UL << 20,
        ushort legacyPciId = 0
    )
    {
        var sim = new Simulation(new SimulationOptions { MemoryLayout = MemoryLayout.Single(memorySize) });
        VirtioDevice device = make(sim);
        var transport = new VirtioPciTransport(
            sim,
            device,
            new VirtioPciOptions
            {
                Mode = mode,
                UseIoEventFd = false,
                Flavour = coreFlavour,
                LegacyPciDeviceId = legacyPciId,
            }
        );
        transport.ConfigWrite(
            PciConfigRegisters.Command,
            [
                (byte)(
                    PciConfigRegisters.CommandIoSpace
                    | PciConfigRegisters.CommandMemorySpace
                    | PciConfigRegisters.CommandBusMaster
                ),
                0,
            ]
        );
        return new VirtioRig(sim, device, transport, mode == VirtioPciMode.Modern);
    }

    /// <summary>VIRTIO 1.2 §3.1.1 initialisation: ACK, DRIVER, features (<paramref name="features"/>, or all
    /// offered when null), FEATURES_OK (modern), queue 0, then DRIVER_OK unless <paramref name="driverOk"/> is
    /// false.</summary>
    public void Init(ulong? features = null, bool driverOk = true)
    {
        SetStatus(VirtioStatus.Acknowledge);
        SetStatus(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        VirtioStatus s = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        int size;
        SplitRingLayout layout;
        if (Modern)
        {
            WriteCommon(L.CommonDeviceFeatureSelect, 4, 0);
            ulong offered = ReadCommon(L.CommonDeviceFeature, 4);
            WriteCommon(L.CommonDeviceFeatureSelect, 4, 1);
            offered |= ReadCommon(L.CommonDeviceFeature, 4) << 32;
            ulong f = features ?? offered;
            WriteCommon(L.CommonDriverFeatureSelect, 4, 0);
            WriteCommon(L.CommonDriverFeature, 4, (uint)f);
            WriteCommon(L.CommonDriverFeatureSelect, 4, 1);
            WriteCommon(L.CommonDriverFeature, 4, (uint)(f >> 32));
            s |= VirtioStatus.FeaturesOk;
            SetStatus(s);
            WriteCommon(L.CommonQueueSelect, 2, 0);
            size = (int)ReadCommon(L.CommonQueueSize, 2);
            layout = SplitRingLayout.Modern(new GuestAddress(RingAddress), size);
            Queue = new DriverQueue(layout, (f & (1UL << VirtioSpec.FEventIdx)) != 0);
            using (Memory.As(MemoryActor.Guest))
                Queue.Initialize(Memory);
            Write64(L.CommonQueueDesc, layout.DescTable.Value);
            Write64(L.CommonQueueDriver, layout.AvailRing.Value);
            Write64(L.CommonQueueDevice, layout.UsedRing.Value);
            WriteCommon(L.CommonQueueEnable, 2, 1);
        }
        else
        {
            ulong offered = ReadLegacy(L.LegacyHostFeatures, 4);
            ulong f = features ?? offered;
            WriteLegacy(L.LegacyGuestFeatures, 4, (uint)f);
            WriteLegacy(L.LegacyQueueSel, 2, 0);
            size = (int)ReadLegacy(L.LegacyQueueNum, 2);
            layout = SplitRingLayout.Legacy(new GuestAddress(RingAddress), size);
            Queue = new DriverQueue(layout, (f & (1UL << VirtioSpec.FEventIdx)) != 0);
            using (Memory.As(MemoryActor.Guest))
                Queue.Initialize(Memory);
            WriteLegacy(L.LegacyQueuePfn, 4, (uint)(RingAddress >> L.LegacyQueueAddressShift));
        }
        if (driverOk)
            SetStatus(s | VirtioStatus.DriverOk);
    }

    public void SetStatus(VirtioStatus status)
    {
        if (Modern)
            WriteCommon(L.CommonDeviceStatus, 1, (byte)status);
        else
            WriteLegacy(L.LegacyStatus, 1, (byte)status);
    }

    /// <summary>Device reset (status 0).</summary>
    public void Reset() => SetStatus(VirtioStatus.None);

    /// <summary>Reads (and clears) the ISR.</summary>
    public byte ReadIsr() =>
        Modern ? (byte)Read(L.ModernBar, (ulong)L.ModernIsrOffset, 1) : (byte)ReadLegacy(L.LegacyIsr, 1);

    public ulong ReadConfig(int offset, int size) =>
        Modern
            ? Read(L.ModernBar, (ulong)(L.ModernDeviceOffset + offset), size)
            : Read(L.LegacyBar, (ulong)(L.LegacyConfigNoMsix + offset), size);

    public void WriteConfig(int offset, int size, ulong value)
    {
        if (Modern)
            Write(L.ModernBar, (ulong)(L.ModernDeviceOffset + offset), size, value);
        else
            Write(L.LegacyBar, (ulong)(L.LegacyConfigNoMsix + offset), size, value);
    }

    public void Kick(int queue = 0)
    {
        if (Modern)
            Write(L.ModernBar, (ulong)L.ModernNotifyOffset + ((ulong)queue * L.NotifyOffMultiplier), 2, (ulong)queue);
        else
            WriteLegacy(L.LegacyQueueNotify, 2, (uint)queue);
    }

    /// <summary>A fresh guest buffer of <paramref name="len"/> bytes (16-byte aligned bump allocation), optionally
    /// filled.</summary>
    public GuestAddress Alloc(ulong len, byte fill = 0)
    {
        ulong at = _next;
        _next = (_next + Math.Max(len, 1) + 15) & ~15UL;
        if (_next > Memory.TotalSize)
            throw new InvalidOperationException("rig buffer space exhausted");
        Span<byte> bytes = new byte[len];
        bytes.Fill(fill);
        Memory.TryWrite(new GuestAddress(at), bytes);
        return new GuestAddress(at);
    }

    /// <summary>Adds one chain and publishes it (no kick).</summary>
    public ushort Add(GuestBuffer[] readable, GuestBuffer[] writable)
    {
        using (Memory.As(MemoryActor.Guest))
        {
            if (!Queue.TryAdd(Memory, readable, writable, out ushort head))
                throw new InvalidOperationException("queue full");
            Queue.Publish(Memory);
            return head;
        }
    }

    public bool TryUsed(out ushort id, out uint len)
    {
        using (Memory.As(MemoryActor.Guest))
            return Queue.TryGetUsed(Memory, out id, out len);
    }

    /// <summary>Adds, kicks and reaps one chain; fails the test when the device returns nothing.</summary>
    public uint Roundtrip(GuestBuffer[] readable, GuestBuffer[] writable)
    {
        ushort head = Add(readable, writable);
        Kick();
        if (!TryUsed(out ushort id, out uint len))
            throw new Xunit.Sdk.XunitException($"no used entry (broken: {Device.BrokenReason})");
        if (id != head)
            throw new Xunit.Sdk.XunitException($"used id {id}, expected {head}");
        return len;
    }

    public byte ReadByte(GuestAddress a)
    {
        Memory.TryReadUInt8(a, out byte v);
        return v;
    }

    public byte[] ReadBytes(GuestAddress a, int len)
    {
        var b = new byte[len];
        Memory.TryRead(a, b);
        return b;
    }

    public uint ReadLegacy(int offset, int size) => (uint)Read(L.LegacyBar, (ulong)offset, size);

    public void WriteLegacy(int offset, int size, uint value) => Write(L.LegacyBar, (ulong)offset, size, value);

    private ulong ReadCommon(int offset, int size) => Read(L.ModernBar, (ulong)(L.ModernCommonOffset + offset), size);

    private void WriteCommon(int offset, int size, ulong value) =>
        Write(L.ModernBar, (ulong)(L.ModernCommonOffset + offset), size, value);

    private void Write64(int offset, ulong value)
    {
        WriteCommon(offset, 4, (uint)value);
        WriteCommon(offset + 4, 4, value >> 32);
    }

    private ulong Read(int bar, ulong offset, int size)
    {
        PciBar b = Transport.GetBar(bar)!;
        Span<byte> data = stackalloc byte[8];
        b.Region.Read(b.Bus, offset, data[..size]);
        data[size..].Clear();
        return BinaryPrimitives.ReadUInt64LittleEndian(data);
    }

    private void Write(int bar, ulong offset, int size, ulong value)
    {
        PciBar b = Transport.GetBar(bar)!;
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        b.Region.Write(b.Bus, offset, data[..size]);
    }
}
