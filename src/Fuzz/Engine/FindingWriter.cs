using System.Text;
using Fuzz.Oracles;

namespace Fuzz.Engine;

/// <summary>
/// Saves a finding as <c>&lt;findings&gt;/&lt;oracle&gt;-&lt;site-hash&gt;/</c> holding <c>input.bin</c> and
/// <c>summary.txt</c> (what fired, message, stack, how to reproduce). Written atomically; a directory that
/// already exists (an earlier campaign's, or the user's) is left untouched.
/// </summary>
public static class FindingWriter
{
    public const string InputFileName = "input.bin";
    public const string SummaryFileName = "summary.txt";

    /// <summary>Writes the finding; returns its directory, or null when that directory already existed.</summary>
    public static string? Save(string findingsDirectory, Finding finding, int inputVersion, ulong seed)
    {
        Directory.CreateDirectory(findingsDirectory);
        string path = Path.Combine(findingsDirectory, finding.DirectoryName);
        if (Directory.Exists(path) || File.Exists(path)) return null;
        string inputPath = Path.Combine(path, InputFileName);
        bool created = AtomicFile.TryCreateDirectory(path, temp =>
        {
            File.WriteAllBytes(Path.Combine(temp, InputFileName), finding.Input);
            File.WriteAllText(Path.Combine(temp, SummaryFileName), Summary(finding, inputVersion, seed, inputPath));
        });
        return created ? path : null;
    }

    /// <summary>The command that replays <paramref name="inputPath"/> on the target.</summary>
    public static string ReproduceCommand(string targetName, string inputPath) => $"virtsim fuzz --target {targetName} --reproduce {Quote(inputPath)}";

    public static string Summary(Finding finding, int inputVersion, ulong seed, string inputPath)
    {
        var s = new StringBuilder();
        s.Append("target: ").Append(finding.TargetName).Append(" (input format v").Append(inputVersion).AppendLine(")");
        s.Append("oracle: ").AppendLine(finding.Oracle);
        s.Append("site: ").AppendLine(finding.Site);
        s.Append("message: ").AppendLine(finding.Message);
        s.Append("rule: ").AppendLine(OracleRules.Describe(finding.Oracle, finding.Site));
        s.Append("input: ").Append(InputFileName).Append(" (").Append(finding.Input.Length).Append(" bytes");
        if (finding.OriginalLength != finding.Input.Length) s.Append(", minimised from ").Append(finding.OriginalLength);
        s.AppendLine(")");
        s.Append("found: execution ").Append(finding.FirstExecution).Append(" of the campaign with --seed ").Append(seed).AppendLine();
        s.Append("reproduce: ").AppendLine(ReproduceCommand(finding.TargetName, inputPath));
        s.Append("regression test: virtsim fuzz --target ").Append(finding.TargetName).Append(" --emit-test ").AppendLine(Quote(inputPath));
        s.Append("input hex: ").AppendLine(Convert.ToHexString(finding.Input.AsSpan(0, Math.Min(finding.Input.Length, 256))).ToLowerInvariant()
            + (finding.Input.Length > 256 ? "..." : ""));
        if (finding.Report.Stack is { } stack)
        {
            s.AppendLine("stack:");
            s.AppendLine(stack);
        }
        return s.ToString();
    }

    private static string Quote(string path) => path.Contains(' ', StringComparison.Ordinal) ? "\"" + path + "\"" : path;
}
