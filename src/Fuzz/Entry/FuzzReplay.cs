using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Entry;

/// <summary>Replays one input on a target with every oracle armed (what <c>--reproduce</c> and emitted regression
/// tests call).</summary>
internal static class FuzzReplay
{
    /// <summary>Replays <paramref name="input"/> on the registered target <paramref name="targetName"/>, first
    /// checking that its input format is still <paramref name="inputVersion"/> (a changed format means the bytes
    /// no longer mean the scenario they were saved for).</summary>
    public static FuzzReplayResult Run(string targetName, int inputVersion, byte[] input)
    {
        IFuzzTarget target = FuzzTargets.Create(targetName)
            ?? throw new ArgumentException($"no fuzz target named '{targetName}'", nameof(targetName));
        if (target.InputVersion != inputVersion)
        {
            throw new InvalidOperationException(
                $"target '{targetName}' now reads input format v{target.InputVersion}, these bytes are "
                    + $"v{inputVersion}: re-derive the input or retire the test"
            );
        }
        return Run(target, input);
    }

    /// <summary>Replays <paramref name="input"/> on <paramref name="target"/>.</summary>
    public static FuzzReplayResult Run(
        IFuzzTarget target,
        ReadOnlySpan<byte> input,
        ExecutionLimits? limits = null,
        TextWriter? log = null
    )
    {
        var executor = new FuzzExecutor(target, new NullCoverage("replay"), limits ?? ExecutionLimits.Default)
        {
            Log = log,
        };
        ExecutionResult r = executor.Execute(input);
        return new FuzzReplayResult(target.Name, r.Outcome, r.Finding, r.AllocatedBytes, r.Steps);
    }
}
