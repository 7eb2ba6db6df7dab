using System.Globalization;
using System.Reflection;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// A finding as an ordinary virtsim trace (traces/README.md, "Fuzz finding traces") that <c>virtsim replay</c>
/// reproduces on any machine. Origin <c>simulated</c>; scenario <c>fuzz/&lt;target&gt;</c>; the options hold the
/// target, its input format version, the input (hex), the execution limits and the verdict expected (oracle and site,
/// or
/// <c>none</c>). The events are what the execution did as the target's simulation or memory hooks saw it (guest writes,
/// MMIO and kicks, device reads and writes of guest memory, interrupts, device results), then one verdict event
/// (<see cref="ExecutionTrace.Finish"/>). Replaying re-runs the input on a fresh target and matches only when every
/// event, the final memory and the verdict match.
/// </summary>
public static class FindingTrace
{
    /// <summary>File name next to <c>input.bin</c> (the repository's trace extension).</summary>
    public const string FileName = "trace.vtrace";

    /// <summary>Scenario names of finding traces start with this, then the target name.</summary>
    public const string ScenarioPrefix = "fuzz/";

    internal const string OptionTarget = "target";
    internal const string OptionInputVersion = "input-version";
    internal const string OptionInput = "input";
    internal const string OptionOracle = "oracle";
    internal const string OptionSite = "site";
    internal const string OptionMessage = "message";
    internal const string OptionStepsMax = "steps-max";
    internal const string OptionAllocatedBytesMax = "alloc-max";

    /// <summary>The oracle and site options when nothing fired.</summary>
    public const string NoFinding = "none";

    /// <summary>Largest input a trace holds: its hex must fit a header string
    /// (<see cref="TraceFormat.HeaderStringBytesMax"/>).</summary>
    public const int InputBytesMax = TraceFormat.HeaderStringBytesMax / 2;

    /// <summary>Characters of the message kept in the header (informational; not compared).</summary>
    public const int MessageCharsMax = 1024;

    /// <summary>True when <paramref name="header"/> describes a finding trace.</summary>
    public static bool IsFindingTrace(TraceHeader header)
    {
        ArgumentNullException.ThrowIfNull(header);
        return header.Scenario.StartsWith(ScenarioPrefix, StringComparison.Ordinal);
    }

    /// <summary>Runs <paramref name="input"/> on <paramref name="target"/> as the campaign does, then again with a
    /// recorder attached, and returns the trace. Executions are deterministic, so both see the same thing; when they do
    /// not, <see cref="FindingTraceRecording.Consistent"/> says so. What the target narrates during the first run goes
    /// to
    /// <paramref name="narrative"/> when given (<see cref="FuzzContext.Log"/>).</summary>
    internal static FindingTraceRecording Record(
        IFuzzTarget target,
        ReadOnlySpan<byte> input,
        ExecutionLimits limits,
        ulong seed,
        TextWriter? narrative = null
    )
    {
        ArgumentNullException.ThrowIfNull(target);
        if (input.Length > InputBytesMax)
            throw new ArgumentException(
                $"inputs of more than {InputBytesMax} bytes do not fit a trace header",
                nameof(input)
            );
        var executor = new FuzzExecutor(target, new NullCoverage("finding trace"), limits) { Log = narrative };
        ExecutionResult plain = executor.Execute(input);
        executor.Log = null;

        var header = new TraceHeader
        {
            VirtsimVersion = Version,
            GitCommit = Commit,
            Seed = seed,
            Scenario = ScenarioPrefix + target.Name,
            Origin = TraceOrigin.Simulated,
            MemoryLayout = ExecutionTrace.PlaceholderLayout,
        };
        header.Options[OptionTarget] = target.Name;
        header.Options[OptionInputVersion] = target.InputVersion.ToString(CultureInfo.InvariantCulture);
        header.Options[OptionInput] = Convert.ToHexStringLower(input);
        header.Options[OptionStepsMax] = limits.StepsMax.ToString(CultureInfo.InvariantCulture);
        header.Options[OptionAllocatedBytesMax] = limits.AllocatedBytesMax.ToString(CultureInfo.InvariantCulture);
        header.Options[OptionOracle] = plain.Finding?.Oracle ?? NoFinding;
        header.Options[OptionSite] = plain.Finding?.Site ?? NoFinding;
        if (plain.Finding is { } f)
            header.Options[OptionMessage] =
                f.Message.Length <= MessageCharsMax ? f.Message : f.Message[..MessageCharsMax] + "...";

        using var stream = new MemoryStream();
        ExecutionResult recorded;
        using (var recorder = new FindingTraceRecorder(stream, header))
        {
            executor.Trace = recorder;
            try
            {
                recorded = executor.Execute(input);
            }
            finally
            {
                executor.Trace = null;
            }
            recorder.Finish(recorded.Finding, recorded.Outcome);
        }
        bool consistent = recorded.Outcome == plain.Outcome && recorded.Finding?.Key == plain.Finding?.Key;
        return new FindingTraceRecording(stream.ToArray(), recorded.Finding, recorded.Outcome, consistent);
    }

