namespace Virtsim.Fuzz.Qemu;

/// <summary>QEMU exited or closed its pipes: the crash oracle (an abort, a failed assertion, a signal or an
/// <c>exit(1)</c>). Caught by <see cref="VirtioBlkQemuTarget"/>, which reports it with QEMU's stderr and restarts
/// QEMU.</summary>
internal sealed class QemuDiedException : Exception
{
    public QemuDiedException(string message)
        : base(message) { }

    public QemuDiedException() { }

    public QemuDiedException(string message, Exception inner)
        : base(message, inner) { }
}
