using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Engine.Memory;
using Sim.Engine.Tests.SimulationTests;
using Xunit;

namespace Sim.Engine.Tests.Memory;

public sealed class GuestMemoryTests
{
    private static readonly RegionSpec[] Specs =
    [
        new(0x0, 0x2000),
        new(0x2000, 0x1000), // adjacent to the first: accesses may not straddle them
        new(0x1_0000, 0x3000),
        new(ulong.MaxValue - 0x4FFF, 0x2000), // near the top of the address space
    ];

    private static GuestMemory Create(params RegionSpec[] specs)
    {
        Assert.True(GuestMemory.TryCreate(new MemoryLayout(specs), out GuestMemory? m, out string? error), error);
        return m;
    }

    /// <summary>Reference model: one byte array per region; an access is valid when it lies wholly
    /// inside one region (computed in 128-bit arithmetic, so the reference itself cannot overflow).</summary>
    private sealed class Reference
    {
        public byte[][] Bytes { get; } = Specs.Select(s => new byte[s.Size]).ToArray();

        public bool TryLocate(ulong address, int length, out int region, out int offset)
        {
            for (int i = 0; i < Specs.Length; i++)
            {
                UInt128 end = (UInt128)address + (UInt128)length;
                if (address >= Specs[i].Base && end <= (UInt128)Specs[i].Base + Specs[i].Size)
                {
                    region = i;
                    offset = (int)(address - Specs[i].Base);
                    return true;
                }
            }
            region = offset = 0;
            return false;
        }
    }

    private static readonly FsCheck.Gen<ulong> Address = Gen.OneOf(
        Gen.Zip(Gen.Choose(0, Specs.Length - 1), Gen.Choose(-12, 0x3010))
            .Select(t => unchecked(Specs[t.Item1].Base + (ulong)(long)t.Item2)),
        SeededProperty.UInt64
    );

    /// <summary>Any address and length: accessors never throw, and agree with the reference on
    /// success, value and contents.</summary>
    [Property(MaxTest = 150, Replay = "(659918,1)")]
    public Property Property_AccessorsNeverThrow_AndAgreeWithReference()
    {
        var op = Gen.Zip(Gen.Zip(Gen.Choose(0, 10), Address), Gen.Zip(SeededProperty.UInt64, Gen.Choose(0, 40)));
        return Prop.ForAll(Gen.ListOf(op).ToArbitrary(), ops =>
        {
            GuestMemory m = Create(Specs);
            var r = new Reference();
            foreach (((int kind, ulong addr), (ulong value, int n)) in ops)
            {
                var a = new GuestAddress(addr);
                int width = kind switch
                {
                    0 or 4 => 1,
                    1 or 5 => 2,
                    2 or 6 => 4,
                    3 or 7 => 8,
                    _ => n,
                };
                bool valid = r.TryLocate(addr, width, out int reg, out int off);
                Span<byte> expect = valid ? r.Bytes[reg].AsSpan(off, width) : default;
                ulong truncated = width >= 8 ? value : value & ((1UL << (width * 8)) - 1);
                if (!AccessAgrees(m, kind, a, value, n, valid, expect))
                    return false;
                if (valid && kind is >= 4 and <= 7)
                {
                    var le = new byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(le, truncated);
                    le.AsSpan(0, width).CopyTo(expect);
                }
            }
            // Whole-memory comparison at the end.
            for (int i = 0; i < Specs.Length; i++)
            {
                if (!m.Regions[i].Contents.SequenceEqual(r.Bytes[i]))
                    return false;
            }
            return true;
        });
    }

