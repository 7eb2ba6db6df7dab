using System.Runtime.InteropServices;

namespace Sim.Kvm.KernelVhost;

/// <summary>A real eventfd(2): the kick, call and error notifiers a vhost vring is wired to.</summary>
public sealed class EventFdHandle : IDisposable
{
    private readonly FileDescriptor _fd;

    /// <summary>A new eventfd, non-blocking unless <paramref name="nonBlocking"/> is false.</summary>
    public EventFdHandle(bool nonBlocking = true)
    {
        int fd = LinuxNative.EventFd(0, LinuxNative.EFD_CLOEXEC | (nonBlocking ? LinuxNative.EFD_NONBLOCK : 0));
        if (fd < 0)
            throw new KernelVhostException("eventfd", Marshal.GetLastPInvokeError());
        _fd = FileDescriptor.Own(fd);
    }

    /// <summary>The descriptor number.</summary>
    public int Fd => _fd.Fd;

    /// <summary>Adds 1 to the counter (a guest kick, as KVM's ioeventfd does).</summary>
    public unsafe void Signal()
    {
        ulong one = 1;
        if (LinuxNative.Write(Fd, &one, sizeof(ulong)) != sizeof(ulong))
            throw new KernelVhostException("eventfd write", Marshal.GetLastPInvokeError());
    }

    /// <summary>Reads and clears the counter; 0 when it was not signalled (non-blocking).</summary>
    public unsafe ulong Drain()
    {
        ulong value = 0;
        return LinuxNative.Read(Fd, &value, sizeof(ulong)) == sizeof(ulong) ? value : 0;
    }

    /// <summary>Closes the eventfd.</summary>
    public void Dispose() => _fd.Dispose();
}
