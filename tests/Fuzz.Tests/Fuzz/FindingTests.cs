using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests;

public sealed class FindingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-findings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Throws a different exception type depending on the first byte's parity: two sites.</summary>
    private static ScriptedTarget TwoBugs() =>
        new(
            (d, _) =>
            {
                if (d.Length == 0)
                    return FuzzOutcome.Completed;
                if (d[0] % 2 == 0)
                    throw new InvalidOperationException($"even {d[0]}");
                throw new NotSupportedException($"odd {d[0]}");
            },
            [1, 2, 3]
        );

    [Fact]
    public void Findings_AreDeduplicatedByOracleAndSite()
    {
        var options = new CampaignOptions
        {
            Seed = 5,
            RunsMax = 2000,
            FindingsDirectory = _dir,
        };
        CampaignResult r = new FuzzCampaign(TwoBugs(), options, new NullCoverage("test")).Run();
        Assert.Equal(2, r.Findings.Count);
        Assert.Equal(
            ["InvalidOperationException", "NotSupportedException"],
            r.Findings.Select(f => f.Site.Split('@')[0]).Order(StringComparer.Ordinal)
        );
        Assert.True(r.Findings.Sum(f => f.Hits) > 1000, "most mutants of a crashing seed crash too");
        string[] dirs = Directory
            .GetDirectories(_dir)
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal)
            .ToArray()!;
        Assert.Equal(r.Findings.Select(f => f.DirectoryName).Order(StringComparer.Ordinal), dirs);
        Assert.All(dirs, d => Assert.StartsWith("exception-", d, StringComparison.Ordinal));
    }

    [Fact]
    public void SavedFinding_HasInputAndSummaryWithReproduceCommand()
    {
        var options = new CampaignOptions
        {
            Seed = 5,
            RunsMax = 100,
            FindingsDirectory = _dir,
        };
        CampaignResult r = new FuzzCampaign(TwoBugs(), options, new NullCoverage("test")).Run();
        Finding f = r.Findings[0];
        Assert.NotNull(f.SavedDirectory);
        byte[] saved = File.ReadAllBytes(Path.Combine(f.SavedDirectory, FindingWriter.InputFileName));
        Assert.Equal(f.Input, saved);
        Assert.Single(saved);
        string summary = File.ReadAllText(Path.Combine(f.SavedDirectory, FindingWriter.SummaryFileName));
        Assert.Contains("oracle: exception", summary, StringComparison.Ordinal);
        Assert.Contains("site: " + f.Site, summary, StringComparison.Ordinal);
        Assert.Contains(
            "virtsim fuzz reproduce --target toy-scripted " + Path.Combine(f.SavedDirectory, "input.bin"),
            summary,
            StringComparison.Ordinal
        );
        Assert.Contains("stack:", summary, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir, ".*"));
    }

    [Fact]
    public void ExistingFindingDirectory_IsNeverOverwritten()
    {
        // Pre-create the directories of both findings, holding a user file.
        CampaignResult first = new FuzzCampaign(
            TwoBugs(),
            new CampaignOptions { Seed = 5, RunsMax = 100 },
            new NullCoverage("test")
        ).Run();
        foreach (Finding f in first.Findings)
        {
            string d = Path.Combine(_dir, f.DirectoryName);
            Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(d, "notes.txt"), "mine");
        }

        CampaignResult second = new FuzzCampaign(
            TwoBugs(),
            new CampaignOptions
            {
                Seed = 5,
                RunsMax = 100,
                FindingsDirectory = _dir,
            },
            new NullCoverage("test")
        ).Run();
        Assert.All(second.Findings, f => Assert.Null(f.SavedDirectory));
        foreach (Finding f in first.Findings)
        {
            string d = Path.Combine(_dir, f.DirectoryName);
            Assert.Equal(["notes.txt"], Directory.GetFiles(d).Select(Path.GetFileName));
            Assert.Equal("mine", File.ReadAllText(Path.Combine(d, "notes.txt")));
        }
    }

    [Fact]
    public void Minimiser_RemovesChunks()
    {
        byte[] bloated = new byte[300];
        for (int i = 0; i < bloated.Length; i++)
            bloated[i] = (byte)(i * 7 + 1);
        bloated[211] = 0x42;
        bloated[17] = 0x43;
        byte[] min = FindingMinimizer.Minimize(bloated, c => c.Contains((byte)0x42), null, 10_000, out int execs);
        Assert.Equal([0x42], min);
        Assert.True(execs < 2000, $"{execs} executions");
    }

    [Fact]
    public void Minimiser_SimplifiesValues()
    {
        byte[] input = [9, 8, 0x42, 7, 6, 5];
        byte[] min = FindingMinimizer.Minimize(input, c => c.Length >= 3 && c[2] == 0x42, null, 10_000, out _);
        Assert.Equal([0, 0, 0x42], min);
    }

    [Fact]
    public void Minimiser_UsesTypedCandidatesFirst_AndRespectsItsBudget()
    {
        // Typed hook: "drop the last two-byte operation" — a step the byte-level passes would also find, so we
        // check it is asked and its result kept.
        var typed = new DropLastPair();
        byte[] min = FindingMinimizer.Minimize(
            [1, 1, 2, 2, 3, 3],
            c => c.Length >= 2 && c[0] == 1,
            typed,
            10_000,
            out _
        );
        Assert.True(typed.Calls > 0);
        Assert.Equal([1, 0], min);

        byte[] capped = FindingMinimizer.Minimize(new byte[1000], c => c.Length >= 10, null, 3, out int spent);
        Assert.Equal(3, spent);
        Assert.True(capped.Length < 1000 && capped.Length >= 10);
    }

    /// <summary>A finding whose reproducing runs are costly (a real-QEMU hang: each waits out the answer bound) is
    /// minimised with at most the target's bound of reproducing runs; the runs that do not reproduce it (cheap) are
    /// bounded by the execution budget only.</summary>
    [Fact]
    public void Minimiser_BoundsTheRunsThatFire()
    {
        int fired = 0;
        byte[] min = FindingMinimizer.Minimize(
            new byte[1000],
            c =>
            {
                bool fires = c.Length >= 10;
                fired += fires ? 1 : 0;
                return fires;
            },
            null,
            10_000,
            out int spent,
            firingMax: 4
        );
        Assert.Equal(4, fired);
        Assert.True(spent >= 4 && min.Length < 1000, $"{spent} runs, {min.Length} bytes");
    }

    [Fact]
    public void Campaign_MinimisesBeforeSaving()
    {
        var target = new ScriptedTarget(
            (d, _) => d.Contains((byte)0x42) ? throw new InvalidOperationException("0x42") : FuzzOutcome.Completed,
            [.. Enumerable.Range(0, 64).Select(i => (byte)(i == 40 ? 0x42 : 1))]
        );
        CampaignResult r = new FuzzCampaign(
            target,
            new CampaignOptions { Seed = 3, RunsMax = 10 },
            new NullCoverage("test")
        ).Run();
        Finding f = Assert.Single(r.Findings);
        Assert.Equal(64, f.OriginalLength);
        Assert.Equal([0x42], f.Input);
        Assert.True(r.MinimizeExecutions > 0);
    }

    private sealed class DropLastPair : IInputMinimizer
    {
        public int Calls { get; private set; }

        public IEnumerable<byte[]> Candidates(byte[] input)
        {
            Calls++;
            if (input.Length >= 2)
                yield return input[..^2];
        }
    }
}
