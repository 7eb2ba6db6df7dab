using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// One running QEMU that our side owns (<see cref="QemuCommandLine"/>): its scratch directory (firmware, disk image,
/// QMP socket; under /dev/shm when there is one), the process, its qtest pipes, its QMP socket and the tail of its
/// stderr. Started once and reused across inputs; <see cref="Dispose"/> kills it and removes the directory. QEMU does
/// not exit when its qtest pipe closes: every machine still running when the host process exits is killed, and a host
/// killed outright takes QEMU with it (<see cref="ParentBoundProcess"/>: setpriv's parent-death signal).
/// </summary>
internal sealed class QemuMachine : IDisposable
{
    /// <summary>Bytes of stderr kept (the tail: a crash's message is at the end).</summary>
    public const int StderrKeptMax = 16 * 1024;

    private static readonly List<QemuMachine> Running = [];
    private static int _instances;
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly string _directory;
    private bool _disposed;

    static QemuMachine() => AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();

    private QemuMachine(
        string program,
        string directory,
        byte[] disk,
        Func<string, string, string, IReadOnlyList<string>> arguments,
        TimeSpan timeout
    )
    {
        _directory = directory;
        Program = program;
        BiosPath = Path.Combine(directory, "bios.bin");
        DiskPath = Path.Combine(directory, "disk.img");
        string qmp = Path.Combine(directory, "qmp.sock");
        File.WriteAllBytes(BiosPath, HaltingBios.Image());
        File.WriteAllBytes(DiskPath, disk);
        Arguments = arguments(BiosPath, DiskPath, qmp);
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in Arguments)
            start.ArgumentList.Add(a);
        _process = ParentBoundProcess.Start(start);
        lock (Running)
            Running.Add(this);
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (_stderr)
            {
                _stderr.Append(e.Data).Append('\n');
                if (_stderr.Length > StderrKeptMax)
                    _stderr.Remove(0, _stderr.Length - StderrKeptMax);
            }
        };
        _process.BeginErrorReadLine();
        Qtest = new QtestClient(_process.StandardInput.BaseStream, _process.StandardOutput.BaseStream, timeout, Kill);
        try
        {
            Qmp = QmpClient.Connect(qmp, timeout, () => !_process.HasExited);
        }
        catch (Exception e) when (e is QemuDiedException or QemuHangException)
        {
            string why = $"{e.Message}; {ExitDescription}; stderr:\n{StderrAfterExit()}";
            Dispose();
            throw new QemuDiedException(why, e);
        }
    }

    /// <summary>Starts a machine whose disk holds <paramref name="disk"/>.</summary>
    public static QemuMachine Start(string program, string serial, byte[] disk, TimeSpan timeout) =>
        Start(program, disk, (bios, diskPath, qmp) => QemuCommandLine.Arguments(bios, diskPath, qmp, serial), timeout);

    /// <summary>Starts a machine with the virtio-rng-pci device (<see cref="QemuCommandLine.RngArguments"/>; no
    /// disk).</summary>
    public static QemuMachine StartRng(string program, TimeSpan timeout) =>
        Start(program, [], (bios, _, qmp) => QemuCommandLine.RngArguments(bios, qmp), timeout);

    /// <summary>Starts a machine with the virtio-net-pci device on the netdev <paramref name="netdev"/>
    /// (<see cref="QemuCommandLine.NetArguments"/>; no disk).</summary>
    public static QemuMachine StartNet(string program, string netdev, TimeSpan timeout) =>
        Start(program, [], (bios, _, qmp) => QemuCommandLine.NetArguments(bios, qmp, netdev), timeout);

    /// <summary>Starts a machine whose command line <paramref name="arguments"/> builds from the firmware, disk image
    /// and QMP socket paths of its scratch directory.</summary>
    public static QemuMachine Start(
        string program,
        byte[] disk,
        Func<string, string, string, IReadOnlyList<string>> arguments,
        TimeSpan timeout
    )
    {
        string root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        int n = Interlocked.Increment(ref _instances);
        string directory = Path.Combine(
            root,
            string.Create(CultureInfo.InvariantCulture, $"virtsim-qemu-{Environment.ProcessId}-{n}")
        );
        Directory.CreateDirectory(directory);
        return new QemuMachine(program, directory, disk, arguments, timeout);
    }

    public string Program { get; }

    public IReadOnlyList<string> Arguments { get; }

    public string BiosPath { get; }

    public string DiskPath { get; }

    public QtestClient Qtest { get; }

    public QmpClient Qmp { get; } = null!;

    public bool HasExited => _process.HasExited;

    /// <summary>CPU time QEMU has used so far (user + system), for the exec/s report.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>The exit code or signal, when it exited.</summary>
    public string ExitDescription =>
        !_process.HasExited ? "running"
        : _process.ExitCode > 128 ? $"killed by signal {_process.ExitCode - 128}"
        : $"exit code {_process.ExitCode}";

    /// <summary>The tail of QEMU's stderr so far (while it runs: what the pipe has delivered).</summary>
    public string Stderr
    {
        get
        {
            lock (_stderr)
                return _stderr.ToString();
        }
    }

    /// <summary>The tail of QEMU's stderr once it died: waits (bounded) for the exit, then for the stderr pipe to
    /// reach its end, so an assertion's message is not lost to the race between the closed qtest pipe and the
    /// asynchronous stderr reader.</summary>
    public string StderrAfterExit()
    {
        if (_process.WaitForExit(DeathWaitMax))
            _process.WaitForExit(); // the parameterless wait drains the async readers
        return Stderr;
    }

    /// <summary>QEMU's last non-empty stderr line (a broken device's virtio_error message). That line comes through
    /// the stderr pipe, read asynchronously, so it can trail the qtest answer that showed the break: when none has
    /// arrived yet, waits for one up to <paramref name="waitMax"/> (zero: no wait).</summary>
    public string? LastStderrLine(TimeSpan waitMax = default)
    {
        long deadline = Environment.TickCount64 + (long)waitMax.TotalMilliseconds;
        string? line = LastLine(Stderr);
        while (line is null && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(1);
            line = LastLine(Stderr);
        }
        return line;
    }

    private static string? LastLine(string text)
    {
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 0 ? null : lines[^1];
    }

    /// <summary>How long <see cref="StderrAfterExit"/> waits for a dying QEMU to exit.</summary>
    public static readonly TimeSpan DeathWaitMax = TimeSpan.FromSeconds(2);

    /// <summary>Forgets the stderr seen so far (per input, so a finding keeps only its own).</summary>
    public void ClearStderr()
    {
        lock (_stderr)
            _stderr.Clear();
    }

    /// <summary>Overwrites the disk image (between inputs; no request is in flight then).</summary>
    public void WriteDisk(ReadOnlySpan<byte> image)
    {
        using Microsoft.Win32.SafeHandles.SafeFileHandle h = File.OpenHandle(DiskPath, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(h, image, 0);
    }

    public void ReadDisk(Span<byte> image)
    {
        using Microsoft.Win32.SafeHandles.SafeFileHandle h = File.OpenHandle(DiskPath, FileMode.Open, FileAccess.Read);
        RandomAccess.Read(h, image, 0);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        lock (Running)
            Running.Remove(this);
        try
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit(2000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        Qtest.Dispose();
        Qmp?.Dispose();
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A scratch directory left in /dev/shm is harmless.
        }
    }

    /// <summary>Ends QEMU (the qtest watchdog's stop action: a read blocked on its pipe then returns).</summary>
    private void Kill()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static void KillAll()
    {
        QemuMachine[] all;
        lock (Running)
            all = [.. Running];
        foreach (QemuMachine m in all)
            m.Dispose();
    }
}
