using System.Diagnostics;
using System.Reflection;

namespace Virtsim.Fuzz.Campaign;

/// <summary>How the supervisor starts a worker: this same program with <c>fuzz</c> and the worker's arguments
/// (<c>dotnet virtsim.dll fuzz ...</c> when run through the dotnet host). Tests substitute the built CLI.</summary>
public static class WorkerLauncher
{
    /// <summary>The command (file, leading arguments) that runs <c>virtsim</c>, or null when unknown.</summary>
    public static (string File, string[] Leading)? Self()
    {
        string? process = Environment.ProcessPath;
        if (process is null)
            return null;
        string? entry = Assembly.GetEntryAssembly()?.Location;
        bool dotnetHost = Path.GetFileNameWithoutExtension(process) == "dotnet";
        if (!dotnetHost)
            return (process, []);
        if (string.IsNullOrEmpty(entry) || !Path.GetFileName(entry).StartsWith("virtsim", StringComparison.Ordinal))
            return null;
        return (process, [entry]);
    }

    /// <summary>How to start one worker: <paramref name="command"/> followed by <paramref name="fuzzArgs"/>, with
    /// its output redirected for the supervisor.</summary>
    public static ProcessStartInfo StartInfo((string File, string[] Leading) command, IEnumerable<string> fuzzArgs)
    {
        var psi = new ProcessStartInfo(command.File)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        foreach (string a in command.Leading)
            psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("fuzz");
        foreach (string a in fuzzArgs)
            psi.ArgumentList.Add(a);
        // As the CLI itself is built: finding sites must not move under tiered re-JIT (Cli.csproj).
        psi.Environment["DOTNET_TieredCompilation"] = "0";
        return psi;
    }
}
