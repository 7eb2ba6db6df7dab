using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests;

/// <summary>
/// Issue 12 item 6: findings are keyed by target and by the input shape that reached the site, so distinct causes
/// ending at one oracle and site stay distinct, and a findings directory shared by targets keeps every target's.
/// </summary>
public sealed class FindingKeyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-findingkeys-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(0UL, 0)]
    [InlineData(1UL, 1)]
    [InlineData(7UL, 1)]
    [InlineData(8UL, 2)]
    [InlineData(15UL, 2)]
    [InlineData(16UL, 3)]
    [InlineData(512UL, 3)]
    [InlineData(513UL, 4)]
    public void ByteClasses_FollowTheProtocolSizes(ulong bytes, int expected) =>
        Assert.Equal(expected, FindingShape.Class(bytes));

    [Fact]
    public void ShapeName_NamesBothParts_AndNoRequestIsEmpty()
    {
        Assert.Equal("r8-15.w1-7", FindingShape.Name(FindingShape.Code(8, 1)));
        Assert.Equal("r0.w513+", FindingShape.Name(FindingShape.Code(0, 4096)));
        Assert.Equal("", FindingShape.Name(0));
    }

    [Fact]
    public void Report_CarriesTheShapeOfTheLastRequest()
    {
        var context = new FuzzContext();
        context.NoteRequest(4, 0);
        context.NoteRequest(8, 1);
        context.Report("used-ring", "used-ring/len-exceeds-written", "m");
        Assert.Equal("r8-15.w1-7", context.Finding?.Shape);
    }

    /// <summary>One fault site, reached by a short request (3 readable bytes) or a full one (8): two
    /// findings.</summary>
    private static ScriptedTarget OneSiteTwoShapes(string name) =>
        new(
            (d, c) =>
            {
                if (d.Length < 2)
                    return FuzzOutcome.Completed;
                c.NoteRequest(d[0] % 2 == 0 ? 3UL : 8UL, 0);
                if (d[1] == 0x5a)
                    c.Report("model", "toy/response", "stale response");
                return FuzzOutcome.Completed;
            },
            [0, 0x5a],
            [1, 0x5a]
        )
        {
            NameOverride = name,
        };

    [Fact]
    public void SameSite_DifferentShapes_AreTwoFindings()
    {
        var options = new CampaignOptions
        {
            Seed = 3,
            RunsMax = 200,
            FindingsDirectory = _dir,
            Minimize = false,
        };
        CampaignResult r = new FuzzCampaign(OneSiteTwoShapes("toy-a"), options, new NullCoverage("test")).Run();
        Assert.Equal(["r1-7.w0", "r8-15.w0"], r.Findings.Select(f => f.Shape).Order(StringComparer.Ordinal));
        Assert.Equal(2, Directory.GetDirectories(_dir).Length);
        Assert.Contains(
            "shape: r1-7.w0",
            File.ReadAllText(
                Path.Combine(
                    r.Findings.Single(f => f.Shape == "r1-7.w0").SavedDirectory!,
                    FindingWriter.SummaryFileName
                )
            ),
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void SharedFindingsDirectory_KeepsEachTargetsFindings()
    {
        var options = new CampaignOptions
        {
            Seed = 3,
            RunsMax = 200,
            FindingsDirectory = _dir,
            Minimize = false,
        };
        CampaignResult a = new FuzzCampaign(OneSiteTwoShapes("toy-a"), options, new NullCoverage("test")).Run();
        CampaignResult b = new FuzzCampaign(OneSiteTwoShapes("toy-b"), options, new NullCoverage("test")).Run();
        Assert.All(a.Findings.Concat(b.Findings), f => Assert.NotNull(f.SavedDirectory));
        Assert.Equal(4, Directory.GetDirectories(_dir).Length);
        Assert.All(Directory.GetDirectories(_dir), d =>
            Assert.StartsWith("model-", Path.GetFileName(d), StringComparison.Ordinal)
        );
    }

    [Fact]
    public void DirectoryWrittenUnderTheOldSiteKey_StaysReadableAndUntouched()
    {
        // A directory named <oracle>-<site-hash> (before the key held target and shape) is left as it is.
        string old = Path.Combine(_dir, "model-" + FindingSite.Hash("toy/response"));
        Directory.CreateDirectory(old);
        File.WriteAllBytes(Path.Combine(old, FindingWriter.InputFileName), [1, 0x5a]);
        var options = new CampaignOptions
        {
            Seed = 3,
            RunsMax = 200,
            FindingsDirectory = _dir,
            Minimize = false,
        };
        new FuzzCampaign(OneSiteTwoShapes("toy-a"), options, new NullCoverage("test")).Run();
        Assert.Equal([1, 0x5a], File.ReadAllBytes(Path.Combine(old, FindingWriter.InputFileName)));
        Assert.Equal(3, Directory.GetDirectories(_dir).Length);
    }
}
