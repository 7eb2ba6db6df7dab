using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests;

public sealed class CorpusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-corpus-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Load_ReadsAllFilesInNameOrder_SkipsUnreadableWithAWarning()
    {
        File.WriteAllBytes(Path.Combine(_dir, "b"), [2]);
        File.WriteAllBytes(Path.Combine(_dir, "a"), [1]);
        File.CreateSymbolicLink(Path.Combine(_dir, "c-dangling"), Path.Combine(_dir, "does-not-exist"));
        var warnings = new StringWriter();
        List<byte[]> inputs = CorpusDirectory.Load(_dir, 16, warnings);
        Assert.Equal(
            [
                [1],
                [2],
            ],
            inputs
        );
        Assert.Contains("c-dangling", warnings.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SkipsAFifoWithAWarning_InsteadOfBlockingOnIt()
    {
        File.WriteAllBytes(Path.Combine(_dir, "a"), [1]);
        string fifo = Path.Combine(_dir, "b-fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            mkfifo.WaitForExit();
            Assert.True(mkfifo.ExitCode == 0, "mkfifo failed");
        }
        var warnings = new StringWriter();
        List<byte[]> inputs = await Task.Run(() => CorpusDirectory.Load(_dir, 16, warnings))
            .WaitAsync(TimeSpan.FromSeconds(30)); // a TimeoutException here means Load blocked on the FIFO
        Assert.Equal(
            [
                [1],
            ],
            inputs
        );
        Assert.Contains("b-fifo is not a regular file", warnings.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_TruncatesALongFileToTheInputLengthMax_WithAWarning()
    {
        File.WriteAllBytes(Path.Combine(_dir, "long"), Enumerable.Range(0, 100).Select(i => (byte)i).ToArray());
        var warnings = new StringWriter();
        List<byte[]> inputs = CorpusDirectory.Load(_dir, 16, warnings);
        Assert.Equal([Enumerable.Range(0, 16).Select(i => (byte)i).ToArray()], inputs);
        Assert.Contains("has 100 bytes; using the first 16", warnings.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Campaign_AddsNewInputsByContentHash_NeverDeletesUserFiles()
    {
        File.WriteAllBytes(Path.Combine(_dir, "user-seed"), [7, 7]);
        var target = new ScriptedTarget((_, _) => FuzzOutcome.Completed, [1, 2, 3]);
        CampaignResult r = new FuzzCampaign(
            target,
            new CampaignOptions
            {
                Seed = 1,
                RunsMax = 50,
                CorpusDirectory = _dir,
            },
            new NullCoverage("test")
        ).Run();
        Assert.Equal(2, r.Corpus.Count);
        string[] names = Directory.GetFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Contains("user-seed", names);
        Assert.Contains(CorpusDirectory.ContentName([1, 2, 3]), names);
        Assert.DoesNotContain(CorpusDirectory.ContentName([7, 7]), names);
        Assert.Equal([7, 7], File.ReadAllBytes(Path.Combine(_dir, "user-seed")));
        Assert.Empty(Directory.GetFileSystemEntries(_dir, ".*"));
    }

    [Fact]
    public void Save_DoesNotReplaceAnExistingFile()
    {
        string name = CorpusDirectory.ContentName([5]);
        File.WriteAllBytes(Path.Combine(_dir, name), [9, 9, 9]);
        Assert.Null(CorpusDirectory.Save(_dir, [5]));
        Assert.Equal([9, 9, 9], File.ReadAllBytes(Path.Combine(_dir, name)));
        Assert.NotNull(CorpusDirectory.Save(_dir, [6]));
    }

    [Fact]
    public void ContentName_IsStable()
    {
        Assert.Equal(CorpusDirectory.ContentName([1, 2, 3]), CorpusDirectory.ContentName([1, 2, 3]));
        Assert.NotEqual(CorpusDirectory.ContentName([1, 2, 3]), CorpusDirectory.ContentName([1, 2, 4]));
        Assert.Matches("^[0-9a-f]{16}$", CorpusDirectory.ContentName([]));
    }
}
