namespace Sim.Kvm.KernelVhost;

/// <summary>Names of the Linux errno values the vhost ioctls return (asm-generic/errno-base.h, errno.h).</summary>
public static class Errno
{
    /// <summary>The symbolic name of <paramref name="errno"/> ("EINVAL"), or its number.</summary>
    public static string Name(int errno) =>
        errno switch
        {
            0 => "OK",
            1 => "EPERM",
            2 => "ENOENT",
            7 => "E2BIG",
            9 => "EBADF",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            19 => "ENODEV",
            22 => "EINVAL",
            25 => "ENOTTY",
            95 => "EOPNOTSUPP",
            105 => "ENOBUFS",
            _ => "errno " + errno,
        };
}
