using System.Reflection;

namespace Virtsim.Cli;

/// <summary>The version and git commit this build came from (the SDK stamps the commit into the
/// informational version as "1.0.0+&lt;sha&gt;").</summary>
public static class BuildInfo
{
    private static readonly string Informational = typeof(BuildInfo)
        .Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()
        ?.InformationalVersion
        ?? "0.0.0";

    public static string Version => Informational.Split('+')[0];

    public static string Commit =>
        Informational.Contains('+', StringComparison.Ordinal) ? Informational.Split('+')[1] : "unknown";
}
