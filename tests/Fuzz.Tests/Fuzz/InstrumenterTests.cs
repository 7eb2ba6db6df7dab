using System.Reflection;
using System.Runtime.Loader;
using Fuzz.Tests.Toy;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Instrumentation;
using Xunit.Abstractions;

namespace Fuzz.Tests;

[Collection(CoverageMapCollection.Name)]
public sealed class InstrumenterTests(ITestOutputHelper output)
{
    [Fact]
    public void InstrumentedCode_BehavesIdentically()
    {
        using ToyContext toy = ToyContext.Create();
        Func<int, int> classify = toy.Classify();
        foreach (int x in new[] { -3, 0, 1, 2, 5, 100, 101, 1000, int.MinValue })
        {
            Assert.Equal(MagicBytes.Classify(x), classify(x));
        }
        ToyContext.SpanCheck check = toy.MagicCheck();
        Assert.Equal(MagicBytes.Check("FUZZ"u8), check("FUZZ"u8));
        Assert.Equal(MagicBytes.Check("F"u8), check("F"u8));
        Assert.Throws<InvalidOperationException>(() => check("FUZ!"u8));
    }

    [Fact]
    public void DifferentBranches_GiveDifferentEdgeMaps_SameBranchTheSameMap()
    {
        using ToyContext toy = ToyContext.Create();
        Func<int, int> classify = toy.Classify();
        byte[] Map(int x)
        {
            CoverageMap.Reset();
            classify(x);
            return CoverageMap.Edges.ToArray();
        }
        byte[] loop = Map(1000);
        byte[] caught = Map(5);
        byte[] again = Map(1000);
        output.WriteLine($"edges: x=1000 {CoverageTracker.CountEdges(loop)}, x=5 {CoverageTracker.CountEdges(caught)}");
        Assert.True(CoverageTracker.CountEdges(loop) > 0);
        Assert.True(CoverageTracker.CountEdges(caught) > 0);
        Assert.NotEqual(loop, caught);
        Assert.Equal(loop, again);
        // The loop body runs three times: some edge is hit more than once.
        Assert.Contains(loop, b => b >= 3);
    }

    [Fact]
    public void EachMatchedMagicByte_AddsEdges()
    {
        using ToyContext toy = ToyContext.Create();
        ToyContext.SpanCheck check = toy.MagicCheck();
        int Edges(byte[] input)
        {
            CoverageMap.Reset();
            check(input);
            return CoverageTracker.CountEdges(CoverageMap.Edges);
        }
        int[] counts =
        [
            Edges("AAAA"u8.ToArray()),
            Edges("FAAA"u8.ToArray()),
            Edges("FUAA"u8.ToArray()),
            Edges("FUZA"u8.ToArray()),
        ];
        output.WriteLine("edges: " + string.Join(", ", counts));
        for (int i = 1; i < counts.Length; i++)
            Assert.True(counts[i] > counts[i - 1], $"prefix {i} should add edges: {string.Join(", ", counts)}");
    }

    [Fact]
    public void InstrumentedAssembly_IsRecognised_AndItsBlocksAreMapped()
    {
        using ToyContext toy = ToyContext.Create();
        Assert.True(EdgeCoverage.IsInstrumented(toy.Assembly));
        Assert.False(EdgeCoverage.IsInstrumented(typeof(InstrumenterTests).Assembly));
        Assert.True(ToyContext.LastResult.Blocks > 10);
        Assert.Equal(ToyContext.LastResult.Blocks, ToyContext.Blocks.Count);
        Assert.All(ToyContext.Blocks, b => Assert.InRange(b.Id, 0, CoverageMap.Size - 1));
    }

