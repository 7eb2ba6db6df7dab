using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// Runs one input through a target with every engine oracle armed: host exceptions and assertion failures
/// (caught per execution, classified by type and top frame), the fallback step budget (hang), and the
/// allocation bound (resource). Reuses one <see cref="FuzzContext"/>; allocates nothing unless something fires.
/// </summary>
internal sealed class FuzzExecutor
{
    private readonly IFuzzTarget _target;
    private readonly ICoverage _coverage;
    private readonly FuzzContext _context;

    public FuzzExecutor(IFuzzTarget target, ICoverage coverage, ExecutionLimits limits)
    {
        _target = target;
        _coverage = coverage;
        Limits = limits;
        _context = new FuzzContext(limits.StepsMax);
    }

    public ExecutionLimits Limits { get; }

    public IFuzzTarget Target => _target;

    public ICoverage Coverage => _coverage;

    /// <summary>Where targets may narrate (reproduce mode), or null.</summary>
    public TextWriter? Log
    {
        get => _context.Log;
        set => _context.Log = value;
    }

    /// <summary>Where the next executions' events go (a finding trace being recorded or checked), or null.</summary>
    public ExecutionTrace? Trace
    {
        get => _context.Trace;
        set => _context.Trace = value;
    }

    public ExecutionResult Execute(ReadOnlySpan<byte> input)
    {
        FuzzContext context = _context;
        context.Reset();
        FuzzOutcome outcome;
        long before = GC.GetAllocatedBytesForCurrentThread();
        _coverage.Begin();
        try
        {
            outcome = _target.Execute(input, context);
        }
        catch (Exception e)
        {
            // Any host exception is a finding (STYLE.md item 4: guest input must never raise one); it takes
            // precedence over a checker's report earlier in the same execution.
            context.SetFinding(FindingSite.FromException(e));
            outcome = FuzzOutcome.Completed;
        }
        // A finding trace's own allocations (recording, comparing) are not the target's.
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before - (context.Trace?.AllocatedBytes ?? 0);
        if (context.Finding is null && context.Steps > Limits.StepsMax)
        {
            // The target swallowed the hang exception; the count still tells.
            context.SetFinding(
                new FindingReport(
                    FuzzOracle.Hang,
                    "step-budget@" + _target.Name,
                    $"execution exceeded its step budget of {Limits.StepsMax} steps",
                    null
                )
            );
        }
        if (context.Finding is null && allocated > Limits.AllocatedBytesMax)
        {
            context.SetFinding(
                new FindingReport(
                    FuzzOracle.Resource,
                    "allocated-bytes@" + _target.Name,
                    $"execution allocated {allocated} bytes; the bound is {Limits.AllocatedBytesMax}",
                    null
                )
            );
        }
        return new ExecutionResult(outcome, context.Finding, allocated, context.Steps);
    }
}
