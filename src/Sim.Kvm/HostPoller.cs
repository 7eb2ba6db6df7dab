using System.Runtime.InteropServices;
using Sim.Kvm.Native;

namespace Sim.Kvm;

/// <summary>The host thread's wait: an epoll set of eventfds (ioeventfd kicks, a stop request) plus one
/// timerfd armed at an absolute CLOCK_MONOTONIC deadline (the machine's next scheduled event).</summary>
public sealed unsafe class HostPoller : IDisposable
{
    /// <summary>epoll data of the timerfd.</summary>
    public const ulong TimerToken = ulong.MaxValue;

    /// <summary>Most events one wait returns.</summary>
    public const int EventsPerWaitMax = 32;

    private readonly SafeFd _epoll = SafeFd.Check(LibC.EpollCreate1(LibC.EPOLL_CLOEXEC), "epoll_create1");
    private readonly SafeFd _timer = SafeFd.Check(
        LibC.TimerFdCreate(LibC.CLOCK_MONOTONIC, LibC.TFD_NONBLOCK | LibC.TFD_CLOEXEC),
        "timerfd_create"
    );

    /// <summary>An epoll set holding the recorder's timerfd.</summary>
    public HostPoller() => Add(_timer.Fd, TimerToken);

    /// <summary>Watches <paramref name="fd"/> for readability; <paramref name="token"/> comes back from
    /// <see cref="Wait"/>.</summary>
    public void Add(HostEventFd fd, ulong token) => Add(fd.Fd, token);

    /// <summary>Stops watching <paramref name="fd"/>.</summary>
    public void Remove(HostEventFd fd)
    {
        if (LibC.EpollCtl(_epoll.Fd, LibC.EPOLL_CTL_DEL, fd.Fd, null) != 0)
            throw new KvmException("epoll_ctl DEL", Marshal.GetLastPInvokeError());
    }

    private void Add(int fd, ulong token)
    {
        var ev = new EpollEvent { Events = LibC.EPOLLIN, Data = token };
        if (LibC.EpollCtl(_epoll.Fd, LibC.EPOLL_CTL_ADD, fd, &ev) != 0)
            throw new KvmException("epoll_ctl ADD", Marshal.GetLastPInvokeError());
    }

    /// <summary>Arms the timer at absolute monotonic <paramref name="deadlineNs"/>, or disarms it (null).</summary>
    public void SetDeadline(long? deadlineNs)
    {
        ITimerSpec spec = default;
        if (deadlineNs is long d)
        {
            long at = Math.Max(d, 1);
            spec.Value.Seconds = at / 1_000_000_000;
            spec.Value.Nanoseconds = at % 1_000_000_000;
        }
        if (LibC.TimerFdSetTime(_timer.Fd, LibC.TFD_TIMER_ABSTIME, &spec, null) != 0)
            throw new KvmException("timerfd_settime", Marshal.GetLastPInvokeError());
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> (-1: forever) and returns the ready tokens (the timer's
    /// expiry count is consumed). An interrupted wait returns none.</summary>
    public int Wait(Span<ulong> tokens, int timeoutMs)
    {
        EpollEvent* events = stackalloc EpollEvent[EventsPerWaitMax];
        int n = LibC.EpollWait(_epoll.Fd, events, Math.Min(EventsPerWaitMax, tokens.Length), timeoutMs);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EINTR)
                return 0;
            throw new KvmException("epoll_wait", errno);
        }
        for (int i = 0; i < n; i++)
        {
            tokens[i] = events[i].Data;
            if (events[i].Data == TimerToken)
            {
                ulong expirations;
                LibC.Read(_timer.Fd, &expirations, 8);
            }
        }
        return n;
    }

    /// <summary>Closes the epoll and timer descriptors.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        _epoll.Dispose();
    }
}
