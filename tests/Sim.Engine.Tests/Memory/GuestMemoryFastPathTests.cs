using Sim.Engine.Memory;
using Xunit;

namespace Sim.Engine.Tests.Memory;

/// <summary>The hot-region cache and the cached "who to notify" of <see cref="GuestMemory"/>: observers still see
/// every non-Host access whatever order Observer and Actor are set in, in-place reads count as one read, and dirty
/// marks stay exact when accesses hop between regions and cross pages.</summary>
public sealed class GuestMemoryFastPathTests
{
    private sealed class Recorder : IMemoryObserver
    {
        public List<(bool Write, MemoryActor Actor, ulong Address, byte[] Data)> Seen { get; } = [];

        public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
            Seen.Add((false, actor, address.Value, data.ToArray()));

        public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
            Seen.Add((true, actor, address.Value, data.ToArray()));
    }

    private static GuestMemory TwoRegions()
    {
        Assert.True(
            GuestMemory.TryCreate(
                new MemoryLayout([new RegionSpec(0, 0x3000), new RegionSpec(0x10_0000, 0x2000)]),
                out GuestMemory? m,
                out string? error
            ),
            error
        );
        return m;
    }

    [Fact]
    public void ReadInPlaceIsOneObservedReadOfTheLiveBytes()
    {
        GuestMemory m = TwoRegions();
        var rec = new Recorder();
        Assert.True(m.TryWriteUInt64(new GuestAddress(0x10_0010), 0x0807_0605_0403_0201UL));
        m.Observer = rec;
        Assert.True(m.TryReadInPlace(new GuestAddress(0x10_0010), 16, out ReadOnlySpan<byte> view));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0 }, view.ToArray());
        var only = Assert.Single(rec.Seen);
        Assert.False(only.Write);
        Assert.Equal(0x10_0010UL, only.Address);
        Assert.Equal(16, only.Data.Length);
    }

    [Fact]
    public void ReadInPlaceRefusesRangesOutsideOneRegionAndNegativeLengths()
    {
        GuestMemory m = TwoRegions();
        var rec = new Recorder();
        m.Observer = rec;
        Assert.False(m.TryReadInPlace(new GuestAddress(0x2FF8), 16, out _)); // straddles the end of region 0
        Assert.False(m.TryReadInPlace(new GuestAddress(0x5000), 1, out _)); // in the hole
        Assert.False(m.TryReadInPlace(new GuestAddress(0), -1, out _));
        Assert.False(m.TryReadInPlace(new GuestAddress(ulong.MaxValue), 16, out _));
        Assert.Empty(rec.Seen);
    }

    [Fact]
    public void ObserverSeesAccessesWhateverOrderObserverAndActorAreSetIn()
    {
        GuestMemory m = TwoRegions();
        var rec = new Recorder();
        m.Actor = MemoryActor.Host;
        m.Observer = rec; // attached while Host: nothing seen yet
        Assert.True(m.TryWriteUInt16(new GuestAddress(0x10), 1));
        Assert.Empty(rec.Seen);
        using (m.As(MemoryActor.Guest))
        {
            Assert.True(m.TryWriteUInt16(new GuestAddress(0x10), 2));
        }
        Assert.True(m.TryReadUInt16(new GuestAddress(0x10), out _)); // back to Host: not seen
        m.Actor = MemoryActor.Device;
        Assert.True(m.TryReadUInt32(new GuestAddress(0x10_0000), out _));
        m.Observer = null;
        Assert.True(m.TryReadUInt32(new GuestAddress(0x10_0000), out _));
        Assert.Equal(2, rec.Seen.Count);
        Assert.Equal((true, MemoryActor.Guest, 0x10UL), (rec.Seen[0].Write, rec.Seen[0].Actor, rec.Seen[0].Address));
        Assert.Equal(
            (false, MemoryActor.Device, 0x10_0000UL),
            (rec.Seen[1].Write, rec.Seen[1].Actor, rec.Seen[1].Address)
        );
    }

    [Fact]
    public void DirtyMarksStayExactAcrossRegionHopsAndPageCrossings()
    {
        GuestMemory m = TwoRegions();
        m.ClearDirty();
        Assert.True(m.TryWriteUInt64(new GuestAddress(0x10_1FF8), 1)); // region 1, last page
        Assert.True(m.TryWriteUInt64(new GuestAddress(0x0FFC), 2)); // region 0, crosses pages 0 and 1
        Assert.True(m.TryRead(new GuestAddress(0x2000), new byte[16])); // reads mark nothing
        Assert.True(m.TryWrite(new GuestAddress(0x10_0000), new byte[16])); // region 1, first page
        Assert.True(m.TryWrite(new GuestAddress(0x2000), ReadOnlySpan<byte>.Empty)); // empty write marks nothing
        Assert.Equal(new ulong[] { 0x0, 0x1000, 0x10_0000, 0x10_1000 }, m.DirtyPages().Select(p => p.Value).ToArray());
    }

    [Fact]
    public void WriteVector128IsOneObservedSixteenByteWriteThatMarksItsPages()
    {
        GuestMemory m = TwoRegions();
        var rec = new Recorder();
        m.ClearDirty();
        m.Observer = rec;
        var bytes = new byte[16];
        for (int i = 0; i < bytes.Length; i++)
            bytes[i] = (byte)(i + 1);
        // Straddles the page boundary at 0x10_1000 of region 1.
        Assert.True(
            m.TryWriteVector128(new GuestAddress(0x10_0FF8), System.Runtime.Intrinsics.Vector128.Create(bytes))
        );
        var only = Assert.Single(rec.Seen);
        Assert.True(only.Write);
        Assert.Equal(0x10_0FF8UL, only.Address);
        Assert.Equal(bytes, only.Data);
        Assert.True(m.TryReadUInt64(new GuestAddress(0x10_0FF8), out ulong low));
        Assert.Equal(0x0807_0605_0403_0201UL, low);
        Assert.Equal(new[] { new GuestAddress(0x10_0000), new GuestAddress(0x10_1000) }, m.DirtyPages().ToArray());
        rec.Seen.Clear();
        Assert.False(m.TryWriteVector128(new GuestAddress(0x2FF8), default)); // straddles the end of region 0
        Assert.False(m.TryWriteVector128(new GuestAddress(ulong.MaxValue - 7), default));
        Assert.Empty(rec.Seen);
    }
}
