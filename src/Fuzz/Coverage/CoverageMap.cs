using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpFuzz.Common;

namespace Virtsim.Fuzz.Coverage;

/// <summary>
/// The AFL edge map that SharpFuzz-instrumented code writes: at each basic-block entry it runs
/// <c>Trace.SharedMem[id ^ Trace.PrevLocation]++; Trace.PrevLocation = id &gt;&gt; 1</c> (SharpFuzz.Common's
/// <see cref="Trace"/>, a static <c>byte*</c> with no bounds check). The engine owns the memory: a 64 KiB native
/// buffer allocated once per process, which <see cref="Reset"/> points <see cref="Trace.SharedMem"/> back at, so
/// the engine's map is the map even when another copy of this class (another load context) pointed it elsewhere.
/// SharpFuzz.Common loads once, in the default context, so every instrumented assembly shares one <see cref="Trace"/>.
/// Not thread-safe, by design:
/// one execution at a time per process.
/// </summary>
internal static unsafe class CoverageMap
{
    /// <summary>64 KiB, SharpFuzz's (and AFL's) map size: small enough to stay in L2, large enough for few
    /// collisions. SharpFuzz's block ids are 16-bit, so every index it writes is below this.</summary>
    public const int Size = 1 << 16;

    private static readonly byte* Owned = (byte*)NativeMemory.AllocZeroed(Size);

    /// <summary>Instrumented code dereferences <see cref="Trace.SharedMem"/> at every block, and a callback build
    /// calls <see cref="Trace.OnBranch"/>: neither may be null while any runs (SharpFuzz leaves them null until
    /// <c>Fuzzer.Run</c>), so they are set as soon as this assembly loads — before any target, oracle or replay can
    /// reach instrumented code.</summary>
    // a library's module initializer is the point here: it must run before any instrumented code
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void PointTraceAtMap()
    {
        if (Trace.SharedMem == null)
            Trace.SharedMem = Owned;
        Trace.OnBranch ??= static (_, _) => { };
    }
#pragma warning restore CA2255

    /// <summary>Hit counts per edge of the current execution (wrapping, as AFL's classic counters).</summary>
    public static Span<byte> Edges => new(Owned, Size);

    /// <summary>The map instrumented code writes now: <see cref="Edges"/>, or the segment SharpFuzz's libFuzzer
    /// runner pointed <see cref="Trace.SharedMem"/> at (<see cref="RunnerMapCoverage"/>).</summary>
    public static ReadOnlySpan<byte> Current => new(Trace.SharedMem, Size);

    /// <summary>Forgets the previous block, so an execution's first edge does not depend on the last one's end,
    /// without clearing or repointing the map (whoever owns it clears it).</summary>
    public static void ResetPreviousBlock() => Trace.PrevLocation = 0;

    /// <summary>Clears the map and the previous-block state, and makes instrumented code write this map.</summary>
    public static void Reset()
    {
        Trace.SharedMem = Owned;
        Trace.PrevLocation = 0;
        NativeMemory.Clear(Owned, Size);
    }
}
