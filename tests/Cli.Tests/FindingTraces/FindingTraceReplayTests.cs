using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Virtsim.Cli.Tests.Commands;
using Virtsim.Fuzz.Engine;
using Xunit;

namespace Virtsim.Cli.Tests.FindingTraces;

/// <summary><c>virtsim fuzz --findings</c> saves a trace per finding; <c>virtsim replay</c> on the findings directory
/// reproduces each and says which oracle fired where.</summary>
[Collection(TraceMapCollection.Name)]
public sealed class FindingTraceReplayTests
{
    private static string Fuzz(TempDir dir, string target = "demo-pci-qemu-seed")
    {
        string findings = dir.File("findings");
        var (code, output, err) = CliRunner.Run(
            "fuzz",
            "--target",
            target,
            "--runs",
            "300",
            "--seed",
            "1",
            "--no-coverage",
            "--findings",
            findings
        );
        Assert.True(code == 1, $"a finding is expected: {output}{err}");
        return findings;
    }

    [Fact]
    public void ReplayOfFindingsDirectory_ReproducesTheFinding()
    {
        using TempDir dir = CliRunner.TempDir();
        string findings = Fuzz(dir);
        string trace = Directory.GetFiles(findings, FindingTrace.FileName, SearchOption.AllDirectories).Single();
        string summary = File.ReadAllText(Path.Combine(Path.GetDirectoryName(trace)!, "summary.txt"));
        Assert.Contains("replay: virtsim replay " + trace, summary, StringComparison.Ordinal);

        var (code, output, _) = CliRunner.Run("replay", findings);
        Assert.Equal(0, code);
        Assert.Contains(
            "finding reproduced: oracle model at site demo-pci/mmio-read",
            output,
            StringComparison.Ordinal
        );
        Assert.Contains("1 ok, 0 diverged", output, StringComparison.Ordinal);
    }

    [Fact]
    public void TamperedFindingTrace_Diverges()
    {
        using TempDir dir = CliRunner.TempDir();
        string trace = Directory.GetFiles(Fuzz(dir), FindingTrace.FileName, SearchOption.AllDirectories).Single();
        File.WriteAllBytes(trace, Rewrite(File.ReadAllBytes(trace), null, flipFirstData: true));
        var (code, output, _) = CliRunner.Run("replay", trace);
        Assert.Equal(1, code);
        Assert.Contains("DIVERGED", output, StringComparison.Ordinal);
    }

    [Fact]
    public void FindingTraceOfUnknownTarget_IsAnInputError()
    {
        using TempDir dir = CliRunner.TempDir();
        string trace = Directory.GetFiles(Fuzz(dir), FindingTrace.FileName, SearchOption.AllDirectories).Single();
        File.WriteAllBytes(
            trace,
            Rewrite(File.ReadAllBytes(trace), o => o[FindingTrace.OptionTarget] = "gone", flipFirstData: false)
        );
        var (code, output, _) = CliRunner.Run("replay", trace);
        Assert.Equal(2, code);
        Assert.Contains("unknown fuzz target 'gone'", output, StringComparison.Ordinal);
    }

    /// <summary>Re-encodes a trace (valid footer) with changed options or the first event's first data byte
    /// flipped.</summary>
    private static byte[] Rewrite(byte[] trace, Action<SortedDictionary<string, string>>? options, bool flipFirstData)
    {
        using var input = new MemoryStream(trace);
        Assert.True(TraceReader.TryOpen(input, out TraceReader? reader, out TraceError? error), error?.Message);
        using (reader)
        {
            Assert.True(reader.TryCreateMemory(out GuestMemory? memory, out error), error?.Message);
            Assert.True(reader.TryReadInitialMemory(memory, out error), error?.Message);
            TraceHeader h = reader.Header;
            var changed = new SortedDictionary<string, string>(h.Options, StringComparer.Ordinal);
            options?.Invoke(changed);
            var header = new TraceHeader
            {
                VirtsimVersion = h.VirtsimVersion,
                GitCommit = h.GitCommit,
                Seed = h.Seed,
                Scenario = h.Scenario,
                Options = changed,
                Origin = h.Origin,
                MemoryLayout = h.MemoryLayout,
            };
            using var output = new MemoryStream();
            using (var writer = new TraceWriter(output, header, memory, leaveOpen: true))
            {
                bool flipped = !flipFirstData;
                while (reader.TryReadNext(out TraceEvent ev, out error))
                {
                    byte[] data = ev.Data.ToArray();
                    if (!flipped && data.Length > 0)
                    {
                        data[0] ^= 1;
                        flipped = true;
                    }
                    writer.Write(new TraceEvent(ev.Kind, ev.Time, ev.Source, ev.Address, ev.Value, data));
                }
                Assert.True(reader.IsComplete);
                writer.Complete(reader.Footer.MemoryHash, reader.Footer.EndTime);
            }
            return output.ToArray();
        }
    }
}
