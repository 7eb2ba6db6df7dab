using System.Diagnostics;
using System.Text;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Classifies an exception into (oracle, site). The site is the exception type plus the first stack frame
/// outside the BCL and outside the engine's own hang helper — the project code that threw, independent of
/// IL offsets, so instrumented and plain builds agree. (JIT inlining can fold a small thrower into its
/// caller; run fuzz campaigns with tiered compilation off so inlining is the same from the first execution.)
/// </summary>
internal static class FindingSite
{
    public static FindingReport FromException(Exception exception)
    {
        string oracle =
            exception is FuzzHangException ? FuzzOracle.Hang
            : IsAssertion(exception.GetType()) ? FuzzOracle.Assert
            : FuzzOracle.Exception;
        string site =
            exception is FuzzHangException
                ? "step-budget@" + TopFrame(exception)
                : exception.GetType().Name + "@" + TopFrame(exception);
        return new FindingReport(oracle, site, exception.Message, exception.ToString());
    }

    /// <summary>Assertion failures are exceptions whose type name says so (Sim.* always-on asserts, xunit's,
    /// NUnit's), or an invariant violation.</summary>
    public static bool IsAssertion(Type type)
    {
        string name = type.Name;
        return name.Contains("Assert", StringComparison.Ordinal)
            || name.Contains("Invariant", StringComparison.Ordinal);
    }

    /// <summary>"Namespace.Type.Method" of the first non-BCL, non-engine frame, or "unknown".</summary>
    public static string TopFrame(Exception exception)
    {
        var trace = new StackTrace(exception, false);
        for (int i = 0; i < trace.FrameCount; i++)
        {
            System.Reflection.MethodBase? method = trace.GetFrame(i)?.GetMethod();
            Type? type = method?.DeclaringType;
            if (method is null || type is null)
                continue;
            string? ns = type.Namespace;
            if (
                ns is not null
                && (
                    ns == "System"
                    || ns.StartsWith("System.", StringComparison.Ordinal)
                    || ns.StartsWith("Microsoft.", StringComparison.Ordinal)
                )
            )
                continue;
            if (type == typeof(FuzzContext))
                continue;
            Type named = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
            return (named.FullName ?? named.Name) + "." + method.Name;
        }
        return "unknown";
    }

    /// <summary>16 lower-case hex digits of a process-independent hash of <paramref name="site"/>.</summary>
    public static string Hash(string site) => StableHash64.Of(Encoding.UTF8.GetBytes(site)).ToString("x16");
}
