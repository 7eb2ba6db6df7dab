namespace Virtsim.Fuzz.Qemu;

/// <summary>QEMU stopped answering (qtest or QMP) within the bound: the hang oracle. Thrown by the clients and caught
/// by <see cref="VirtioBlkQemuTarget"/>, which reports it as a finding and restarts QEMU.</summary>
internal sealed class QemuHangException : Exception
{
    public QemuHangException(string message)
        : base(message) { }

    public QemuHangException() { }

    public QemuHangException(string message, Exception inner)
        : base(message, inner) { }
}
