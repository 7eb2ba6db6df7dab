using System.Diagnostics;
using System.Globalization;
using Virtsim.Fuzz.Qemu;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>
/// QEMU 7.2 does not exit when its qtest pipe closes, so a host killed outright (SIGKILL: no exit handler runs) used
/// to leave it orphaned. <see cref="ParentBoundProcess"/> starts it through <c>setpriv --pdeathsig KILL</c>: this
/// runs a real-QEMU campaign in a child process, kills that process with SIGKILL and requires its QEMU to be gone.
/// Skips (and says so) where QEMU or setpriv is missing.
/// </summary>
public sealed class QemuParentDeathTests(ITestOutputHelper output)
{
    [Fact]
    public void HostKilledWithSigkill_TakesItsQemuWithIt()
    {
        if (VirtioRngQemuTarget.Available is { } why || !ParentBoundProcess.Bound)
        {
            string reason = VirtioRngQemuTarget.Available ?? ParentBoundProcess.SetprivPath + " not found";
            output.WriteLine("SKIPPED: " + reason);
            return;
        }
        using TempDir dir = CliRunner.TempDir();
        string dll = Path.Combine(AppContext.BaseDirectory, "virtsim.dll");
        string[] args =
        [
            dll,
            "fuzz",
            "run",
            "--target",
            VirtioRngQemuTarget.TargetName,
            "--no-coverage",
            "--seed",
            "1",
            "--time",
            "300s",
            "--findings",
            dir.File("f"),
        ];
        var start = new ProcessStartInfo("dotnet", args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir.Path,
        };
        using Process host = Process.Start(start)!;
        using var started = new ManualResetEventSlim();
        host.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && e.Data.StartsWith('#'))
                started.Set();
        };
        host.ErrorDataReceived += (_, _) => { };
        host.BeginOutputReadLine();
        host.BeginErrorReadLine();
        int qemu = 0;
        try
        {
            Assert.True(started.Wait(TimeSpan.FromSeconds(120)), "no status line within 120 s");
            qemu = QemuChild(host.Id);
            Assert.True(qemu > 0, "the campaign runs no qemu-system-x86_64 child");
            output.WriteLine($"host {host.Id}, its QEMU {qemu}; SIGKILL to the host");
            host.Kill();
            Assert.True(host.WaitForExit(TimeSpan.FromSeconds(30)));
            Stopwatch waited = Stopwatch.StartNew();
            while (Alive(qemu) && waited.Elapsed < TimeSpan.FromSeconds(10))
                Thread.Sleep(50);
            Assert.False(Alive(qemu), $"QEMU {qemu} outlived its killed host by 10 s");
            output.WriteLine($"QEMU gone {waited.ElapsedMilliseconds} ms after the host's exit");
        }
        finally
        {
            if (!host.HasExited)
                host.Kill();
            if (qemu > 0 && Alive(qemu))
                Process.GetProcessById(qemu).Kill();
        }
    }

    /// <summary>The pid of <paramref name="parent"/>'s qemu-system-x86_64 child (its /proc children lists), or
    /// 0.</summary>
    private static int QemuChild(int parent)
    {
        foreach (string task in Directory.GetDirectories($"/proc/{parent}/task"))
        {
            string list = Path.Combine(task, "children");
            string children = File.Exists(list) ? File.ReadAllText(list) : "";
            foreach (string pid in children.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string comm = File.Exists($"/proc/{pid}/comm") ? File.ReadAllText($"/proc/{pid}/comm").Trim() : "";
                if (comm.StartsWith("qemu-system", StringComparison.Ordinal))
                {
                    return int.Parse(pid, CultureInfo.InvariantCulture);
                }
            }
        }
        return 0;
    }

    /// <summary>Running (a zombie waiting to be reaped counts as gone: it has exited).</summary>
    private static bool Alive(int pid)
    {
        string stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat))
            return false;
        string text;
        try
        {
            text = File.ReadAllText(stat);
        }
        catch (IOException)
        {
            return false;
        }
        int close = text.LastIndexOf(')');
        return close < 0 || close + 2 >= text.Length || text[close + 2] != 'Z';
    }
}