    /// <summary>One accessor call (reads and writes of each width, a copy in or out, a span) succeeds exactly when
    /// the reference says the range is valid, and reads what the reference holds. A copy in is mirrored into the
    /// reference here, a scalar write by the caller.</summary>
    private static bool AccessAgrees(
        GuestMemory m,
        int kind,
        GuestAddress a,
        ulong value,
        int n,
        bool valid,
        Span<byte> expect
    )
    {
        switch (kind)
        {
            case 0:
                return m.TryReadUInt8(a, out byte b8) == valid && (!valid || b8 == expect[0]);
            case 1:
                return m.TryReadUInt16(a, out ushort b16) == valid
                    && (!valid || b16 == BinaryPrimitives.ReadUInt16LittleEndian(expect));
            case 2:
                return m.TryReadUInt32(a, out uint b32) == valid
                    && (!valid || b32 == BinaryPrimitives.ReadUInt32LittleEndian(expect));
            case 3:
                return m.TryReadUInt64(a, out ulong b64) == valid
                    && (!valid || b64 == BinaryPrimitives.ReadUInt64LittleEndian(expect));
            case 4:
                return m.TryWriteUInt8(a, (byte)value) == valid;
            case 5:
                return m.TryWriteUInt16(a, (ushort)value) == valid;
            case 6:
                return m.TryWriteUInt32(a, (uint)value) == valid;
            case 7:
                return m.TryWriteUInt64(a, value) == valid;
            case 8:
                var buf = new byte[n];
                return m.TryRead(a, buf) == valid && (!valid || buf.AsSpan().SequenceEqual(expect));
            case 9:
                var src = Enumerable.Range(0, n).Select(i => (byte)(value >> (i % 8 * 8))).ToArray();
                if (m.TryWrite(a, src) != valid)
                    return false;
                if (valid)
                    src.CopyTo(expect);
                return true;
            default:
                return m.TryGetSpan(a, (ulong)n, out Span<byte> span) == valid
                    && (!valid || span.SequenceEqual(expect));
        }
    }

    [Fact]
    public void HugeLengths_FailWithoutThrowing()
    {
        GuestMemory m = Create(Specs);
        Assert.False(m.TryGetSpan(new GuestAddress(0), ulong.MaxValue, out _));
        Assert.False(m.TryGetSpan(new GuestAddress(ulong.MaxValue), 1, out _));
        Assert.False(m.IsValidRange(new GuestAddress(ulong.MaxValue - 0x3000), ulong.MaxValue));
        Assert.False(m.MarkDirty(new GuestAddress(1), ulong.MaxValue));
        Assert.True(m.IsValidRange(new GuestAddress(ulong.MaxValue - 0x4FFF), 0x2000));
        Assert.False(m.IsValidRange(new GuestAddress(0x1FFE), 4)); // straddles two adjacent regions
    }

