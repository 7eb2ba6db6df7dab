using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fuzz.Tests.Glue;

/// <summary>
/// Reserves the AFL++ fork server's fixed fds (198 control, 199 status) for this test process as soon as the test
/// assembly loads, while the process has few fds open: each is a close-on-exec duplicate of /dev/null that no object
/// owns. Without it, a test host holding about 200 fds hands those numbers to some other test's file or pipe; the
/// fork-server tests must then dup2 over that owner's fd, and the owner's later close() closes the test's pipe (a CI
/// run read EOF on the status pipe that way). With the reservation the tests replace and restore only placeholders.
/// </summary>
internal static class ForkServerFdReservation
{
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(string path, int flags);

    [DllImport("libc", EntryPoint = "dup3", SetLastError = true)]
    private static extern int Dup3(int from, int to, int flags);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int command, int argument);

    private const int OpenReadWrite = 2;
    private const int OpenCloexec = 0x80000;
    private const int FcntlGetFd = 1;

    [ModuleInitializer]
    internal static void Reserve()
    {
        if (!OperatingSystem.IsLinux())
            return;
        int devNull = Open("/dev/null", OpenReadWrite | OpenCloexec);
        if (devNull < 0)
            return;
        foreach (int fd in new[] { 198, 199 })
        {
            // Only a free number is taken: an fd already open belongs to someone (the runner) and stays theirs.
            if (Fcntl(fd, FcntlGetFd, 0) < 0)
                _ = Dup3(devNull, fd, OpenCloexec);
        }
        _ = Close(devNull);
    }
}
