using System.Buffers.Binary;
using Sim.Devices.Vhost;
using Sim.Devices.Virtio;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Guest.Virtio;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;

namespace Sim.Devices.Tests.Vhost;

/// <summary>
/// A simulation with guest memory, a VMM address space, a vhost-demo started through <see cref="VhostBackendStarter"/>
/// as QEMU would on DRIVER_OK, and the driver-side queue (Sim.Guest's DriverQueue). Memory: two adjacent 1 MiB
/// regions at GPA 0 and 1 MiB (so buffers can straddle a region boundary). Rings at 0x1000, buffers from 0x10000.
/// </summary>
internal sealed class VhostKit
{
    public const ulong RegionSize = 1UL << 20;
    public const uint Gsi = 5;

    public VhostKit(
        Flavour flavour = Flavour.Robust,
        int queueSize = 16,
        bool eventIdx = false,
        VhostOptions? options = null,
        bool start = true,
        long eventsMax = 1_000_000,
        ulong extraFeatures = 0
    )
    {
        var layout = new MemoryLayout([new RegionSpec(0, RegionSize), new RegionSpec(RegionSize, RegionSize)]);
        Sim = new Simulation(
            new SimulationOptions
            {
                MemoryLayout = layout,
                CheckpointInterval = 0,
                EventsMax = eventsMax,
                StopOnGuestExit = false,
            }
        );
        Sim.AddSink(Sink);
        Memory = Sim.Memory;
        Vmm = new VmmAddressSpace(Memory);
        Demo = new VhostDemo(Sim, Vmm, flavour, options, traceId: 7);
        Layout = SplitRingLayout.Modern(new GuestAddress(0x1000), queueSize);
        Driver = new DriverQueue(Layout, eventIdx);
        using (Memory.AsGuest())
            Driver.Initialize(Memory);
        Kick = Sim.CreateEventFd(name: "kick");
        Call = Sim.CreateEventFd(name: "call");
        Err = Sim.CreateEventFd(name: "err");
        Features = (1UL << VirtioSpec.FVersion1) | (eventIdx ? 1UL << VirtioSpec.FEventIdx : 0) | extraFeatures;
        if (!Sim.Kvm.TryRegisterIrqFd(Call, Gsi, null, out KvmError kerr))
            throw new InvalidOperationException(kerr.ToString());
        if (start)
            Start();
    }

    public Simulation Sim { get; }

    public RecordingSink Sink { get; } = new();

    public GuestMemory Memory { get; }

    public VmmAddressSpace Vmm { get; }

    public VhostDemo Demo { get; }

    public VhostDevice Dev => Demo.Device;

    public VhostVirtqueue Vq => Demo.Device.Vqs[0];

    public SplitRingLayout Layout { get; }

    public DriverQueue Driver { get; }

    public EventFd Kick { get; }

    public EventFd Call { get; }

    public EventFd Err { get; }

    public ulong Features { get; }

    private ulong _nextBuffer = 0x10000;

    public void Start()
    {
        Check(VhostBackendStarter.Init(Demo, out _, out _));
        Check(Dev.SetVringErr(0, Err));
        VhostRingStart ring = new(Layout.Size, Layout.DescTable, Layout.AvailRing, Layout.UsedRing, 0, Kick, Call);
        VhostResult r = VhostBackendStarter.Start(Demo, Features, [ring], out VhostStartStep step);
        if (r != VhostResult.Ok)
            throw new InvalidOperationException($"start failed at {step}: {r}");
    }

    public static void Check(VhostResult r)
    {
        if (r != VhostResult.Ok)
            throw new InvalidOperationException(r.ToString());
    }

    /// <summary>Allocates guest memory for a buffer (bump allocator, 16-aligned).</summary>
    public GuestAddress Alloc(uint len)
    {
        var at = new GuestAddress(_nextBuffer);
        _nextBuffer += (len + 15UL) & ~15UL;
        if (_nextBuffer == at.Value)
            _nextBuffer += 16;
        return at;
    }

