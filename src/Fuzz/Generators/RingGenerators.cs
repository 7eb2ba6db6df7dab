using FsCheck;
using FsCheck.Fluent;
using Sim.Engine;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Generators;

/// <summary>
/// Public FsCheck generators for descriptor chains and whole virtqueue scenarios in the <see cref="RingInput"/> format,
/// so users can write their own properties over the fuzz targets (or over a device directly):
/// <code>Prop.ForAll(RingGenerators.Scenario(deviceOps: 8).ToArbitrary(), bytes => ...)</code>.
/// Chains are mostly well formed (1..4 buffers, readable before writable, direct or indirect) with a share of
/// hostile ones: loops, redirected <c>next</c>, zero or huge lengths, addr + len overflow, buffers on the rings or
/// across the region boundary, nested indirect tables.
/// </summary>
internal static class RingGenerators
{
    /// <summary>One descriptor: (addr kind, addr, len kind, len, flags, next), the fields of
    /// <see cref="RingInput.Op"/>.</summary>
    public readonly record struct DescriptorSpec(
        byte AddrKind,
        ulong Addr,
        byte LenKind,
        uint Len,
        byte Flags,
        ushort Next
    );

    /// <summary>A well-formed chain: (readable count 0..2, writable count 0..2, buffer length 1..64,
    /// indirect).</summary>
    public readonly record struct ChainSpec(int Outs, int Ins, uint BufferLength, bool Indirect, int Table);

    public static Gen<ChainSpec> Chain() =>
        from outs in Gen.Choose(0, 2)
        from ins in Gen.Choose(outs == 0 ? 1 : 0, 2)
        from len in Gen.Frequency((3, Gen.Constant(8)), (2, Gen.Choose(1, 64)))
        from indirect in Gen.Frequency((3, Gen.Constant(false)), (1, Gen.Constant(true)))
        from table in Gen.Choose(0, RingInput.IndirectTables - 1)
        select new ChainSpec(outs, ins, (uint)len, indirect, table);

    /// <summary>A hostile descriptor, biased to the interesting shapes.</summary>
    public static Gen<DescriptorSpec> HostileDescriptor() =>
        from addrKind in Gen.Choose(0, 7)
        from addr in Gen.Choose(int.MinValue, int.MaxValue).Select(i => unchecked((ulong)(uint)i * 0x9E37_79B9UL))
        from lenKind in Gen.Choose(0, 7)
        from len in Gen.Choose(int.MinValue, int.MaxValue).Select(i => Narrow.AsUInt32Bits(i))
        from flags in Gen.Choose(0, 7)
        from next in Gen.Frequency((4, Gen.Choose(0, 15)), (1, Gen.Choose(0, 0xffff)))
        select new DescriptorSpec((byte)addrKind, addr, (byte)lenKind, len, (byte)flags, (ushort)next);

    /// <summary>A whole scenario: header and up to <paramref name="opsMax"/> operations mixing well-formed chains,
    /// hostile descriptors (in the table or an indirect table), publishes, index jumps and device operations
    /// 8..8+<paramref name="deviceOps"/>-1 (the target's own).</summary>
    public static Gen<byte[]> Scenario(int deviceOps = 8, int opsMax = 40)
    {
        if (deviceOps is < 0 or > 8)
            throw new ArgumentOutOfRangeException(nameof(deviceOps), "device ops are codes 8..15");
        Gen<Action<RingScenarioBuilder>> chain = Chain()
            .Select<ChainSpec, Action<RingScenarioBuilder>>(c =>
                b => b.AddChain(c.Outs, c.Ins, c.BufferLength, c.Indirect, c.Table)
            );
        Gen<Action<RingScenarioBuilder>> desc =
            from d in HostileDescriptor()
            from index in Gen.Choose(0, 255)
            from indirectTable in Gen.Elements(false, true)
            select (Action<RingScenarioBuilder>)(
                b =>
                    b.Op(
                        indirectTable ? RingInput.OpWriteIndirectDesc : RingInput.OpWriteDesc,
                        d.AddrKind,
                        d.Addr,
                        d.LenKind,
                        d.Len,
                        d.Flags,
                        d.Next,
                        (byte)index
                    )
            );
        Gen<Action<RingScenarioBuilder>> guest =
            from code in Gen.Choose(RingInput.OpPublish, RingInput.OpGuestIdle)
            from flags in Gen.Choose(0, 7)
            from next in Gen.Choose(0, 0xffff)
            from len in Gen.Choose(int.MinValue, int.MaxValue)
            select (Action<RingScenarioBuilder>)(
                b => b.Op(code, len: Narrow.AsUInt32Bits(len), flags: (byte)flags, next: (ushort)next)
            );
        Gen<Action<RingScenarioBuilder>> device =
            deviceOps == 0
                ? guest
                : from code in Gen.Choose(8, 7 + deviceOps)
                from flags in Gen.Choose(0, 7)
                from index in Gen.Choose(0, 255)
                from len in Gen.Choose(0, 200)
                from next in Gen.Choose(0, 0xffff)
                select (Action<RingScenarioBuilder>)(
                    b => b.Op(code, len: (uint)len, flags: (byte)flags, next: (ushort)next, index: (byte)index)
                );
        Gen<Action<RingScenarioBuilder>> op = Gen.Frequency((4, chain), (2, desc), (2, guest), (5, device));
        return from sizeLog in Gen.Choose(0, RingInput.SizeLogMax)
            from eventIdx in Gen.Elements(false, true)
            from placement in Gen.Frequency((6, Gen.Constant(0)), (1, Gen.Choose(0, 255)))
            from count in Gen.Choose(0, opsMax)
            from ops in op.ArrayOf(count)
            select Build(sizeLog, eventIdx, (byte)placement, ops);
    }

    private static byte[] Build(int sizeLog, bool eventIdx, byte placement, Action<RingScenarioBuilder>[] ops)
    {
        var b = new RingScenarioBuilder(sizeLog, eventIdx, placement: placement);
        foreach (Action<RingScenarioBuilder> op in ops)
            op(b);
        return b.Build();
    }
}
