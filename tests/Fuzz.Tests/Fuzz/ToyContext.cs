using System.Reflection;
using System.Runtime.Loader;
using Virtsim.Fuzz.Instrumentation;

namespace Fuzz.Tests;

/// <summary>Instruments (SharpFuzz) the <c>Fuzz.Tests.Toy</c> namespace of a copy of this test assembly and loads
/// it in its own collectible context. Its reference to SharpFuzz.Common resolves to the default context, so the toy
/// writes the very map <see cref="global::Virtsim.Fuzz.Coverage.CoverageMap"/> owns and the tests read.</summary>
internal sealed class ToyContext : AssemblyLoadContext, IDisposable
{
    private static readonly Lazy<byte[]> InstrumentedImage = new(Build);

    private ToyContext()
        : base("toy-instrumented", isCollectible: true)
    {
        using var stream = new MemoryStream(InstrumentedImage.Value);
        Assembly = LoadFromStream(stream);
    }

    public delegate int SpanCheck(ReadOnlySpan<byte> data);

    public Assembly Assembly { get; }

    public static InstrumentationResult LastResult { get; private set; }

    /// <summary>The block map written beside the instrumented toy.</summary>
    public static IReadOnlyList<BlockSite> Blocks { get; private set; } = [];

    public static ToyContext Create() => new();

    public SpanCheck MagicCheck() =>
        Assembly.GetType("Fuzz.Tests.Toy.MagicBytes", true)!.GetMethod("Check")!.CreateDelegate<SpanCheck>();

    public Func<int, int> Classify() =>
        Assembly.GetType("Fuzz.Tests.Toy.MagicBytes", true)!.GetMethod("Classify")!.CreateDelegate<Func<int, int>>();

    protected override Assembly? Load(AssemblyName assemblyName) => null;

    public void Dispose() => Unload();

    private static byte[] Build()
    {
        string source = typeof(ToyContext).Assembly.Location;
        string dir = Directory.CreateTempSubdirectory("virtsim-toy-").FullName;
        try
        {
            string output = Path.Combine(dir, Path.GetFileName(source));
            LastResult = SharpFuzzInstrumenter.Instrument(source, output, type =>
                type.StartsWith("Fuzz.Tests.Toy.", StringComparison.Ordinal)
            );
            Blocks = BlockMap.Read(output + BlockMap.FileSuffix);
            return File.ReadAllBytes(output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
