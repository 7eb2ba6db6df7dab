using Sim.Spec.Virtio;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Instrumentation;
using Virtsim.Fuzz.Workers;
using Xunit.Abstractions;

namespace Fuzz.Tests;

/// <summary>
/// The probe → IL → source-line mapping behind <c>fuzz report</c>'s source coverage, on the toy (MagicBytes.cs,
/// whose line numbers these tests name): run <c>Check("FUAA")</c> on the SharpFuzz-instrumented toy, work out which
/// blocks ran from the edge map (the toy is small enough that every edge index names one predecessor/successor pair
/// of its blocks), and check the lines the block map gives them.
/// </summary>
[Collection(CoverageMapCollection.Name)]
public sealed class BlockMapTests(ITestOutputHelper output)
{
    [Fact]
    public void CheckFUAA_HitsTheLinesItRan_AndMissesTheOthers()
    {
        using ToyContext toy = ToyContext.Create();
        ToyContext.SpanCheck check = toy.MagicCheck();
        CoverageMap.Reset();
        Assert.Equal(2, check("FUAA"u8));
        HashSet<(int, string)> reached = ReachedBlocks(CoverageMap.Edges);

        FileCoverage file = Assert.Single(SourceCoverage.FromBlocks(ToyContext.Blocks, reached));
        Assert.EndsWith("MagicBytes.cs", file.Document, StringComparison.Ordinal);
        output.WriteLine(string.Join(" ", file.Lines.OrderBy(l => l.Key).Select(l => $"{l.Key}:{l.Value}")));
        // Check(): `if (data.Length < 4) return 0;` ran its test but not its return: partly hit.
        Assert.Equal(LineState.Partial, file.Lines[10]);
        Assert.Equal(LineState.Hit, file.Lines[11]); // data[0] == 'F'
        Assert.Equal(LineState.Hit, file.Lines[13]); // data[1] == 'U'
        Assert.Equal(LineState.Hit, file.Lines[15]); // data[2] == 'Z' (false)
        Assert.Equal(LineState.Hit, file.Lines[20]); // return 2
        Assert.Equal(LineState.Missed, file.Lines[17]); // the throw behind data[3] == '!'
        Assert.Equal(LineState.Missed, file.Lines[18]); // return 3
        Assert.Equal(LineState.Missed, file.Lines[22]); // return 1
        Assert.Equal(LineState.Missed, file.Lines[24]); // return 0
        // Classify() never ran: all its lines with code are missed; comment and brace-only lines carry no state.
        Assert.Equal(LineState.Missed, file.Lines[31]);
        Assert.Equal(LineState.Missed, file.Lines[50]);
        Assert.False(file.Lines.ContainsKey(27));
    }

    [Fact]
    public void EveryToyBlock_HasItsSourceLines_AndTheSideFileRoundTrips()
    {
        using ToyContext toy = ToyContext.Create();
        // Blocks the compiler gave no visible sequence point (switch-expression arms in Release) have no lines.
        Assert.All(ToyContext.Blocks, b =>
            Assert.True(
                b.Document is null
                    ? b.Lines.Count == 0
                    : b.Document.EndsWith("MagicBytes.cs", StringComparison.Ordinal) && b.Lines.Count > 0
            )
        );
        Assert.True(ToyContext.Blocks.Count(b => b.Document is not null) > ToyContext.Blocks.Count * 3 / 4);
        Assert.Contains(ToyContext.Blocks, b => b.Lines.Contains(17));
        string path = Path.GetTempFileName();
        try
        {
            BlockMap.Write(path, ToyContext.Blocks);
            IReadOnlyList<BlockSite> back = BlockMap.Read(path);
            Assert.Equal(ToyContext.Blocks.Count, back.Count);
            for (int i = 0; i < back.Count; i++)
            {
                Assert.Equal(ToyContext.Blocks[i] with { Lines = [] }, back[i] with { Lines = [] });
                Assert.Equal(ToyContext.Blocks[i].Lines, back[i].Lines);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AnInstrumentedAssembly_PairedWithTheWrongOriginal_IsRefused()
    {
        string dir = Directory.CreateTempSubdirectory("virtsim-blockmap-").FullName;
        try
        {
            string engine = typeof(Sim.Engine.Random.Prng).Assembly.Location;
            string instrumented = Path.Combine(dir, "Sim.Engine.dll");
            SharpFuzzInstrumenter.Instrument(engine, instrumented);
            Assert.NotEmpty(BlockMap.Build(engine, instrumented));
            Assert.Throws<InvalidOperationException>(() =>
                BlockMap.Build(typeof(BlockMapTests).Assembly.Location, instrumented)
            );
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Scope_LeavesOutTypesWithoutControlFlow()
    {
        string devices = typeof(Sim.Devices.Virtio.Queue.SplitQueue).Assembly.Location;
        Func<string, bool> include = InstrumentationScope.For(devices);
        Assert.True(include(typeof(Sim.Devices.Virtio.Queue.SplitQueue).FullName!));
        // RingIndex (ring arithmetic, no branches of its own) lives in Sim.Spec, which the targets instrument too.
        Func<string, bool> includeSpec = InstrumentationScope.For(typeof(Sim.Spec.Virtio.RingIndex).Assembly.Location);
        Assert.False(includeSpec(typeof(Sim.Spec.Virtio.RingIndex).FullName!));
    }

    /// <summary>The blocks of <c>Check</c> the last run reached, followed from the entry: a block b follows a
    /// reached block p (or the start, right after <see cref="CoverageMap.Reset"/>: 0) when the map holds
    /// <c>b ^ (p &gt;&gt; 1)</c>. Check calls no other instrumented code, so its path is a chain of its own
    /// blocks.</summary>
    private static HashSet<(int, string)> ReachedBlocks(ReadOnlySpan<byte> map)
    {
        BlockSite[] blocks = ToyContext
            .Blocks.Where(b => b.Method.Contains("::Check(", StringComparison.Ordinal))
            .ToArray();
        var reached = new HashSet<(int, string)>();
        var frontier = new Queue<int>([0]);
        var seen = new HashSet<int>();
        while (frontier.TryDequeue(out int previous))
        {
            foreach (BlockSite b in blocks)
            {
                if (map[b.Id ^ previous] != 0 && reached.Add((b.Id, b.Method)) && seen.Add(b.Id))
                    frontier.Enqueue(b.Id >> 1);
            }
        }
        return reached;
    }
}
