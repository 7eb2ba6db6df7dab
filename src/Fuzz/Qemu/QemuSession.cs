namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The one QEMU process a real-QEMU target kind shares across its instances (<see cref="RealQemuTarget"/>): started on
/// the first input by the device's start function, kept across inputs (the target resets the device between them,
/// issue 15: no restart per input), and stopped only when it died or stopped answering, or by <see cref="Shutdown"/>.
/// <see cref="Gate"/> serialises every instance's use.
/// </summary>
internal sealed class QemuSession
{
    private readonly Func<string, QemuMachine> _start;
    private readonly Action<QemuMachine?>? _stopped;

    /// <param name="start">Starts QEMU from the program path (the device attaches to it in
    /// <see cref="RealQemuTarget.Prepare"/>).</param>
    /// <param name="stopped">Called after QEMU was stopped, with the stopped machine (null when none ran): what the
    /// device owns besides QEMU (net: its link) goes here.</param>
    public QemuSession(Func<string, QemuMachine> start, Action<QemuMachine?>? stopped = null)
    {
        ArgumentNullException.ThrowIfNull(start);
        _start = start;
        _stopped = stopped;
    }

    /// <summary>Held while one input runs (and while QEMU is started or stopped).</summary>
    public object Gate { get; } = new();

    /// <summary>The running QEMU, or null before the first input and after a stop.</summary>
    public QemuMachine? Machine { get; private set; }

    /// <summary>Starts QEMU when none runs (under <see cref="Gate"/>); returns whether it did, so the device knows to
    /// attach and make its first, waited reset.</summary>
    public bool EnsureStarted(string program)
    {
        if (Machine is not null)
            return false;
        Machine = _start(program);
        return true;
    }

    /// <summary>Stops QEMU (under <see cref="Gate"/>): after it died or hung; the next input starts a fresh
    /// one.</summary>
    public void Stop()
    {
        QemuMachine? m = Machine;
        Machine = null;
        m?.Dispose();
        _stopped?.Invoke(m);
    }

    /// <summary>CPU time of the running QEMU so far (zero when none runs).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            lock (Gate)
                return Machine?.CpuTime ?? TimeSpan.Zero;
        }
    }

    /// <summary>Stops QEMU from outside an input (tests; the process exit does it anyway).</summary>
    public void Shutdown()
    {
        lock (Gate)
            Stop();
    }
}
