using System.Text;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Entry;

/// <summary>Result of replaying one input: what fired (or nothing), for reproduce and regression tests.</summary>
internal sealed record FuzzReplayResult(
    string TargetName,
    FuzzOutcome Outcome,
    FindingReport? Finding,
    long AllocatedBytes,
    long Steps
)
{
    public bool Fired => Finding is not null;

    public string Describe()
    {
        if (Finding is null)
            return $"{TargetName}: no oracle fired ({Outcome}, {Steps} steps, {AllocatedBytes} bytes allocated)";
        var s = new StringBuilder();
        s.Append(TargetName).Append(": ").Append(Finding.Oracle).Append(" fired at ").AppendLine(Finding.Site);
        s.Append("message: ").AppendLine(Finding.Message);
        if (Finding.Stack is { } stack)
            s.AppendLine("stack:").AppendLine(stack);
        return s.ToString().TrimEnd();
    }
}