    [Fact]
    public void WholeSimEngine_Instrumented_RunsIdentically_AndRecordsEdges()
    {
        string dir = Directory.CreateTempSubdirectory("virtsim-instr-").FullName;
        try
        {
            string source = typeof(Sim.Engine.Random.Prng).Assembly.Location;
            InstrumentationResult result = SharpFuzzInstrumenter.Instrument(
                source,
                Path.Combine(dir, "Sim.Engine.dll")
            );
            output.WriteLine($"Sim.Engine: {result.Types} types, {result.Blocks} blocks");
            Assert.True(result.Blocks > result.Types);

            var context = new AssemblyLoadContext("sim-engine-instrumented", isCollectible: true);
            try
            {
                Assembly engine = context.LoadFromAssemblyPath(Path.Combine(dir, "Sim.Engine.dll"));
                Type prngType = engine.GetType("Sim.Engine.Random.Prng", true)!;
                object prng = Activator.CreateInstance(prngType, 42UL)!;
                MethodInfo next = prngType.GetMethod("NextUInt64")!;
                MethodInfo lessThan = prngType.GetMethod("UInt64LessThan")!;
                var plain = new Sim.Engine.Random.Prng(42);
                CoverageMap.Reset();
                for (int i = 0; i < 100; i++)
                {
                    Assert.Equal(plain.NextUInt64(), (ulong)next.Invoke(prng, null)!);
                    Assert.Equal(
                        plain.UInt64LessThan(1000 + (ulong)i),
                        (ulong)lessThan.Invoke(prng, [1000 + (ulong)i])!
                    );
                }
                Assert.True(CoverageTracker.CountEdges(CoverageMap.Edges) > 0);

                // An exception path through instrumented code still throws the same exception.
                Type ratio = engine.GetType("Sim.Engine.Random.Ratio", true)!;
                var thrown = Assert.Throws<TargetInvocationException>(() => Activator.CreateInstance(ratio, 2UL, 1UL));
                Assert.IsType<ArgumentOutOfRangeException>(thrown.InnerException);
            }
            finally
            {
                context.Unload();
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BackendAssemblies_Instrumented_JitEveryMethod()
    {
        // Every rewritten method body must still be valid IL: force the JIT over all of them.
        string dir = Directory.CreateTempSubdirectory("virtsim-instr-").FullName;
        string[] names = ["Sim.Engine", "Sim.Machine", "Sim.Spec", "Sim.Devices", "Sim.Guest"];
        var context = new DirectoryContext(dir);
        try
        {
            foreach (string name in names)
            {
                string source = Path.Combine(
                    Path.GetDirectoryName(typeof(InstrumenterTests).Assembly.Location)!,
                    name + ".dll"
                );
                InstrumentationResult r = SharpFuzzInstrumenter.Instrument(source, Path.Combine(dir, name + ".dll"));
                output.WriteLine($"{name}: {r.Types} types, {r.Blocks} blocks");
            }
            int jitted = 0;
            foreach (string name in names)
            {
                Assembly assembly = context.LoadFromAssemblyName(new AssemblyName(name));
                Assert.True(EdgeCoverage.IsInstrumented(assembly));
                foreach (Type type in assembly.GetTypes())
                {
                    if (type.ContainsGenericParameters)
                        continue;
                    foreach (
                        MethodBase m in type.GetMethods(
                                BindingFlags.DeclaredOnly
                                    | BindingFlags.Public
                                    | BindingFlags.NonPublic
                                    | BindingFlags.Instance
                                    | BindingFlags.Static
                            )
                            .Cast<MethodBase>()
                            .Concat(
                                type.GetConstructors(
                                    BindingFlags.DeclaredOnly
                                        | BindingFlags.Public
                                        | BindingFlags.NonPublic
                                        | BindingFlags.Instance
                                        | BindingFlags.Static
                                )
                            )
                    )
                    {
                        if (m.IsAbstract || m.ContainsGenericParameters || m.GetMethodBody() is null)
                            continue;
                        System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod(m.MethodHandle);
                        jitted++;
                    }
                }
            }
            output.WriteLine($"jitted {jitted} instrumented methods");
            Assert.True(jitted > 100);
        }
        finally
        {
            context.Unload();
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class DirectoryContext(string directory)
        : AssemblyLoadContext("instrumented-dir", isCollectible: true)
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            string path = Path.Combine(directory, assemblyName.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }

    [Fact]
    public void AlreadyInstrumented_IsRefused()
    {
        string dir = Directory.CreateTempSubdirectory("virtsim-instr-").FullName;
        try
        {
            string once = Path.Combine(dir, "Sim.Engine.dll");
            SharpFuzzInstrumenter.Instrument(typeof(Sim.Engine.Random.Prng).Assembly.Location, once);
            Assert.Throws<InvalidOperationException>(() =>
                SharpFuzzInstrumenter.Instrument(once, Path.Combine(dir, "again.dll"))
            );
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
