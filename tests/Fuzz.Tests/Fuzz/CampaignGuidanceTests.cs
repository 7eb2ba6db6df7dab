using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Xunit.Abstractions;

namespace Fuzz.Tests;

/// <summary>The engine on the instrumented magic-bytes toy: coverage guidance finds what blind mutation cannot,
/// and a seed fixes the whole campaign.</summary>
[Collection(CoverageMapCollection.Name)]
public sealed class CampaignGuidanceTests(ITestOutputHelper output)
{
    private const long Runs = 200_000;

    [Fact]
    public void CoverageGuided_FindsMagicBytes_BlindMutationDoesNot()
    {
        using ToyContext toy = ToyContext.Create();
        var options = new CampaignOptions { Seed = 1, RunsMax = Runs };
        output.WriteLine($"seed {options.Seed}, {Runs} runs");

        CampaignResult guided = new FuzzCampaign(
            new MagicTarget(toy.MagicCheck()),
            options,
            new EdgeCoverage("toy")
        ).Run();
        output.WriteLine("guided: " + guided.SummaryLine);
        Finding finding = Assert.Single(guided.Findings);
        output.WriteLine($"found at execution {finding.FirstExecution}, hits {finding.Hits}");
        Assert.Equal(FuzzOracle.Exception, finding.Oracle);
        Assert.Equal("InvalidOperationException@Fuzz.Tests.Toy.MagicBytes.Check", finding.Site);
        Assert.Equal("FUZ!"u8.ToArray(), finding.Input);
        Assert.True(guided.Edges > 0);
        Assert.True(guided.Corpus.Count >= 4, "each matched byte adds a corpus entry");

        CampaignResult blind = new FuzzCampaign(
            new MagicTarget(toy.MagicCheck()),
            options,
            new NullCoverage("test")
        ).Run();
        output.WriteLine("blind: " + blind.SummaryLine);
        Assert.Empty(blind.Findings);
        Assert.Equal(Runs, blind.Executions);
    }

    [Fact]
    public void SameSeedAndRuns_GiveTheSameCorpusAndFindings()
    {
        using ToyContext toy = ToyContext.Create();
        var options = new CampaignOptions { Seed = 77, RunsMax = 30_000 };
        CampaignResult a = new FuzzCampaign(new MagicTarget(toy.MagicCheck()), options, new EdgeCoverage("toy")).Run();
        CampaignResult b = new FuzzCampaign(new MagicTarget(toy.MagicCheck()), options, new EdgeCoverage("toy")).Run();
        output.WriteLine(a.SummaryLine);
        Assert.Equal(a.Executions, b.Executions);
        Assert.Equal(a.Edges, b.Edges);
        Assert.Equal(a.Corpus.Count, b.Corpus.Count);
        for (int i = 0; i < a.Corpus.Count; i++)
            Assert.Equal(a.Corpus[i], b.Corpus[i]);
        Assert.Equal(
            a.Findings.Select(f => (f.Oracle, f.Site, Convert.ToHexString(f.Input), f.FirstExecution, f.Hits)),
            b.Findings.Select(f => (f.Oracle, f.Site, Convert.ToHexString(f.Input), f.FirstExecution, f.Hits))
        );

        CampaignResult c = new FuzzCampaign(
            new MagicTarget(toy.MagicCheck()),
            options with
            {
                Seed = 78,
            },
            new EdgeCoverage("toy")
        ).Run();
        Assert.False(
            c.Corpus.Count == a.Corpus.Count
                && c.Corpus.Zip(a.Corpus).All(p => p.First.AsSpan().SequenceEqual(p.Second)),
            "another seed explores differently"
        );
    }
}
