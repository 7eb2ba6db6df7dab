using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Sim.Scenarios.Recording;

namespace Sim.Kvm.Tests;

/// <summary>
/// Writes a KVM-origin trace without KVM: a scripted guest (the demo guest's PCI enumeration and BAR0 test, written
/// as the port and MMIO accesses a real one makes) drives an <see cref="ExternalMachine"/> in exactly the order the
/// recorder does (guest stores, then the exit at its time, then what is due by then). It exercises the replay path
/// on any machine; the recorder itself is checked against real KVM where /dev/kvm exists.
/// </summary>
internal sealed class SyntheticRecording
{
    public const int DemoSlot = 3;

    public const ulong Bar0 = 0xFE00_0000;

    private readonly ExternalMachine _machine;
    private long _now;

    public SyntheticRecording(ExternalMachine machine) => _machine = machine;

    public long Now => _now;

    public void Tick(long ns) => _now = checked(_now + ns);

    public ulong In(ushort port, int size) => Serve(() => _machine.Read(_now, BusKind.Pio, port, size));

    public void Out(ushort port, int size, ulong value) =>
        Serve(() =>
        {
            _machine.Write(_now, BusKind.Pio, port, size, value);
            return 0;
        });

    public ulong MmioRead(ulong address, int size) => Serve(() => _machine.Read(_now, BusKind.Mmio, address, size));

    public void MmioWrite(ulong address, int size, ulong value) =>
        Serve(() =>
        {
            _machine.Write(_now, BusKind.Mmio, address, size, value);
            return 0;
        });

    /// <summary>A guest store found by the page diff before the next exit.</summary>
    public void Store(ulong address, byte[] bytes) => Assert.True(_machine.Store(address, bytes));

    private ulong Serve(Func<ulong> exit)
    {
        Tick(1_500);
        ulong v = exit();
        _machine.AdvanceTo(_now);
        return v;
    }

    public uint ConfigRead(int slot, int register)
    {
        Out(0xCF8, 4, 0x8000_0000u | ((uint)slot << 11) | (uint)register);
        return (uint)In(0xCFC, 4);
    }

    public void ConfigWrite(int slot, int register, uint value)
    {
        Out(0xCF8, 4, 0x8000_0000u | ((uint)slot << 11) | (uint)register);
        Out(0xCFC, 4, value);
    }

    /// <summary>The demo guest: finds 1234:DE00, sizes and maps BAR0, enables memory decoding, writes 0x1333,
    /// 0x2333, 0x3333 reading each back, prints, exits 0. Returns the values read back.</summary>
    public List<uint> RunDemoGuest()
    {
        foreach (char c in "open /dev/demo success..\n")
            Out(0xE9, 1, c);
        Assert.Equal(0xDE00_1234u, ConfigRead(DemoSlot, 0));
        ConfigWrite(DemoSlot, 0x10, 0xFFFF_FFFF);
        uint size = ~(ConfigRead(DemoSlot, 0x10) & ~0xFu) + 1;
        Assert.True(size is > 0 and <= 0x0100_0000, $"BAR0 size 0x{size:x}");
        ConfigWrite(DemoSlot, 0x10, (uint)Bar0);
        ConfigWrite(DemoSlot, 0x04, 0x2);
        Store(0x20_0000, [1, 2, 3, 4, 5, 6, 7, 8]);
        var reads = new List<uint>();
        foreach (uint v in new uint[] { 0x1333, 0x2333, 0x3333 })
        {
            MmioWrite(Bar0, 4, v);
            reads.Add((uint)MmioRead(Bar0, 4));
        }
        Out(0xE9, 4, 0xC0FFEE);
        Store(0x20_0004, [9, 9]);
        Out(0xF4, 4, 0);
        Tick(10_000);
        _machine.Finish(_now);
        return reads;
    }

    public static TraceHeader Header(ExternalMachine machine, string scenario) =>
        new()
        {
            VirtsimVersion = "test",
            GitCommit = "test",
            Scenario = scenario,
            Origin = TraceOrigin.Kvm,
            Host = new TraceHost("synthetic", 12, "none", "test cpu"),
            MemoryLayout = machine.Simulation.Memory.Layout,
            CheckpointIntervalEvents = machine.Simulation.Options.CheckpointInterval,
            Options = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["guest"] = "synthetic-demo",
                ["guest_sha256"] = "00",
                ["backend"] = "virtio",
            },
        };

    /// <summary>Records the demo guest into a trace; <paramref name="tamper"/> may change events on their way to the
    /// file (a forged recording).</summary>
    public static byte[] RecordDemo(Func<ITraceSink, ITraceSink>? tamper = null)
    {
        Assert.True(ExternalMachine.TryCreate("demo", [], out ExternalMachine? machine, out string error), error);
        machine!.Load(ExternalMachine.ImageAddress, [0xF4, 0xEB, 0xFE]);
        using var stream = new MemoryStream();
        using (
            var writer = new TraceWriter(stream, Header(machine, "demo"), machine.Simulation.Memory, leaveOpen: true)
        )
        {
            machine.Simulation.AddSink(tamper is null ? writer : tamper(writer));
            var script = new SyntheticRecording(machine);
            Assert.Equal([0x1333u, 0x2333u, 0x3333u], script.RunDemoGuest());
            writer.Complete(machine.Simulation.Memory.ContentHash(), machine.Simulation.Loop.Now);
        }
        return stream.ToArray();
    }
}

/// <summary>Forges the data of the <paramref name="index"/>-th event of <paramref name="kind"/> (xor 0xFF on its
/// first byte) before handing it on.</summary>
internal sealed class TamperingSink(ITraceSink inner, TraceEventKind kind, int index) : ITraceSink
{
    private int _seen;

    public void Write(in TraceEvent ev)
    {
        if (ev.Kind == kind && _seen++ == index && ev.Data.Length > 0)
        {
            byte[] data = ev.Data.ToArray();
            data[0] ^= 0xFF;
            inner.Write(new TraceEvent(ev.Kind, ev.Time, ev.Source, ev.Address, ev.Value, data));
            return;
        }
        inner.Write(in ev);
    }
}
