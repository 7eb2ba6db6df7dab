using Sim.Kvm.Native;

namespace Sim.Kvm.Tests;

/// <summary>The host side's real descriptors (no KVM needed): eventfd counting, epoll wake-ups with their tokens,
/// and the timerfd deadline.</summary>
public class HostFdTests
{
    [Fact]
    public void EventFd_CoalescesSignalsIntoOneRead()
    {
        using var fd = new HostEventFd();
        Assert.Equal(0UL, fd.Drain());
        fd.Signal();
        fd.Signal(2);
        Assert.Equal(3UL, fd.Drain());
        Assert.Equal(0UL, fd.Drain());
    }

    [Fact]
    public void Poller_ReportsTheSignalledFdsToken()
    {
        using var poller = new HostPoller();
        using var a = new HostEventFd();
        using var b = new HostEventFd();
        poller.Add(a, 7);
        poller.Add(b, 9);
        Span<ulong> tokens = stackalloc ulong[HostPoller.EventsPerWaitMax];
        Assert.Equal(0, poller.Wait(tokens, 0));
        b.Signal();
        int n = poller.Wait(tokens, 1000);
        Assert.Equal(1, n);
        Assert.Equal(9UL, tokens[0]);
        Assert.Equal(1UL, b.Drain());
        poller.Remove(a);
        a.Signal();
        Assert.Equal(0, poller.Wait(tokens, 0));
    }

    [Fact]
    public void Poller_TimerFiresAtItsAbsoluteDeadline()
    {
        using var poller = new HostPoller();
        Span<ulong> tokens = stackalloc ulong[HostPoller.EventsPerWaitMax];
        long deadline = LibC.MonotonicNs() + 2_000_000;
        poller.SetDeadline(deadline);
        int n = poller.Wait(tokens, 5000);
        Assert.Equal(1, n);
        Assert.Equal(HostPoller.TimerToken, tokens[0]);
        Assert.True(LibC.MonotonicNs() >= deadline);
        poller.SetDeadline(null);
        Assert.Equal(0, poller.Wait(tokens, 0));
    }

    [Fact]
    public void KvmSystem_MissingDevice_SaysWhy()
    {
        Assert.False(KvmSystem.TryOpen(out KvmSystem? kvm, out string reason, "/nonexistent/kvm"));
        Assert.Null(kvm);
        Assert.Contains("not present", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KvmSystem_NotAKvmDevice_SaysWhy()
    {
        // /dev/null opens but answers KVM_GET_API_VERSION with ENOTTY (-1).
        Assert.False(KvmSystem.TryOpen(out KvmSystem? kvm, out string reason, "/dev/null"));
        Assert.Null(kvm);
        Assert.Contains("KVM_GET_API_VERSION returned -1", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void GuestRam_SlicesAreBoundsChecked()
    {
        using var ram = new GuestRam(1 << 16);
        ram.Slice(0x1000, 4).Fill(0xAB);
        Assert.Equal(0xAB, ram.Slice(0x1003, 1)[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => ram.Slice((1 << 16) - 2, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => ram.Slice(ulong.MaxValue, 1));
    }
}
