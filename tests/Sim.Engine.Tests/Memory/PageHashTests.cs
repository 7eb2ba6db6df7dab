using Sim.Engine.Memory;
using Sim.Engine.Random;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.Memory;

/// <summary>The page-wise memory hash (trace format 2): a checkpoint's incremental
/// <see cref="GuestMemory.CheckpointHash"/> must equal the hash computed from the bytes
/// (<see cref="GuestMemory.ContentHash()"/>) after any mix of writes, dirty clears, restores and clears, and the
/// page-wise hash must see every change the linear one sees.</summary>
public class PageHashTests(ITestOutputHelper output)
{
    private static readonly RegionSpec[] Specs = [new(0, 0x6000), new(0x100000, 0x2800), new(0x7000_0000, 0x1000)];

    private static GuestMemory Create()
    {
        Assert.True(GuestMemory.TryCreate(new MemoryLayout(Specs), out GuestMemory? m, out string? error), error);
        return m;
    }

    /// <summary>Random writes of every kind (accessors, windows, spans with MarkDirty), ClearDirty between
    /// checkpoints as the trace observer and the KVM dirty log do, snapshots restored, the memory cleared: after each
    /// step the incremental hash is the hash of the bytes.</summary>
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(0x5EEDUL)]
    public void CheckpointHash_EqualsContentHash_AfterAnyWrites(ulong seed)
    {
        output.WriteLine($"seed {seed}");
        var rng = new Prng(seed);
        GuestMemory m = Create();
        MemorySnapshot? snapshot = null;
        Assert.Equal(m.ContentHash(), m.CheckpointHash());
        for (int step = 0; step < 400; step++)
        {
            RegionSpec r = Specs[Next(rng, Specs.Length)];
            ulong length = 1 + (ulong)Next(rng, 40);
            var at = new GuestAddress(r.Base + (ulong)Next(rng, (int)(r.Size - length + 1)));
            switch (Next(rng, 8))
            {
                case 0:
                    Assert.True(m.TryWriteUInt8(at, (byte)Next(rng, 256)));
                    break;
                case 1:
                    Assert.True(m.TryWrite(at, Bytes(rng, (int)length)));
                    break;
                case 2:
                    Assert.True(m.TryGetSpan(at, length, out Span<byte> span));
                    Bytes(rng, (int)length).CopyTo(span);
                    Assert.True(m.MarkDirty(at, length));
                    break;
                case 3:
                    Assert.True(m.TryGetWindow(at, (int)length, out GuestWindow window));
                    Bytes(rng, (int)length).CopyTo(window.WritableBytes);
                    window.MarkWritten(0, (int)length);
                    break;
                case 4:
                    m.ClearDirty();
                    break;
                case 5:
                    if (Next(rng, 8) == 0)
                        snapshot = m.Snapshot();
                    else if (snapshot is not null)
                        m.Restore(snapshot);
                    break;
                case 6:
                    if (Next(rng, 16) == 0)
                        m.Clear();
                    break;
                default:
                    Assert.True(m.TryWrite(at, new byte[length]));
                    break; // back to zero: contributes nothing
            }
            if (Next(rng, 3) == 0)
                Assert.Equal(m.ContentHash(), m.CheckpointHash());
        }
        Assert.Equal(m.ContentHash(), m.CheckpointHash());
    }

    private static int Next(Prng rng, int bound) => (int)(rng.NextUInt64() % (ulong)bound);

    private static byte[] Bytes(Prng rng, int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
            bytes[i] = (byte)Next(rng, 256);
        return bytes;
    }

    [Fact]
    public void PageWiseHash_SeesEveryOneByteChange_AndMovedPages()
    {
        GuestMemory m = Create();
        var seen = new HashSet<ulong> { m.ContentHash() };
        foreach (RegionSpec s in Specs)
        {
            ulong[] offsets = [0, 1, 7, 8, 0xfff, 0x1000, s.Size - 1];
            foreach (ulong off in offsets.Where(o => o < s.Size).Distinct())
            {
                var a = new GuestAddress(s.Base + off);
                m.TryWriteUInt8(a, 1);
                Assert.True(seen.Add(m.ContentHash()), $"no change at {a}");
                Assert.Equal(m.ContentHash(), m.CheckpointHash());
                m.TryWriteUInt8(a, 0);
            }
        }
        // The same page contents at another address, and the same two pages swapped, are other memories.
        GuestMemory a1 = Create(),
            a2 = Create();
        a1.TryWriteUInt8(new GuestAddress(0x10), 5);
        a2.TryWriteUInt8(new GuestAddress(0x1010), 5);
        Assert.NotEqual(a1.ContentHash(), a2.ContentHash());
        a1.TryWriteUInt8(new GuestAddress(0x1010), 6);
        a2.TryWriteUInt8(new GuestAddress(0x10), 6);
        Assert.NotEqual(a1.ContentHash(), a2.ContentHash());
        // Two equal non-zero pages do not cancel each other.
        GuestMemory twin = Create();
        twin.TryWriteUInt8(new GuestAddress(0x10), 5);
        twin.TryWriteUInt8(new GuestAddress(0x1010), 5);
        Assert.NotEqual(Create().ContentHash(), twin.ContentHash());
        // The layout is hashed too: equal (zero) contents at other addresses differ.
        Assert.NotEqual(GuestMemory.CreateFlat(0x1000).ContentHash(), GuestMemory.CreateFlat(0x2000).ContentHash());
    }

    /// <summary>The schemes are what their definitions say: the linear one is format 1's chain over each region's
    /// base, size and bytes; the page-wise one the layout folded with the xor of each non-zero page's hash of its
    /// address and bytes (traces/README.md §2). Traces carry both, so neither may change.</summary>
    [Fact]
    public void Schemes_FollowTheirDefinitions()
    {
        GuestMemory m = Create();
        m.TryWriteUInt32(new GuestAddress(0x2004), 0xdeadbeef);
        m.TryWriteUInt8(new GuestAddress(0x100000 + 0x2800 - 1), 7); // the region's short last page
        var linear = new StableHash64();
        ulong xor = 0;
        foreach (MemoryRegion r in m.Regions)
        {
            linear.AddUInt64(r.Base);
            linear.AddUInt64(r.Size);
            linear.Add(r.Contents);
            for (int off = 0; off < r.Contents.Length; off += GuestMemory.PageSize)
            {
                int length = Math.Min(GuestMemory.PageSize, r.Contents.Length - off);
                ReadOnlySpan<byte> page = r.Contents.Slice(off, length);
                if (!page.ContainsAnyExcept((byte)0))
                    continue;
                var h = new StableHash64();
                h.AddUInt64(r.Base + (ulong)off);
                h.Add(page);
                xor ^= h.Finish();
            }
        }
        var pageWise = new StableHash64();
        foreach (RegionSpec s in Specs)
        {
            pageWise.AddUInt64(s.Base);
            pageWise.AddUInt64(s.Size);
        }
        pageWise.AddUInt64(xor);
        Assert.Equal(linear.Finish(), m.ContentHash(MemoryHashScheme.Linear));
        Assert.Equal(pageWise.Finish(), m.ContentHash(MemoryHashScheme.PageWise));
        Assert.Equal(pageWise.Finish(), m.CheckpointHash());
        m.HashScheme = MemoryHashScheme.Linear;
        Assert.Equal(linear.Finish(), m.ContentHash());
        Assert.Equal(linear.Finish(), m.CheckpointHash());
    }
}
