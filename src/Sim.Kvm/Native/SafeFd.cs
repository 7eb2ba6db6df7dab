using System.Runtime.InteropServices;
using Sim.Engine;

namespace Sim.Kvm.Native;

/// <summary>A file descriptor owned by the VMM (/dev/kvm, a VM, a vCPU, an eventfd, epoll, timerfd), closed
/// once when disposed or finalised.</summary>
internal sealed class SafeFd : SafeHandle
{
    public SafeFd(int fd)
        : base(new nint(-1), ownsHandle: true) => SetHandle(new nint(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The raw descriptor, for the syscalls (valid while this handle is alive).</summary>
    public int Fd => Narrow.LowInt32(handle.ToInt64());

    protected override bool ReleaseHandle() => LibC.Close(Fd) == 0;

    /// <summary>Wraps a syscall's returned descriptor; throws <see cref="KvmException"/> for -1.</summary>
    public static SafeFd Check(int fd, string what) =>
        fd < 0 ? throw new KvmException(what, Marshal.GetLastPInvokeError()) : new SafeFd(fd);
}
