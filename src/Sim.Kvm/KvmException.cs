namespace Sim.Kvm;

/// <summary>A KVM or libc call failed: names the call and errno. The recorder turns it into a plain message
/// (a host problem, not a virtsim bug).</summary>
public sealed class KvmException : Exception
{
    public KvmException(string call, int errno)
        : base($"{call} failed: errno {errno} ({ErrnoName(errno)})")
    {
        Call = call;
        Errno = errno;
    }

    public KvmException(string message)
        : base(message)
    {
        Call = "";
    }

    public KvmException()
        : base("KVM call failed")
    {
        Call = "";
    }

    public KvmException(string message, Exception inner)
        : base(message, inner)
    {
        Call = "";
    }

    public string Call { get; }

    public int Errno { get; }

    private static string ErrnoName(int errno) => errno switch
    {
        1 => "EPERM", 2 => "ENOENT", 4 => "EINTR", 9 => "EBADF", 11 => "EAGAIN", 12 => "ENOMEM",
        13 => "EACCES", 14 => "EFAULT", 16 => "EBUSY", 17 => "EEXIST", 19 => "ENODEV", 22 => "EINVAL",
        24 => "EMFILE", 25 => "ENOTTY", 28 => "ENOSPC", 95 => "EOPNOTSUPP",
        _ => "errno " + errno,
    };
}
