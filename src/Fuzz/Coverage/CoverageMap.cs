namespace Fuzz.Coverage;

/// <summary>
/// The AFL edge map written by instrumented code (<see cref="Instrumentation.EdgeInstrumenter"/>): at each
/// basic-block entry, <c>Edges[cur ^ Previous]++; Previous = cur &gt;&gt; 1</c> with <c>cur</c> a compile-time
/// block id below <see cref="Size"/>. Lives in Virtsim.Fuzz so every instrumented assembly loaded beside it
/// shares one map. Public static fields because instrumented IL addresses them directly. Not thread-safe, by
/// design: one execution at a time per load context.
/// </summary>
public static class CoverageMap
{
    /// <summary>64 KiB, as AFL: small enough to stay in L2, large enough for few collisions.</summary>
    public const int Size = 1 << 16;

    /// <summary>Hit counts per edge (wrapping, as AFL's classic counters).</summary>
    public static readonly byte[] Edges = new byte[Size];

    /// <summary>The previous block's id shifted right by one (so A→B and B→A differ, and A→A is not 0).</summary>
    public static int Previous;

    public static void Reset()
    {
        Array.Clear(Edges);
        Previous = 0;
    }
}