    /// <summary>Replays a finding trace opened with <see cref="TraceReader.TryOpen"/> (not yet read further): rebuilds
    /// the target named in the header, re-runs the input with every event compared, and checks the verdict.</summary>
    public static FindingTraceResult Replay(TraceReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        TraceHeader header = reader.Header;
        string name = header.Options.GetValueOrDefault(OptionTarget)
            ?? header.Scenario[Math.Min(header.Scenario.Length, ScenarioPrefix.Length)..];
        if (
            !TryParse(header, out IFuzzTarget? target, out byte[]? input, out ExecutionLimits limits, out string? error)
        )
        {
            return new FindingTraceResult(FindingTraceVerdict.Error, name, 0, null, error);
        }
        string expectedOracle = header.Options.GetValueOrDefault(OptionOracle) ?? NoFinding;
        string expectedSite = header.Options.GetValueOrDefault(OptionSite) ?? NoFinding;

        var checker = new FindingTraceChecker(reader);
        var executor = new FuzzExecutor(target, new NullCoverage("finding trace"), limits) { Trace = checker };
        ExecutionResult live = executor.Execute(input);
        checker.Finish(live.Finding, live.Outcome);
        return Judge(reader, checker, live, target.Name, expectedOracle, expectedSite);
    }

    /// <summary>The verdict on a replayed finding: the same oracle at the same site, every event as recorded, and
    /// the footer's final memory hash.</summary>
    private static FindingTraceResult Judge(
        TraceReader reader,
        FindingTraceChecker checker,
        ExecutionResult live,
        string targetName,
        string expectedOracle,
        string expectedSite
    )
    {
        string liveOracle = live.Finding?.Oracle ?? NoFinding;
        string liveSite = live.Finding?.Site ?? NoFinding;
        string expected = Describe(expectedOracle, expectedSite);
        string actual = Describe(liveOracle, liveSite);
        if (checker.Divergence is { Field: TraceField.TraceUnreadable } unreadable)
        {
            return new FindingTraceResult(
                FindingTraceVerdict.Error,
                targetName,
                checker.EventsSeen,
                live.Finding,
                unreadable.Expected
            );
        }
        if (liveOracle != expectedOracle || liveSite != expectedSite)
        {
            string first = checker.Divergence is { } d ? "; first difference: " + d : "";
            return new FindingTraceResult(
                FindingTraceVerdict.Diverged,
                targetName,
                checker.EventsSeen,
                live.Finding,
                $"finding not reproduced: expected {expected}, got {actual}{first}"
            );
        }
        if (checker.InitialMemoryMismatch is { } mismatch)
        {
            return new FindingTraceResult(
                FindingTraceVerdict.Diverged,
                targetName,
                checker.EventsSeen,
                live.Finding,
                mismatch
            );
        }
        if (checker.Divergence is { } divergence)
        {
            return new FindingTraceResult(
                FindingTraceVerdict.Diverged,
                targetName,
                checker.EventsSeen,
                live.Finding,
                $"{actual} fired again, but the execution differs: {divergence}"
            );
        }
        return CheckFooter(reader, checker, live, targetName, actual);
    }

