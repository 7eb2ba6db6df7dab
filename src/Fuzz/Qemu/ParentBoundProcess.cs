using System.Collections.Concurrent;
using System.Diagnostics;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Starts a child (QEMU) that dies with this process even when this process is killed outright. QEMU 7.2 does not exit
/// when its qtest pipe closes and has no <c>-run-with exit-with-parent=on</c> (QEMU 9), so a test host torn down by
/// SIGKILL would leave it running. When util-linux's <c>setpriv</c> is present the child is started as
/// <c>setpriv --pdeathsig KILL -- program …</c>: setpriv sets PR_SET_PDEATHSIG and execs the program in the same
/// process, which keeps the signal (only a set-user-ID exec clears it). Linux sends that signal when the <b>thread</b>
/// that forked the child exits (prctl(2): "the parent is considered to be the thread that created this process"), and
/// .NET retires idle thread-pool threads, so every child is forked from one dedicated thread that lives as long as the
/// process. Without setpriv the child starts directly and only the <see cref="QemuMachine"/> exit handler ends it.
/// </summary>
internal static class ParentBoundProcess
{
    public const string SetprivPath = "/usr/bin/setpriv";

    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Done)> Requests =
    [];

    private static readonly Lazy<Thread> Spawner = new(() =>
    {
        var t = new Thread(Serve) { IsBackground = true, Name = "virtsim child spawner" };
        t.Start();
        return t;
    });

    /// <summary>Whether children are bound to this process (setpriv present on Linux).</summary>
    public static bool Bound => OperatingSystem.IsLinux() && File.Exists(SetprivPath);

    /// <summary>Starts <paramref name="start"/> (through setpriv when <see cref="Bound"/>) from the spawner thread;
    /// the returned process's id is the program's (setpriv execs it).</summary>
    public static Process Start(ProcessStartInfo start)
    {
        ArgumentNullException.ThrowIfNull(start);
        ProcessStartInfo actual = Bound ? ThroughSetpriv(start) : start;
        var done = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = Spawner.Value;
        Requests.Add((actual, done));
        return done.Task.GetAwaiter().GetResult();
    }

    /// <summary>The same start with <c>setpriv --pdeathsig KILL --</c> in front of the program.</summary>
    public static ProcessStartInfo ThroughSetpriv(ProcessStartInfo start)
    {
        ArgumentNullException.ThrowIfNull(start);
        var wrapped = new ProcessStartInfo(SetprivPath)
        {
            RedirectStandardInput = start.RedirectStandardInput,
            RedirectStandardOutput = start.RedirectStandardOutput,
            RedirectStandardError = start.RedirectStandardError,
            UseShellExecute = false,
            WorkingDirectory = start.WorkingDirectory,
        };
        wrapped.ArgumentList.Add("--pdeathsig");
        wrapped.ArgumentList.Add("KILL");
        wrapped.ArgumentList.Add("--");
        wrapped.ArgumentList.Add(start.FileName);
        foreach (string a in start.ArgumentList)
            wrapped.ArgumentList.Add(a);
        return wrapped;
    }

    private static void Serve()
    {
        foreach ((ProcessStartInfo start, TaskCompletionSource<Process> done) in Requests.GetConsumingEnumerable())
        {
            try
            {
                Process started = Process.Start(start)
                    ?? throw new InvalidOperationException($"{start.FileName} did not start");
                done.SetResult(started);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                done.SetException(e);
            }
        }
    }
}