    /// <summary>Adds and publishes one demo request; returns (head, response buffer).</summary>
    public (ushort Head, GuestAddress Response) AddRequest(uint opt, uint buff, uint outLen = 8, uint inLen = 8)
    {
        GuestAddress req = Alloc(Math.Max(outLen, 8));
        GuestAddress resp = Alloc(Math.Max(inLen, 8));
        using (Memory.AsGuest())
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(b, opt);
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], buff);
            Memory.TryWrite(req, b);
            Span<byte> fill = stackalloc byte[8];
            fill.Fill(0xEE);
            Memory.TryWrite(resp, fill);
            GuestBuffer[] outs = outLen == 0 ? [] : [new GuestBuffer(req, outLen)];
            GuestBuffer[] ins = inLen == 0 ? [] : [new GuestBuffer(resp, inLen)];
            if (!Driver.TryAdd(Memory, outs, ins, out ushort head))
                throw new InvalidOperationException("ring full");
            Driver.Publish(Memory);
            return (head, resp);
        }
    }

    /// <summary>The guest's kick: what its write to the notify address does through the ioeventfd.</summary>
    public void KickIfNeeded()
    {
        bool needs;
        using (Memory.AsGuest())
            needs = Driver.NeedsNotify(Memory);
        if (needs)
            Kick.Signal();
    }

    public Sim.Engine.Time.StopReason Run() => Sim.Run();

    public List<(ushort Id, uint Len)> Reap()
    {
        var list = new List<(ushort, uint)>();
        using (Memory.AsGuest())
        {
            while (Driver.TryGetUsed(Memory, out ushort id, out uint len))
                list.Add((id, len));
        }
        return list;
    }

    public (uint Opt, uint Buff) ReadResponse(GuestAddress at)
    {
        Memory.TryReadUInt32(at, out uint opt);
        Memory.TryReadUInt32(new GuestAddress(at.Value + 4), out uint buff);
        return (opt, buff);
    }

    /// <summary>Writes a raw descriptor into the ring's table (guest-side corruption).</summary>
    public void WriteDesc(int index, ulong addr, uint len, ushort flags, ushort next) =>
        WriteDescAt(Layout.Desc(index), addr, len, flags, next);

    public void WriteDescAt(GuestAddress at, ulong addr, uint len, ushort flags, ushort next)
    {
        Span<byte> raw = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(raw, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[14..], next);
        using (Memory.AsGuest())
            Memory.TryWrite(at, raw);
    }

    /// <summary>Publishes head <paramref name="head"/> at avail slot avail.idx and bumps avail.idx (raw guest
    /// write, bypassing the driver's bookkeeping).</summary>
    public void PublishRaw(ushort head)
    {
        using (Memory.AsGuest())
        {
            Memory.TryReadUInt16(Layout.AvailIdx, out ushort idx);
            Memory.TryWriteUInt16(Layout.AvailEntry(idx & (Layout.Size - 1)), head);
            Memory.TryWriteUInt16(Layout.AvailIdx, unchecked((ushort)(idx + 1)));
        }
    }

    public void SetAvailIdx(ushort idx)
    {
        using (Memory.AsGuest())
            Memory.TryWriteUInt16(Layout.AvailIdx, idx);
    }

    public ushort UsedIdx()
    {
        Memory.TryReadUInt16(Layout.UsedIdx, out ushort v);
        return v;
    }

    public (uint Id, uint Len) UsedEntry(int slot)
    {
        Memory.TryReadUInt32(Layout.UsedEntry(slot), out uint id);
        Memory.TryReadUInt32(new GuestAddress(Layout.UsedEntry(slot).Value + 4), out uint len);
        return (id, len);
    }

    public IEnumerable<RecordedEvent> VqErrors() =>
        Sink.Events.Where(e => e.Kind == TraceEventKind.DeviceResult && e.Source == 7 && e.Address < 0x100);
}

internal sealed record RecordedEvent(
    TraceEventKind Kind,
    long Time,
    uint Source,
    ulong Address,
    ulong Value,
    byte[] Data
);

internal sealed class RecordingSink : ITraceSink
{
    public List<RecordedEvent> Events { get; } = new();

    public void Write(in TraceEvent ev) =>
        Events.Add(new RecordedEvent(ev.Kind, ev.Time, ev.Source, ev.Address, ev.Value, ev.Data.ToArray()));
}
