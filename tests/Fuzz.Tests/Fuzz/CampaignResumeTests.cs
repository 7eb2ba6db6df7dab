using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests;

/// <summary>A campaign restarted on the same corpus and findings directories: it says what it resumed from, reports
/// the old findings as known rather than new, removes what a killed campaign left behind, and never loses a finding
/// it cannot save.</summary>
public sealed class CampaignResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-resume-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Corpus => Path.Combine(_dir, "corpus");

    private string Findings => Path.Combine(_dir, "findings");

    /// <summary>Crashes on a first byte of 0xAA, with a message naming the input's length (so a minimised input's
    /// message differs from the original's); any other input completes.</summary>
    private static ScriptedTarget LengthBug() =>
        new(
            (d, _) =>
            {
                if (d.Length > 0 && d[0] == 0xAA)
                    throw new InvalidOperationException($"crash on a {d.Length}-byte input");
                return FuzzOutcome.Completed;
            },
            [0xAA, 1, 2, 3, 4, 5, 6, 7],
            [1, 2, 3]
        );

    private (CampaignResult Result, string Log) Campaign(long runs = 200)
    {
        var log = new StringWriter();
        var options = new CampaignOptions
        {
            Seed = 9,
            RunsMax = runs,
            CorpusDirectory = Corpus,
            FindingsDirectory = Findings,
        };
        CampaignResult r = new FuzzCampaign(LengthBug(), options, new NullCoverage("test")) { Log = log }.Run();
        return (r, log.ToString());
    }

    [Fact]
    public void Summary_MessageDescribesTheSavedMinimisedInput()
    {
        (CampaignResult r, string log) = Campaign();
        Finding f = Assert.Single(r.Findings);
        Assert.Equal([0xAA], f.Input);
        Assert.Equal(8, f.OriginalLength);
        Assert.Equal("crash on a 1-byte input", f.Message);
        string summary = File.ReadAllText(Path.Combine(f.SavedDirectory!, FindingWriter.SummaryFileName));
        Assert.Contains("message: crash on a 1-byte input", summary, StringComparison.Ordinal);
        Assert.DoesNotContain("8-byte", summary, StringComparison.Ordinal);
        Assert.Contains("crash on a 1-byte input [1 bytes, from 8]", log, StringComparison.Ordinal);
    }

    [Fact]
    public void Restart_SaysWhatItResumed_AndReportsOldFindingsAsKnown()
    {
        (CampaignResult first, string firstLog) = Campaign();
        Assert.DoesNotContain("resuming:", firstLog, StringComparison.Ordinal);
        Assert.Contains("new finding #1", firstLog, StringComparison.Ordinal);
        int corpusFiles = Directory.GetFiles(Corpus).Length;
        Assert.True(corpusFiles > 0);
        string saved = first.Findings[0].SavedDirectory!;
        byte[] savedInput = File.ReadAllBytes(Path.Combine(saved, FindingWriter.InputFileName));

        (CampaignResult second, string log) = Campaign();
        Assert.Contains($"resuming: {corpusFiles} corpus entries, 1 findings loaded", log, StringComparison.Ordinal);
        Assert.DoesNotContain("new finding", log, StringComparison.Ordinal);
        Assert.Contains($"known finding at execution", log, StringComparison.Ordinal);
        Assert.Contains($"saved earlier in {saved}", log, StringComparison.Ordinal);
        Finding f = Assert.Single(second.Findings);
        Assert.Null(f.SavedDirectory);
        Assert.Equal(saved, f.EarlierDirectory);
        Assert.Contains(second.SummaryLines(), l => l.StartsWith("known finding: exception", StringComparison.Ordinal));
        Assert.Equal(savedInput, File.ReadAllBytes(Path.Combine(saved, FindingWriter.InputFileName)));
    }

    /// <summary>Issue 13: one rule for a known finding. A finding whose directory another process (a worker of the
    /// same target) saved after this run started is known too: not minimised, not saved again, reported as saved
    /// earlier (it used to be reported new and then "not saved: appeared during the campaign").</summary>
    [Fact]
    public void AFindingSavedByAnotherProcessDuringTheRun_IsKnown()
    {
        string? other = null;
        var target = new ScriptedTarget(
            (d, _) =>
            {
                if (d.Length > 0 && d[0] == 0xAA)
                {
                    if (other is not null)
                    {
                        // Another worker saves the same finding just before this one fires.
                        Directory.CreateDirectory(other);
                        File.WriteAllText(Path.Combine(other, "notes.txt"), "the other worker's");
                    }
                    throw new InvalidOperationException($"crash on a {d.Length}-byte input");
                }
                return FuzzOutcome.Completed;
            },
            [0xAA, 1, 2, 3, 4, 5, 6, 7],
            [1, 2, 3]
        );
        // The directory the finding is saved to (its name hashes the target, the site and the shape).
        CampaignResult first = new FuzzCampaign(
            target,
            new CampaignOptions { Seed = 9, RunsMax = 50 },
            new NullCoverage("test")
        ).Run();
        other = Path.Combine(Findings, first.Findings[0].DirectoryName);
        var log = new StringWriter();
        var options = new CampaignOptions
        {
            Seed = 9,
            RunsMax = 200,
            CorpusDirectory = Corpus,
            FindingsDirectory = Findings,
        };
        CampaignResult r = new FuzzCampaign(target, options, new NullCoverage("test")) { Log = log }.Run();
        Assert.DoesNotContain("resuming:", log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("new finding", log.ToString(), StringComparison.Ordinal);
        Assert.Contains($"saved earlier in {other}", log.ToString(), StringComparison.Ordinal);
        Finding f = Assert.Single(r.Findings);
        Assert.Equal(other, f.EarlierDirectory);
        Assert.Null(f.SavedDirectory);
        Assert.Equal(8, f.Input.Length); // not minimised
        Assert.Equal(["notes.txt"], Directory.GetFiles(other).Select(Path.GetFileName));
    }

    /// <summary>Issue 13: the resume line counts this target's saved findings, not every folder of the findings
    /// directory (a real-QEMU campaign keeps its reproducers in &lt;findings&gt;/qemu-reproducers).</summary>
    [Fact]
    public void Restart_CountsSavedFindings_NotOtherFolders()
    {
        Campaign();
        string reproducer = Path.Combine(Findings, "qemu-reproducers", "0123456789abcdef");
        Directory.CreateDirectory(reproducer);
        File.WriteAllText(Path.Combine(reproducer, "run.sh"), "#!/bin/sh\n");
        (_, string log) = Campaign();
        Assert.Contains(", 1 findings loaded", log, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_RemovesTemporariesOfDeadProcesses_KeepsEverythingElse()
    {
        Directory.CreateDirectory(Corpus);
        Directory.CreateDirectory(Findings);
        // A pid above the kernel's pid_max (4194304) cannot be running.
        string staleFile = Path.Combine(Corpus, ".0123456789abcdef.tmp-99999999-1");
        string staleDir = Path.Combine(Findings, ".exception-0123456789abcdef.tmp-99999999-2");
        string live = Path.Combine(Corpus, $".fedcba9876543210.tmp-{Environment.ProcessId}-7");
        string users = Path.Combine(Corpus, ".my-notes.tmp");
        File.WriteAllBytes(staleFile, [1]);
        Directory.CreateDirectory(staleDir);
        File.WriteAllBytes(Path.Combine(staleDir, "input.bin"), [1]);
        File.WriteAllBytes(live, [2]);
        File.WriteAllBytes(users, [3]);

        (_, string log) = Campaign(runs: 20);
        Assert.False(File.Exists(staleFile));
        Assert.False(Directory.Exists(staleDir));
        Assert.True(File.Exists(live), "a running process's temporary file is in flight");
        Assert.True(File.Exists(users), "not a name of ours");
        Assert.Contains(
            $"removed 1 temporary file(s) a killed campaign left in {Corpus}",
            log,
            StringComparison.Ordinal
        );
        Assert.Contains(
            $"removed 1 temporary file(s) a killed campaign left in {Findings}",
            log,
            StringComparison.Ordinal
        );
        File.Delete(live);
    }

    [Fact]
    public void AFindingThatCannotBeSaved_IsLoggedWithItsInput()
    {
        File.WriteAllText(Path.Combine(_dir, "plain-file"), "not a directory");
        var log = new StringWriter();
        var options = new CampaignOptions
        {
            Seed = 9,
            RunsMax = 50,
            FindingsDirectory = Path.Combine(_dir, "plain-file", "findings"),
        };
        CampaignResult r = new FuzzCampaign(LengthBug(), options, new NullCoverage("test")) { Log = log }.Run();
        Assert.Single(r.Findings);
        Assert.Contains("NOT SAVED", log.ToString(), StringComparison.Ordinal);
        Assert.Contains("input hex aa", log.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(".abc.tmp-12-3", true, 12)]
    [InlineData(".exception-00ff.tmp-4194305-17", true, 4194305)]
    [InlineData("abc.tmp-12-3", false, 0)]
    [InlineData(".abc.tmp-12", false, 0)]
    [InlineData(".abc.tmp-x-3", false, 0)]
    [InlineData(".abc.tmp", false, 0)]
    public void TempOwner_ParsesOnlyOurNames(string name, bool ours, int pid)
    {
        Assert.Equal(ours, AtomicFile.TryParseTempOwner(name, out int parsed));
        Assert.Equal(pid, parsed);
    }
}
