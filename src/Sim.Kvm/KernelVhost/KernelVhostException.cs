namespace Sim.Kvm.KernelVhost;

/// <summary>A host call of the kernel-vhost backend failed outside the ioctls whose errno is the result
/// (open, eventfd, mmap).</summary>
public sealed class KernelVhostException : Exception
{
    /// <summary><paramref name="what"/> failed with <paramref name="errno"/>.</summary>
    public KernelVhostException(string what, int errno)
        : base($"{what}: errno {errno} ({Errno.Name(errno)})") => ErrorNumber = errno;

    /// <summary>An error without details.</summary>
    public KernelVhostException() => ErrorNumber = 0;

    /// <summary>An error with <paramref name="message"/> and no errno.</summary>
    public KernelVhostException(string message)
        : base(message) => ErrorNumber = 0;

    /// <summary>An error with <paramref name="message"/> caused by <paramref name="inner"/>.</summary>
    public KernelVhostException(string message, Exception inner)
        : base(message, inner) => ErrorNumber = 0;

    /// <summary>The errno of the failed call (0 when none).</summary>
    public int ErrorNumber { get; }
}