    [Theory]
    [InlineData(new ulong[] { }, "no regions")]
    [InlineData(new ulong[] { 0x1000, 0 }, "empty")]
    [InlineData(new ulong[] { 0, 0x2000, 0x1000, 0x1000 }, "overlaps")]
    [InlineData(new ulong[] { ulong.MaxValue - 0xFFF, 0x1000 }, "wraps")]
    [InlineData(new ulong[] { 0, (1UL << 30) + 1 }, "the most is")]
    public void InvalidLayouts_AreRejectedWithAReason(ulong[] pairs, string reason)
    {
        var specs = Enumerable
            .Range(0, pairs.Length / 2)
            .Select(i => new RegionSpec(pairs[2 * i], pairs[(2 * i) + 1]))
            .ToArray();
        Assert.False(GuestMemory.TryCreate(new MemoryLayout(specs), out _, out string? error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void TooManyRegions_Rejected()
    {
        var specs = Enumerable
            .Range(0, MemoryLayout.RegionsMax + 1)
            .Select(i => new RegionSpec((ulong)i * 0x1000, 0x1000))
            .ToArray();
        Assert.False(GuestMemory.TryCreate(new MemoryLayout(specs), out _, out string? error));
        Assert.Contains("at most", error);
    }

    [Fact]
    public void Regions_AreSortedWhateverTheLayoutOrder()
    {
        GuestMemory m = Create(new RegionSpec(0x10000, 0x1000), new RegionSpec(0, 0x1000));
        Assert.Equal(new ulong[] { 0, 0x10000 }, m.Regions.Select(r => r.Base));
        Assert.Equal(0x2000UL, m.TotalSize);
    }

    [Fact]
    public void SnapshotRestore_ReturnsExactBytes()
    {
        GuestMemory m = Create(Specs);
        m.TryWriteUInt64(new GuestAddress(0x10), 0x1122334455667788);
        MemorySnapshot snap = m.Snapshot();
        ulong hash = m.ContentHash();
        m.TryWriteUInt64(new GuestAddress(0x10), 0);
        m.TryWriteUInt8(new GuestAddress(ulong.MaxValue - 0x3001), 9);
        Assert.NotEqual(hash, m.ContentHash());
        m.Restore(snap);
        Assert.Equal(hash, m.ContentHash());
        Assert.True(m.TryReadUInt64(new GuestAddress(0x10), out ulong v));
        Assert.Equal(0x1122334455667788UL, v);
        Assert.Throws<ArgumentException>(() => GuestMemory.CreateFlat(0x1000).Restore(snap));
    }

    /// <summary>Pinned: the content hash of a known 4 KiB pattern. Traces carry this value, so it
    /// must be the same in every process and on every machine.</summary>
    [Fact]
    public void ContentHash_IsStableAcrossRuns()
    {
        GuestMemory m = GuestMemory.CreateFlat(4096);
        for (int i = 0; i < 4096; i++)
            m.TryWriteUInt8(new GuestAddress((ulong)i), unchecked((byte)(i * 7)));
        Assert.Equal(0x94D91DA5C5702D94UL, m.ContentHash(MemoryHashScheme.Linear));
        Assert.Equal(0x4766FC28C0432D6BUL, m.ContentHash());
        var h = new StableHash64();
        h.Add("virtsim"u8);
        Assert.Equal(0x93D0451907F16877UL, h.Finish());
    }

    [Fact]
    public void ContentHash_SeesEveryOneByteChange()
    {
        GuestMemory m = Create(Specs);
        var seen = new HashSet<ulong> { m.ContentHash() };
        foreach (RegionSpec s in Specs)
        {
            foreach (ulong off in new ulong[] { 0, 1, 7, 8, s.Size - 1 })
            {
                var a = new GuestAddress(s.Base + off);
                m.TryWriteUInt8(a, 1);
                Assert.True(seen.Add(m.ContentHash()), $"no change at {a}");
                m.TryWriteUInt8(a, 0);
            }
        }
        // The layout is hashed too: equal (zero) contents at other addresses differ.
        Assert.NotEqual(
            GuestMemory.CreateFlat(0x1000).ContentHash(),
            Create(new RegionSpec(0x1000, 0x1000)).ContentHash()
        );
    }

    [Fact]
    public void DirtyTracking_RecordsWrittenPages()
    {
        GuestMemory m = Create(Specs);
        Assert.Empty(m.DirtyPages());
        m.TryWriteUInt32(new GuestAddress(0xFFE), 1); // spans pages 0 and 1
        m.TryWriteUInt8(new GuestAddress(0x1_2000), 1);
        m.TryReadUInt8(new GuestAddress(0x2000), out _);
        Assert.Equal(new ulong[] { 0, 0x1000, 0x1_2000 }, m.DirtyPages().Select(p => p.Value));
        m.ClearDirty();
        Assert.Empty(m.DirtyPages());
        Assert.True(m.TryGetSpan(new GuestAddress(0x2000), 4, out Span<byte> span));
        span[0] = 1; // bypasses tracking until marked
        Assert.Empty(m.DirtyPages());
        Assert.True(m.MarkDirty(new GuestAddress(0x2000), 4));
        Assert.Equal(new ulong[] { 0x2000 }, m.DirtyPages().Select(p => p.Value));
    }

    private sealed class Observer : IMemoryObserver
    {
        public List<string> Log { get; } = new();

        public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
            Log.Add($"{actor} read {address} {data.Length}");

        public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
            Log.Add($"{actor} write {address} {data.Length}");
    }

    [Fact]
    public void Observer_SeesDeviceAndGuestAccesses_NotHost()
    {
        GuestMemory m = GuestMemory.CreateFlat(0x1000);
        var o = new Observer();
        m.Observer = o;
        m.TryWriteUInt32(new GuestAddress(0), 1);
        using (m.As(MemoryActor.Guest))
        {
            m.TryReadUInt16(new GuestAddress(2), out _);
            using (m.As(MemoryActor.Host))
                m.TryWriteUInt8(new GuestAddress(0), 5);
            m.TryWrite(new GuestAddress(8), new byte[3]);
        }
        m.TryRead(new GuestAddress(0x10), new byte[2]);
        m.TryReadUInt8(new GuestAddress(0x2000), out _); // failed accesses are not observed
        Assert.Equal(
            new[] { "Device write 0x0 4", "Guest read 0x2 2", "Guest write 0x8 3", "Device read 0x10 2" },
            o.Log
        );
    }
}
