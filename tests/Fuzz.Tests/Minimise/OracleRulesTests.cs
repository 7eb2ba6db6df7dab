using System.Text.RegularExpressions;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;

namespace Fuzz.Tests;

public sealed partial class OracleRulesTests
{
    /// <summary>A site literal (<c>"family/name"</c>, possibly interpolated) on a line that reports a
    /// finding.</summary>
    [GeneratedRegex(@"\$?""((?:[a-z0-9]+-)*[a-z0-9]+/[a-z0-9{}* -]+)""")]
    private static partial Regex SiteLiteral();

    private static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "virtsim.slnx")))
            dir = Path.GetDirectoryName(dir);
        return dir
            ?? throw new InvalidOperationException("repository root (virtsim.slnx) not found above the test binaries");
    }

    /// <summary>A call that reports a finding: <c>Report…(</c>, <c>Fail(</c>, <c>OnDecision(</c>,
    /// <c>Check(</c>.</summary>
    [GeneratedRegex(@"\b(\w*Report\w*|Fail|OnDecision|Check)\s*\(")]
    private static partial Regex ReportingCall();

    /// <summary>Every site literal in src/Fuzz and src/Devices/*/Fuzz that a checker or target reports
    /// (interpolated parts cut off): the site literals inside the argument list of a reporting call, wherever the
    /// formatter broke its lines.</summary>
    private static SortedSet<string> ReportedSites()
    {
        var sites = new SortedSet<string>(StringComparer.Ordinal);
        // The fuzzer's own folder and each device folder's Fuzz/ layer (src/Devices/<device>/Fuzz), which compiles into
        // the same assembly.
        string src = Path.Combine(RepositoryRoot(), "src");
        IEnumerable<string> fuzzFiles = Directory
            .EnumerateFiles(Path.Combine(src, "Fuzz"), "*.cs", SearchOption.AllDirectories)
            .Concat(
                Directory
                    .EnumerateDirectories(Path.Combine(src, "Devices"))
                    .Select(d => Path.Combine(d, "Fuzz"))
                    .Where(Directory.Exists)
                    .SelectMany(d => Directory.EnumerateFiles(d, "*.cs", SearchOption.AllDirectories))
            );
        foreach (string file in fuzzFiles)
        {
            string code = string.Join(
                '\n',
                File.ReadLines(file).Where(l => !l.TrimStart().StartsWith("//", StringComparison.Ordinal))
            );
            foreach (Match call in ReportingCall().Matches(code))
            {
                foreach (Match m in SiteLiteral().Matches(ArgumentList(code, call.Index + call.Length)))
                {
                    string site = m.Groups[1].Value;
                    int brace = site.IndexOf('{', StringComparison.Ordinal);
                    sites.Add(brace >= 0 ? site[..brace] : site);
                }
            }
        }
        return sites;
    }

    /// <summary>The text from just after a call's '(' to its matching ')', skipping parentheses inside
    /// string literals.</summary>
    private static string ArgumentList(string code, int start)
    {
        int depth = 1;
        int i = start;
        while (i < code.Length && depth > 0)
        {
            char c = code[i];
            if (c == '"')
            {
                for (i++; i < code.Length && code[i] != '"'; i++)
                {
                    if (code[i] == '\\')
                        i++;
                }
            }
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            i++;
        }
        return code[start..Math.Min(i, code.Length)];
    }

    [Fact]
    public void EverySiteACheckerOrTargetReports_HasARuleWithACitation()
    {
        SortedSet<string> sites = ReportedSites();
        // The scan must see the checkers' sites, or it is scanning nothing.
        Assert.Contains("used-ring/len-exceeds-written", sites);
        Assert.Contains("permission/write-outside-writable-buffers", sites);
        Assert.Contains("liveness/chain-never-completed", sites);
        Assert.Contains("notify/missed-interrupt", sites);
        Assert.Contains("guest-memory/read-u", sites);
        Assert.Contains("driver-spec/add", sites);
        Assert.Contains("driver-spec/direct-chain", sites);
        string[] missing = sites.Where(s => OracleRules.ForSite(s) is null).ToArray();
        Assert.True(missing.Length == 0, "sites without an entry in OracleRules: " + string.Join(", ", missing));
        Assert.All(OracleRules.All, r =>
        {
            Assert.False(string.IsNullOrWhiteSpace(r.Wrong), r.Site);
            Assert.False(string.IsNullOrWhiteSpace(r.Rule), r.Site);
            Assert.False(string.IsNullOrWhiteSpace(r.Citation), r.Site);
        });
    }

    [Fact]
    public void EngineOracles_AndExceptionSites_FallBackToTheOracleWideRule()
    {
        Assert.Contains(
            "STYLE.md item 4",
            OracleRules.For(FuzzOracle.Exception, "InvalidOperationException@Sim.Devices.X.Y")!.Citation,
            StringComparison.Ordinal
        );
        Assert.Contains(
            "STYLE.md item 11",
            OracleRules.For(FuzzOracle.Assert, "InvariantViolationException@Sim.X.Y")!.Citation,
            StringComparison.Ordinal
        );
        Assert.Equal("step-budget@", OracleRules.For(FuzzOracle.Hang, "step-budget@Fuzz.Tests.Looper.Forever")!.Site);
        Assert.Equal(FuzzOracle.Resource, OracleRules.For(FuzzOracle.Resource, "allocation")!.Site);
        Assert.Equal("notify/", OracleRules.For(NotificationChecker.Oracle, "notify/missed-interrupt")!.Site);
        Assert.Contains(
            "§2.7.10",
            OracleRules.For(NotificationChecker.Oracle, "notify/missed-interrupt-after-drain-vhost")!.Citation,
            StringComparison.Ordinal
        );
        Assert.Contains("add it to OracleRules", OracleRules.Describe("novel", "novel/site"), StringComparison.Ordinal);
    }

    [Fact]
    public void Spec_2_7_8_2_UsedLenFinding_SummaryNamesTheRuleAndCitesIt()
    {
        var report = new FindingReport(
            VirtqueueChecker.UsedRingOracle,
            "used-ring/len-exceeds-written",
            "used entry for head 0 says len 8 but the device wrote 4 bytes",
            null
        );
        var finding = new Finding("virtio-demo-qemu-seed", report, [0, 0, 0, 0, 2], 1);
        string summary = FindingWriter.Summary(finding, 1, 1, "f/input.bin");
        string rule = summary.Split('\n').Single(l => l.StartsWith("rule: ", StringComparison.Ordinal));
        Assert.Contains("VIRTIO 1.2 §2.7.8.2", rule, StringComparison.Ordinal);
        Assert.Contains("at least len bytes", rule, StringComparison.Ordinal);
    }

    /// <summary>The resume rule (VirtqueueChecker.Resume) has its own entry: what the device did, and the hand-back it
    /// broke (QEMU vhost_virtqueue_stop / vhost_virtqueue_start) with the spec clause.</summary>
    [Fact]
    public void QemuVhostStopStart_RefetchFinding_SummaryNamesTheHandBack()
    {
        OracleRule? rule = OracleRules.For(VirtqueueChecker.UsedRingOracle, "used-ring/completed-chain-refetched");
        Assert.Equal("used-ring/completed-chain-refetched", rule?.Site);
        Assert.Contains("VIRTIO 1.2 §2.7.8", rule!.Citation, StringComparison.Ordinal);
        Assert.Contains("VHOST_SET_VRING_BASE", rule.Citation, StringComparison.Ordinal);
        Assert.Contains("no reset", rule.Wrong, StringComparison.Ordinal);
        Assert.Contains(
            "SET_VRING_BASE",
            OracleRules.Describe(VirtqueueChecker.UsedRingOracle, rule.Site),
            StringComparison.Ordinal
        );
    }
}
