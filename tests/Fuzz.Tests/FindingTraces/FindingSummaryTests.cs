using Sim.Engine.Trace;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests.FindingTraces;

/// <summary>The summary of a saved finding: decoded operations (what the target narrates), the trace, the
/// rule.</summary>
public sealed class FindingSummaryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-finding-summary-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Summary_HasDecodedOperations_ReplayCommand_AndRule()
    {
        var target = new ScriptedTarget(
            (d, context) =>
            {
                foreach (byte b in d)
                    context.Log?.WriteLine($"op {b}");
                context.Emit(TraceEventKind.MmioWrite, 0, 0x10, 1, d);
                if (d.Length > 0 && d[0] == 3)
                    context.Report("model", "toy/three", "three is not allowed");
                return FuzzOutcome.Completed;
            },
            [1, 2, 3]
        );
        var options = new CampaignOptions
        {
            Seed = 3,
            RunsMax = 50,
            FindingsDirectory = _dir,
        };
        CampaignResult result = new FuzzCampaign(target, options, new NullCoverage("test")).Run();
        Finding f = Assert.Single(result.Findings);
        string summary = File.ReadAllText(Path.Combine(f.SavedDirectory!, FindingWriter.SummaryFileName));
        Assert.Contains("decoded operations:\n  op 3\n", summary.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("rule: " + OracleRules.Describe("model", "toy/three"), summary, StringComparison.Ordinal);
        Assert.Contains(
            "replay: virtsim replay " + Path.Combine(f.SavedDirectory!, FindingTrace.FileName),
            summary,
            StringComparison.Ordinal
        );
        Assert.Contains("guest MMIO write of 1 bytes at 0x10: 03", summary, StringComparison.Ordinal);
        byte[] trace = File.ReadAllBytes(Path.Combine(f.SavedDirectory!, FindingTrace.FileName));
        using var stream = new MemoryStream(trace);
        Assert.True(TraceReader.TryOpen(stream, out TraceReader? reader, out _));
        using (reader)
        {
            Assert.Equal("fuzz/toy-scripted", reader.Header.Scenario);
            Assert.Equal("03", reader.Header.Options[FindingTrace.OptionInput]);
            Assert.Equal("model", reader.Header.Options[FindingTrace.OptionOracle]);
            Assert.Equal("toy/three", reader.Header.Options[FindingTrace.OptionSite]);
            // An unregistered target cannot be rebuilt by replay: an error, not a divergence.
            Assert.Equal(FindingTraceVerdict.Error, FindingTrace.Replay(reader).Verdict);
        }
    }
}
