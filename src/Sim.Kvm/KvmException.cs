namespace Sim.Kvm;

/// <summary>A KVM or libc call failed: names the call and errno. The recorder turns it into a plain message
/// (a host problem, not a virtsim bug).</summary>
public sealed class KvmException : Exception
{
    /// <summary><paramref name="call"/> failed with <paramref name="errno"/>.</summary>
    public KvmException(string call, int errno)
        : base($"{call} failed: errno {errno} ({ErrnoName(errno)})")
    {
        Call = call;
        Errno = errno;
    }

    /// <summary>An error with <paramref name="message"/> and no errno.</summary>
    public KvmException(string message)
        : base(message)
    {
        Call = "";
    }

    /// <summary>An error without details.</summary>
    public KvmException()
        : base("KVM call failed")
    {
        Call = "";
    }

    /// <summary>An error with <paramref name="message"/> caused by <paramref name="inner"/>.</summary>
    public KvmException(string message, Exception inner)
        : base(message, inner)
    {
        Call = "";
    }

    /// <summary>The ioctl or call that failed.</summary>
    public string Call { get; }

    /// <summary>Its errno.</summary>
    public int Errno { get; }

    private static string ErrnoName(int errno) =>
        errno switch
        {
            1 => "EPERM",
            2 => "ENOENT",
            4 => "EINTR",
            9 => "EBADF",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            19 => "ENODEV",
            22 => "EINVAL",
            24 => "EMFILE",
            25 => "ENOTTY",
            28 => "ENOSPC",
            95 => "EOPNOTSUPP",
            _ => "errno " + errno,
        };
}
