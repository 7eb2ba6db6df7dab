using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Engine.Tests.SimulationTests;
using Sim.Machine.Kvm;
using Xunit;

namespace Sim.Engine.Tests.Kvm;

public sealed class IoBusTests
{
    [Fact]
    public void Register_RejectsZeroSizeOverflowAndOverlap()
    {
        var bus = new IoBus(BusKind.Mmio);
        var dev = new ArrayDevice(16);
        Assert.False(bus.TryRegister(0x1000, 0, dev, "zero"));
        Assert.False(bus.TryRegister(ulong.MaxValue, 2, dev, "wraps"));
        Assert.True(bus.TryRegister(ulong.MaxValue, 1, dev, "last byte"));
        Assert.True(bus.TryRegister(0x1000, 0x100, dev, "a"));
        Assert.False(bus.TryRegister(0x10FF, 0x10, dev, "overlaps end"));
        Assert.False(bus.TryRegister(0x0F00, 0x101, dev, "overlaps start"));
        Assert.False(bus.TryRegister(0x0F00, 0x1000, dev, "covers"));
        Assert.True(bus.TryRegister(0x1100, 0x10, dev, "adjacent after"));
        Assert.True(bus.TryRegister(0x0F00, 0x100, dev, "adjacent before"));
        Assert.Equal(new ulong[] { 0x0F00, 0x1000, 0x1100, ulong.MaxValue }, bus.Ranges.ToArray().Select(r => r.Base));
    }

    [Fact]
    public void Pio_RejectsRangesBeyondPortSpace()
    {
        var bus = new IoBus(BusKind.Pio);
        var dev = new ArrayDevice(16);
        Assert.False(bus.TryRegister(0xFFFF, 2, dev, "past 0xffff"));
        Assert.True(bus.TryRegister(0xFFFF, 1, dev, "last port"));
        Assert.False(bus.TryRegister(0x1_0000, 1, dev, "beyond"));
    }

    [Fact]
    public void Find_RequiresWholeAccessInsideOneRange()
    {
        var bus = new IoBus(BusKind.Mmio);
        var a = new ArrayDevice(16);
        var b = new ArrayDevice(16);
        Assert.True(bus.TryRegister(0x100, 0x10, a, "a"));
        Assert.True(bus.TryRegister(0x110, 0x10, b, "b"));
        Assert.True(bus.TryFind(0x10C, 4, out IBusDevice? d, out ulong off));
        Assert.Same(a, d);
        Assert.Equal(0xCUL, off);
        Assert.False(bus.TryFind(0x10E, 4, out _, out _)); // straddles a and b
        Assert.True(bus.TryFind(0x110, 8, out d, out off));
        Assert.Same(b, d);
        Assert.Equal(0UL, off);
        Assert.False(bus.TryFind(0xFF, 1, out _, out _));
        Assert.False(bus.TryFind(0x120, 1, out _, out _));
        Assert.False(bus.TryFind(0x100, 0, out _, out _));
    }

    [Fact]
    public void Unmapped_ReadsAllOnesAndDropsWrites()
    {
        var bus = new IoBus(BusKind.Mmio);
        var dev = new ArrayDevice(16);
        Assert.True(bus.TryRegister(0x100, 0x10, dev, "a"));
        Span<byte> data = stackalloc byte[4];
        data.Clear();
        Assert.False(bus.Read(0x200, data));
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, data.ToArray());
        Assert.False(bus.Write(0x200, data));
        Assert.Empty(dev.Writes);
        Assert.True(bus.Write(0x104, new byte[] { 1, 2 }));
        Assert.Equal(4UL, dev.Writes[0].Offset);
        Assert.Equal(new byte[] { 1, 2 }, dev.Writes[0].Data);
    }

    [Fact]
    public void Unregister_FreesTheRange()
    {
        var bus = new IoBus(BusKind.Mmio);
        var dev = new ArrayDevice(16);
        Assert.True(bus.TryRegister(0x100, 0x10, dev, "a"));
        Assert.False(bus.Unregister(0x104));
        Assert.True(bus.Unregister(0x100));
        Assert.False(bus.TryFind(0x100, 1, out _, out _));
        Assert.True(bus.TryRegister(0x100, 0x10, dev, "again"));
    }

    [Fact]
    public void Register_FailsWhenFull()
    {
        var bus = new IoBus(BusKind.Mmio);
        var dev = new ArrayDevice(16);
        for (int i = 0; i < IoBus.RangesMax; i++)
            Assert.True(bus.TryRegister((ulong)i * 0x10, 0x10, dev, "r"));
        Assert.False(bus.TryRegister(0x10_0000, 0x10, dev, "one too many"));
    }

    /// <summary>Random registrations and lookups agree with a brute-force reference over a list.</summary>
    [Property(MaxTest = 200, Replay = "(2821,1)")]
    public Property Property_LookupAgreesWithReference()
    {
        var op = Gen.Zip(Gen.Zip(Gen.Choose(0, 2), Gen.Choose(0, 0x400)), Gen.Choose(0, 0x80));
        return Prop.ForAll(Gen.ListOf(op).ToArbitrary(), ops =>
        {
            var bus = new IoBus(BusKind.Mmio);
            var dev = new ArrayDevice(1);
            var reference = new List<(ulong Base, ulong Size)>();
            foreach (((int kind, int a), int s) in ops)
            {
                ulong addr = (ulong)a,
                    size = (ulong)s;
                if (kind == 0)
                {
                    bool expect = size > 0 && !reference.Any(r => addr < r.Base + r.Size && r.Base < addr + size);
                    if (bus.TryRegister(addr, size, dev, "x") != expect)
                        return false;
                    if (expect)
                        reference.Add((addr, size));
                }
                else if (kind == 1)
                {
                    bool expect = reference.RemoveAll(r => r.Base == addr) > 0;
                    if (bus.Unregister(addr) != expect)
                        return false;
                }
                else
                {
                    int len = (int)(size % 9);
                    var hit = reference
                        .Where(r => len > 0 && addr >= r.Base && addr + (ulong)len <= r.Base + r.Size)
                        .ToList();
                    bool found = bus.TryFind(addr, len, out _, out ulong off);
                    if (found != (hit.Count == 1))
                        return false;
                    if (found && off != addr - hit[0].Base)
                        return false;
                }
            }
            return true;
        });
    }
}
