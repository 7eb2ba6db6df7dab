using System.Text;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// Saves a finding as <c>&lt;findings&gt;/&lt;oracle&gt;-&lt;site-hash&gt;/</c> holding <c>input.bin</c>,
/// <c>trace.vtrace</c> (<see cref="FindingTrace"/>: replayable with <c>virtsim replay</c>) and <c>summary.txt</c> (what
/// fired, the rule it broke, what the guest and the device did, message, stack, how to reproduce and replay). Written
/// atomically; a directory that already exists (an earlier campaign's, or the user's) is left untouched.
/// </summary>
internal static class FindingWriter
{
    public const string InputFileName = "input.bin";
    public const string SummaryFileName = "summary.txt";

    /// <summary>Writes the finding and, given its <paramref name="target"/>, its trace (<see cref="FindingTrace"/>:
    /// <c>trace.vtrace</c>, what <c>virtsim replay</c> reproduces) recorded by re-running the input under
    /// <paramref name="limits"/>; the summary then tells what the guest and the device did. Returns the directory, or
    /// null when it already existed.</summary>
    public static string? Save(
        string findingsDirectory,
        Finding finding,
        int inputVersion,
        ulong seed,
        IFuzzTarget? target,
        ExecutionLimits limits
    )
    {
        ArgumentNullException.ThrowIfNull(finding);
        Directory.CreateDirectory(findingsDirectory);
        string path = Path.Combine(findingsDirectory, finding.DirectoryName);
        if (Directory.Exists(path) || File.Exists(path))
            return null;
        string inputPath = Path.Combine(path, InputFileName);
        FindingTraceRecording? recording = null;
        IReadOnlyList<string> decoded = [];
        if (target is not null && finding.Input.Length <= FindingTrace.InputBytesMax)
        {
            // The recording's first (plain) run also collects what the target narrates: no extra execution.
            using var narration = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
            recording = FindingTrace.Record(target, finding.Input, limits, seed, narration);
            decoded = FindingNarrative.DecodedOperations(narration.ToString());
        }
        else if (target is not null)
        {
            decoded = FindingNarrative.DecodedOperations(target, finding.Input, limits);
        }
        bool created = AtomicFile.TryCreateDirectory(path, temp =>
        {
            File.WriteAllBytes(Path.Combine(temp, InputFileName), finding.Input);
            if (recording is not null)
                File.WriteAllBytes(Path.Combine(temp, FindingTrace.FileName), recording.Trace);
            File.WriteAllText(
                Path.Combine(temp, SummaryFileName),
                Summary(finding, inputVersion, seed, inputPath, recording, decoded)
            );
        });
        return created ? path : null;
    }

    /// <summary>The command that replays <paramref name="inputPath"/> on the target.</summary>
    public static string ReproduceCommand(string targetName, string inputPath) =>
        $"virtsim fuzz reproduce --target {targetName} {Quote(inputPath)}";

    /// <summary>The command that replays and verifies a finding's trace.</summary>
    public static string ReplayCommand(string tracePath) => $"virtsim replay {Quote(tracePath)}";

    public static string Summary(
        Finding finding,
        int inputVersion,
        ulong seed,
        string inputPath,
        FindingTraceRecording? recording = null,
        IReadOnlyList<string>? decoded = null
    )
    {
        ArgumentNullException.ThrowIfNull(finding);
        var s = new StringBuilder();
        s.Append("target: ").Append(finding.TargetName).Append(" (input format v").Append(inputVersion).AppendLine(")");
        s.Append("oracle: ").AppendLine(finding.Oracle);
        s.Append("site: ").AppendLine(finding.Site);
        if (finding.Shape.Length > 0)
            s.Append("shape: ").AppendLine(finding.Shape);
        s.Append("message: ").AppendLine(finding.Message);
        s.Append("rule: ").AppendLine(OracleRules.Describe(finding.Oracle, finding.Site));
        s.Append("input: ").Append(InputFileName).Append(" (").Append(finding.Input.Length).Append(" bytes");
        if (finding.OriginalLength != finding.Input.Length)
            s.Append(", minimised from ").Append(finding.OriginalLength);
        s.AppendLine(")");
        s.Append("found: execution ")
            .Append(finding.FirstExecution)
            .Append(" of the campaign with --seed ")
            .Append(seed)
            .AppendLine();
        s.Append("reproduce: ").AppendLine(ReproduceCommand(finding.TargetName, inputPath));
        if (recording is not null)
        {
            s.Append("replay: ")
                .AppendLine(ReplayCommand(Path.Combine(Path.GetDirectoryName(inputPath) ?? "", FindingTrace.FileName)));
            if (!recording.Consistent)
            {
                s.Append("warning: re-running the input with the recorder gave ")
                    .Append(recording.Finding?.ToString() ?? "no finding")
                    .AppendLine(
                        "; the target is not a deterministic function of its input, so the trace will not replay"
                    );
            }
        }
        s.Append("regression test: virtsim fuzz emit-test --target ")
            .Append(finding.TargetName)
            .Append(' ')
            .AppendLine(Quote(inputPath));
        s.Append("input hex: ")
            .AppendLine(
                Convert.ToHexString(finding.Input.AsSpan(0, Math.Min(finding.Input.Length, 256))).ToLowerInvariant()
                    + (finding.Input.Length > 256 ? "..." : "")
            );
        if (decoded is { Count: > 0 })
        {
            s.AppendLine("decoded operations:");
            foreach (string line in decoded)
                s.Append("  ").AppendLine(line);
        }
        if (recording is not null)
            FindingNarrative.Append(s, recording.Trace);
        if (finding.Report.Stack is { } stack)
        {
            s.AppendLine("stack:");
            s.AppendLine(stack);
        }
        return s.ToString();
    }

    private static string Quote(string path) =>
        path.Contains(' ', StringComparison.Ordinal) ? "\"" + path + "\"" : path;
}
