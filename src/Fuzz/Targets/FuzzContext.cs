using System.Runtime.CompilerServices;
using Fuzz.Oracles;

namespace Fuzz.Targets;

/// <summary>
/// Per-execution services for a target: checkers report findings here, and loops count steps against the
/// engine's fallback hang budget. One instance is reused across executions (no allocation per execution);
/// only reporting a finding allocates.
/// </summary>
public sealed class FuzzContext
{
    /// <summary>Default fallback step budget: generous, far above what any sane execution needs. A target's
    /// own simulation budget (event-loop ticks) should fire first with a precise site.</summary>
    public const long DefaultStepsMax = 10_000_000;

    private long _steps;

    public FuzzContext(long stepsMax = DefaultStepsMax)
    {
        if (stepsMax <= 0) throw new ArgumentOutOfRangeException(nameof(stepsMax), "the step budget must be positive");
        StepsMax = stepsMax;
    }

    /// <summary>The step budget per execution.</summary>
    public long StepsMax { get; }

    /// <summary>Steps counted in the current execution.</summary>
    public long Steps => _steps;

    /// <summary>The first finding reported in the current execution, or null.</summary>
    public FindingReport? Finding { get; private set; }

    /// <summary>Where targets may narrate what they decode (set when reproducing a single input), else null.</summary>
    public TextWriter? Log { get; set; }

    /// <summary>Counts one step of a loop; throws <see cref="FuzzHangException"/> past <see cref="StepsMax"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step()
    {
        if (++_steps > StepsMax) ThrowHang();
    }

    /// <summary>Counts <paramref name="count"/> steps at once.</summary>
    public void Step(long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), "step count must not be negative");
        _steps = count > long.MaxValue - _steps ? long.MaxValue : _steps + count;
        if (_steps > StepsMax) ThrowHang();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowHang() => throw new FuzzHangException($"execution exceeded its step budget of {StepsMax} steps");

    /// <summary>Reports that <paramref name="oracle"/> fired at <paramref name="site"/> (a stable name: checker
    /// and rule, e.g. "used-ring/len-exceeds-writable" — never a value from the input). The first report of an
    /// execution wins; later ones are ignored.</summary>
    public void Report(string oracle, string site, string message)
    {
        if (Finding is not null) return;
        Finding = new FindingReport(FuzzOracle.Sanitize(oracle), site, message, null);
    }

    /// <summary>Reports when <paramref name="condition"/> is false. Returns <paramref name="condition"/>.</summary>
    public bool Check(bool condition, string oracle, string site, string message)
    {
        if (!condition) Report(oracle, site, message);
        return condition;
    }

    /// <summary>Reports a hang detected by the target's own budget (e.g. its event loop stopped on a tick limit).</summary>
    public void ReportHang(string site, string message) => Report(FuzzOracle.Hang, site, message);

    internal void Reset()
    {
        _steps = 0;
        Finding = null;
    }

    internal void SetFinding(FindingReport report) => Finding = report;
}
