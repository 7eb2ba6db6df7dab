using Sim.Engine.Memory;
using Xunit;

namespace Sim.Engine.Tests.Memory;

/// <summary><see cref="GuestWindow"/>: located once inside one region, reads and writes the same bytes as the memory's
/// accessors, marks exactly the pages it writes dirty, refuses accesses outside itself, and
/// <see cref="GuestMemory.IsObserved"/> says when a window must not be used.</summary>
public sealed class GuestWindowTests
{
    private sealed class Counter : IMemoryObserver
    {
        public int Count { get; private set; }

        public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) => Count++;

        public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) => Count++;
    }

    private static GuestMemory TwoRegions()
    {
        Assert.True(
            GuestMemory.TryCreate(
                new MemoryLayout([new RegionSpec(0, 0x3000), new RegionSpec(0x10_0000, 0x3000)]),
                out GuestMemory? m,
                out string? error
            ),
            error
        );
        return m;
    }

    [Fact]
    public void WindowOnlyInsideOneRegion()
    {
        GuestMemory m = TwoRegions();
        Assert.True(m.TryGetWindow(new GuestAddress(0x10_0000), 0x3000, out GuestWindow w));
        Assert.Equal(0x3000, w.Length);
        Assert.False(w.IsEmpty);
        Assert.False(m.TryGetWindow(new GuestAddress(0x2ff0), 0x20, out GuestWindow none));
        Assert.True(none.IsEmpty);
        Assert.False(m.TryGetWindow(new GuestAddress(0), -1, out _));
        Assert.False(m.TryGetWindow(new GuestAddress(ulong.MaxValue - 4), 8, out _));
    }

    [Fact]
    public void ReadsAndWritesTheSameBytesAsTheAccessors()
    {
        GuestMemory m = TwoRegions();
        Assert.True(m.TryGetWindow(new GuestAddress(0x10_0ff0), 0x40, out GuestWindow w));
        w.WriteUInt16(2, 0xbeef);
        w.WriteUInt64(8, 0x0102_0304_0506_0708);
        w.Write128(0x10, 0x1111_2222_3333_4444, 0x5555_6666_7777_8888);
        Assert.True(m.TryReadUInt16(new GuestAddress(0x10_0ff2), out ushort u16));
        Assert.Equal(0xbeef, u16);
        Assert.True(m.TryReadUInt64(new GuestAddress(0x10_0ff8), out ulong u64));
        Assert.Equal(0x0102_0304_0506_0708UL, u64);
        Assert.True(m.TryReadUInt64(new GuestAddress(0x10_1000), out ulong low));
        Assert.True(m.TryReadUInt64(new GuestAddress(0x10_1008), out ulong high));
        Assert.Equal(0x1111_2222_3333_4444UL, low);
        Assert.Equal(0x5555_6666_7777_8888UL, high);

        Assert.True(m.TryWriteUInt64(new GuestAddress(0x10_1020), 0xaabb_ccdd_eeff_0011));
        Assert.Equal(0xaabb_ccdd_eeff_0011UL, w.ReadUInt64(0x30));
        Assert.Equal(0x0011, w.ReadUInt16(0x30));
        w.Read128(0x10, out ulong l, out ulong h);
        Assert.Equal((low, high), (l, h));
    }

    [Fact]
    public void WritesMarkExactlyTheirPagesDirty()
    {
        GuestMemory m = TwoRegions();
        Assert.True(m.TryGetWindow(new GuestAddress(0x10_0000), 0x3000, out GuestWindow w));
        m.ClearDirty();
        _ = w.ReadUInt64(0x2000);
        Assert.Empty(m.DirtyPages());
        w.WriteUInt64(0xffc, 1); // crosses from page 0 into page 1
        Assert.Equal([new GuestAddress(0x10_0000), new GuestAddress(0x10_1000)], m.DirtyPages());
        m.ClearDirty();
        w.WriteUInt16(0x2ffe, 1);
        Assert.Equal([new GuestAddress(0x10_2000)], m.DirtyPages());
    }

    [Fact]
    public void AccessOutsideTheWindowThrows()
    {
        GuestMemory m = TwoRegions();
        Assert.True(m.TryGetWindow(new GuestAddress(0x100), 0x10, out GuestWindow w));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.ReadUInt64(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.WriteUInt16(-1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Write128(1, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.ReadUInt16(int.MaxValue));
        Assert.Equal(0UL, w.ReadUInt64(8));
    }

    [Fact]
    public void IsObservedFollowsObserverAndActor()
    {
        GuestMemory m = TwoRegions();
        Assert.False(m.IsObserved);
        var counter = new Counter();
        m.Observer = counter;
        Assert.True(m.IsObserved);
        using (m.As(MemoryActor.Host))
            Assert.False(m.IsObserved);
        Assert.True(m.IsObserved);
        m.Observer = null;
        Assert.False(m.IsObserved);
        Assert.Equal(0, counter.Count);
    }

    /// <summary>The actor setter stores the watcher only when it changes (a GC write barrier saved per switch): a
    /// switch must still pick up an observer replaced while the host was acting, and a read afterwards reaches
    /// exactly the current observer.</summary>
    [Fact]
    public void ActorSwitchesFollowAnObserverReplacedMeanwhile()
    {
        GuestMemory m = TwoRegions();
        var first = new Counter();
        var second = new Counter();
        m.Observer = first;
        using (m.As(MemoryActor.Host))
        {
            m.Observer = second;
            Assert.False(m.IsObserved);
            Assert.True(m.TryReadUInt64(new GuestAddress(0x10), out _));
        }
        Assert.True(m.IsObserved);
        Assert.True(m.TryReadUInt64(new GuestAddress(0x10), out _));
        using (m.As(MemoryActor.Guest))
        {
            using (m.As(MemoryActor.Guest))
                Assert.True(m.TryReadUInt64(new GuestAddress(0x10), out _));
            Assert.True(m.IsObserved);
        }
        Assert.Equal(0, first.Count);
        Assert.Equal(2, second.Count);
    }
}
