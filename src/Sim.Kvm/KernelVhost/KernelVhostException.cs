namespace Sim.Kvm.KernelVhost;

/// <summary>A host call of the kernel-vhost backend failed outside the ioctls whose errno is the result
/// (open, eventfd, mmap).</summary>
public sealed class KernelVhostException : Exception
{
    public KernelVhostException(string what, int errno) : base($"{what}: errno {errno} ({Errno.Name(errno)})") => ErrorNumber = errno;

    public KernelVhostException() => ErrorNumber = 0;

    public KernelVhostException(string message) : base(message) => ErrorNumber = 0;

    public KernelVhostException(string message, Exception inner) : base(message, inner) => ErrorNumber = 0;

    public int ErrorNumber { get; }
}
