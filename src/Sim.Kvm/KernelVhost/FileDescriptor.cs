using System.Runtime.InteropServices;

namespace Sim.Kvm.KernelVhost;

/// <summary>An owned Linux file descriptor, closed with close(2).</summary>
public sealed class FileDescriptor : SafeHandle
{
    /// <summary>An invalid handle (-1) that owns what it will be given.</summary>
    public FileDescriptor()
        : base(-1, ownsHandle: true) { }

    /// <inheritdoc/>
    public override bool IsInvalid => handle < 0;

    /// <summary>The descriptor number while open (valid until <see cref="SafeHandle.Dispose()"/>).</summary>
    public int Fd => IsClosed ? -1 : (int)handle;

    internal static FileDescriptor Own(int fd)
    {
        var d = new FileDescriptor();
        d.SetHandle(fd);
        return d;
    }

    /// <summary>open(2) with O_RDWR | O_CLOEXEC; throws <see cref="KernelVhostException"/> with the errno.</summary>
    public static FileDescriptor OpenReadWrite(string path)
    {
        int fd = LinuxNative.Open(path, LinuxNative.O_RDWR | LinuxNative.O_CLOEXEC);
        if (fd < 0)
            throw new KernelVhostException($"open {path}", Marshal.GetLastPInvokeError());
        return Own(fd);
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => LinuxNative.Close((int)handle) == 0;
}