    private static FindingTraceResult CheckFooter(
        TraceReader reader,
        FindingTraceChecker checker,
        ExecutionResult live,
        string targetName,
        string actual
    )
    {
        if (reader.Footer is not { } footer)
        {
            return new FindingTraceResult(
                FindingTraceVerdict.Error,
                targetName,
                checker.EventsSeen,
                live.Finding,
                reader.Error?.Message ?? "the trace ends without its footer (truncated)"
            );
        }
        if (footer.MemoryHash != checker.FinalMemoryHash)
        {
            return new FindingTraceResult(
                FindingTraceVerdict.Diverged,
                targetName,
                checker.EventsSeen,
                live.Finding,
                $"final guest memory differs: expected hash 0x{footer.MemoryHash:x16}, "
                    + $"actual 0x{checker.FinalMemoryHash:x16}"
            );
        }
        string detail = live.Finding is null ? "no finding, as recorded" : $"finding reproduced: {actual}";
        return new FindingTraceResult(FindingTraceVerdict.Match, targetName, checker.EventsSeen, live.Finding, detail);
    }

    /// <summary>"oracle X at site Y", or "no finding".</summary>
    public static string Describe(string oracle, string site) =>
        oracle == NoFinding ? "no finding" : $"oracle {oracle} at site {site}";

    private static bool TryParse(
        TraceHeader header,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IFuzzTarget? target,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? input,
        out ExecutionLimits limits,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error
    )
    {
        input = null;
        limits = ExecutionLimits.Default;
        IReadOnlyDictionary<string, string> o = header.Options;
        if (!TryResolveTarget(header, out target, out error))
            return false;
        string hex = o.GetValueOrDefault(OptionInput) ?? "";
        if (hex.Length % 2 != 0 || hex.Length / 2 > InputBytesMax || !IsHex(hex))
        {
            error =
                $"finding trace option '{OptionInput}' is not an even-length hex string of at most {InputBytesMax} "
                + "bytes";
            target = null;
            return false;
        }
        input = Convert.FromHexString(hex);
        if (
            !TryLong(o, OptionStepsMax, FuzzContext.DefaultStepsMax, out long steps)
            || !TryLong(o, OptionAllocatedBytesMax, ExecutionLimits.DefaultAllocatedBytesMax, out long alloc)
        )
        {
            error =
                $"finding trace options '{OptionStepsMax}' and '{OptionAllocatedBytesMax}' must be positive integers";
            target = null;
            input = null;
            return false;
        }
        limits = new ExecutionLimits(steps, alloc);
        error = null;
        return true;
    }

    /// <summary>The fuzz target the header names, checked against the scenario name and the input format
    /// version the trace was written with.</summary>
    private static bool TryResolveTarget(
        TraceHeader header,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IFuzzTarget? target,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error
    )
    {
        target = null;
        IReadOnlyDictionary<string, string> o = header.Options;
        if (!o.TryGetValue(OptionTarget, out string? name))
        {
            error = $"finding trace without the '{OptionTarget}' option";
            return false;
        }
        target = FuzzTargets.Create(name);
        if (target is null || target.Name != name)
        {
            error =
                $"unknown fuzz target '{name}' (this virtsim knows: "
                + $"{string.Join(", ", FuzzTargets.All.Select(t => t.Name))})";
            target = null;
            return false;
        }
        if (header.Scenario != ScenarioPrefix + name)
        {
            error = $"scenario '{header.Scenario}' does not name the target '{name}' of its options";
            target = null;
            return false;
        }
        if (
            !o.TryGetValue(OptionInputVersion, out string? version)
            || !int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
        )
        {
            error = $"finding trace option '{OptionInputVersion}' is missing or not a number";
            target = null;
            return false;
        }
        if (v != target.InputVersion)
        {
            error =
                $"target '{name}' now reads input format v{target.InputVersion}; the trace's input is v{v}: "
                + "re-derive the finding";
            target = null;
            return false;
        }
        error = null;
        return true;
    }

    private static bool TryLong(IReadOnlyDictionary<string, string> options, string key, long fallback, out long value)
    {
        if (!options.TryGetValue(key, out string? text))
        {
            value = fallback;
            return true;
        }
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;
    }

    private static bool IsHex(string s)
    {
        foreach (char c in s)
        {
            if (!char.IsAsciiHexDigit(c))
                return false;
        }
        return true;
    }

    private static string Informational =>
        typeof(FindingTrace).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? "0.0.0";

    private static string Version => Informational.Split('+')[0];

    private static string Commit =>
        Informational.Contains('+', StringComparison.Ordinal) ? Informational.Split('+')[1] : "unknown";
}
