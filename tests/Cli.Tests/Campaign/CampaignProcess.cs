using System.Diagnostics;
using System.Text;

namespace Virtsim.Cli.Tests.Campaign;

/// <summary>Runs the built <c>virtsim</c> (beside the tests) as a separate process, as a user's shell would, with
/// its output collected.</summary>
internal sealed class CampaignProcess : IDisposable
{
    private readonly StringBuilder _output = new();

    public CampaignProcess(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "virtsim.dll"));
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_TieredCompilation"] = "0";
        Process = new Process { StartInfo = psi };
        Process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                lock (_output)
                    _output.AppendLine(e.Data);
        };
        Process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                lock (_output)
                    _output.AppendLine(e.Data);
        };
        Process.Start();
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>Waits for exit; false when it did not end in time (then it is killed).</summary>
    public bool WaitForExit(TimeSpan limit)
    {
        if (Process.WaitForExit(limit))
        {
            Process.WaitForExit(); // drains the output
            return true;
        }
        Process.Kill(entireProcessTree: true);
        return false;
    }

    public static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(
            new ProcessStartInfo("kill")
            {
                ArgumentList = { "-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                UseShellExecute = false,
            }
        )!;
        kill.WaitForExit();
    }

    /// <summary>Polls <paramref name="condition"/> every 200 ms up to <paramref name="limit"/>.</summary>
    public static bool WaitUntil(Func<bool> condition, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            if (condition())
                return true;
            Thread.Sleep(200);
        }
        return condition();
    }

    public void Dispose()
    {
        if (!Process.HasExited)
            Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }
}
