using System.Runtime.InteropServices;
using Sim.Kvm.Native;

namespace Sim.Kvm;

/// <summary>A real, non-blocking eventfd(2): what KVM_IOEVENTFD signals and KVM_IRQFD consumes.</summary>
public sealed unsafe class HostEventFd : IDisposable
{
    private readonly SafeFd _fd = SafeFd.Check(LibC.EventFd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC), "eventfd");

    internal int Fd => _fd.Fd;

    /// <summary>write(2): adds <paramref name="amount"/> to the counter.</summary>
    public void Signal(ulong amount = 1)
    {
        if (LibC.Write(_fd.Fd, &amount, 8) != 8)
            throw new KvmException("eventfd write", Marshal.GetLastPInvokeError());
    }

    /// <summary>read(2): the counter (then zero), or 0 when nothing was signalled (EAGAIN).</summary>
    public ulong Drain()
    {
        ulong value = 0;
        nint n = LibC.Read(_fd.Fd, &value, 8);
        if (n == 8)
            return value;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == LibC.EAGAIN)
            return 0;
        throw new KvmException("eventfd read", errno);
    }

    /// <summary>Closes the eventfd.</summary>
    public void Dispose() => _fd.Dispose();
}
