using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests;

public sealed class OracleTests
{
    private static ExecutionResult RunOnce(ScriptedTarget target, byte[] input, ExecutionLimits? limits = null) =>
        new FuzzExecutor(target, new NullCoverage("test"), limits ?? ExecutionLimits.Default).Execute(input);

    [Fact]
    public void HostException_IsClassifiedByTypeAndTopProjectFrame()
    {
        var target = new ScriptedTarget((d, _) => Thrower.Fail(d));
        ExecutionResult r = RunOnce(target, [1]);
        Assert.NotNull(r.Finding);
        Assert.Equal(FuzzOracle.Exception, r.Finding.Oracle);
        // The BCL frames of List's indexer are skipped: the site is our code.
        Assert.Equal("ArgumentOutOfRangeException@Fuzz.Tests.Thrower.Fail", r.Finding.Site);
        Assert.Contains("Thrower.Fail", r.Finding.Stack, StringComparison.Ordinal);
    }

    [Fact]
    public void AssertionFailure_IsTheAssertOracle()
    {
        var target = new ScriptedTarget((_, _) => throw new InvariantViolationException("ring index ran past size"));
        ExecutionResult r = RunOnce(target, []);
        Assert.Equal(FuzzOracle.Assert, r.Finding?.Oracle);
        Assert.StartsWith("InvariantViolationException@", r.Finding?.Site, StringComparison.Ordinal);
    }

    [Fact]
    public void Livelock_IsAHang_AtTheLoopingMethod()
    {
        var target = new ScriptedTarget((_, ctx) => Looper.Forever(ctx));
        ExecutionResult r = RunOnce(target, [], new ExecutionLimits(1000, ExecutionLimits.DefaultAllocatedBytesMax));
        Assert.Equal(FuzzOracle.Hang, r.Finding?.Oracle);
        Assert.Equal("step-budget@Fuzz.Tests.Looper.Forever", r.Finding?.Site);
        Assert.Equal(1001, r.Steps);
    }

    [Fact]
    public void SwallowedHang_IsStillAHang()
    {
        var target = new ScriptedTarget(
            (_, ctx) =>
            {
                try
                {
                    Looper.Forever(ctx);
                }
                catch (FuzzHangException)
                {
                    // A badly written target hiding the budget.
                }
                return FuzzOutcome.Completed;
            }
        );
        ExecutionResult r = RunOnce(target, [], new ExecutionLimits(50, ExecutionLimits.DefaultAllocatedBytesMax));
        Assert.Equal(FuzzOracle.Hang, r.Finding?.Oracle);
        Assert.Equal("step-budget@toy-scripted", r.Finding?.Site);
    }

    [Fact]
    public void GuestSizedAllocation_IsAResourceFinding()
    {
        var target = new ScriptedTarget(
            (d, _) =>
            {
                byte[] buffer = new byte[(d.Length > 0 ? d[0] : 0) << 20];
                GC.KeepAlive(buffer);
                return FuzzOutcome.Completed;
            }
        );
        var limits = new ExecutionLimits(1000, 8L << 20);
        Assert.Null(RunOnce(target, [4], limits).Finding);
        ExecutionResult r = RunOnce(target, [40], limits);
        Assert.Equal(FuzzOracle.Resource, r.Finding?.Oracle);
        Assert.True(r.AllocatedBytes >= 40L << 20);
    }

    [Fact]
    public void CheckerReport_FirstWins_AndOracleNameIsSanitised()
    {
        var target = new ScriptedTarget(
            (_, ctx) =>
            {
                ctx.Check(false, "Used Ring!", "used-ring/len", "len exceeds writable bytes");
                ctx.Report("other", "x", "ignored");
                return FuzzOutcome.Completed;
            }
        );
        ExecutionResult r = RunOnce(target, []);
        Assert.Equal("used-ring", r.Finding?.Oracle);
        Assert.Equal("used-ring/len", r.Finding?.Site);
    }

    [Fact]
    public void Executor_ReusesItsContext_NoFindingLeaksIntoTheNextExecution()
    {
        var target = new ScriptedTarget(
            (d, ctx) =>
            {
                if (d.Length > 0)
                    ctx.Report("x", "y", "z");
                ctx.Step(10);
                return FuzzOutcome.Completed;
            }
        );
        var executor = new FuzzExecutor(target, new NullCoverage("test"), ExecutionLimits.Default);
        Assert.NotNull(executor.Execute([1]).Finding);
        ExecutionResult clean = executor.Execute([]);
        Assert.Null(clean.Finding);
        Assert.Equal(10, clean.Steps);
    }

    [Fact]
    public void Sanitize_KeepsDirectoryNamesSafe()
    {
        Assert.Equal("used-ring", FuzzOracle.Sanitize("Used Ring"));
        Assert.Equal("a-b", FuzzOracle.Sanitize("a/../b"));
        Assert.Equal("oracle", FuzzOracle.Sanitize("../"));
        Assert.True(FuzzOracle.Sanitize(new string('x', 500)).Length <= 40);
    }
}

internal static class Thrower
{
    public static FuzzOutcome Fail(byte[] data)
    {
        var list = new List<int>();
        return list[data[0]] == 0 ? FuzzOutcome.Completed : FuzzOutcome.Rejected;
    }
}

internal static class Looper
{
    public static FuzzOutcome Forever(FuzzContext context)
    {
        while (true)
            context.Step();
    }
}

public sealed class InvariantViolationException(string message) : Exception(message);
